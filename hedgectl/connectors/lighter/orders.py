"""The Lighter connector's orders: planning, signing, the order's task, confirmation from the venue, cancels.

Market orders carry a worst-price bound in integer ticks: the best ask (buy) or bid (sell) of a recent book moved
by ``max_slippage`` and rounded towards the touch. The book is the one ``prepare`` or ``top_of_book`` read last;
only when it is older than ``book_max_age_secs`` is it read again on the order path. Keep ``max_slippage`` modest:
the venue refuses a market sell whose bound is far below mark (21733, mapped to InvalidOrder).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedgectl.connectors.base import OrderReport
from hedgectl.connectors.confirmation import Watch, schedule
from hedgectl.connectors.lighter.reads import TRADES_PAGE, LighterMarket
from hedgectl.connectors.lighter.wire import (
    MARGIN_MODES,
    MAX_BASE_AMOUNT,
    MAX_CLIENT_ORDER_INDEX,
    MAX_PRICE_UNITS,
    NIL_MARKET_INDEX,
    ORDER_EXPIRY_DEFAULT,
    ORDER_EXPIRY_IOC,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    REFUSAL_STATUSES,
    TIF_GOOD_TILL_TIME,
    TIF_IMMEDIATE_OR_CANCEL,
    TIF_POST_ONLY,
    VENUE,
    decimal_field,
    list_field,
    to_units,
    tx_failure_reason,
    tx_outcome,
)
from hedgectl.connectors.marks import Baseline
from hedgectl.decimals import ZERO, plain
from hedgectl.errors import (
    AmbiguousOutcome,
    BelowMinimumSize,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    VenueError,
    VenueTimeout,
    VenueUnavailable,
)
from hedgectl.model.orders import (
    OrderEvent,
    OrderIntent,
    OrderSnapshot,
    OrderState,
    OrderTracker,
    OrderType,
    Side,
    TrackingLimitOrder,
    TrackingMarketOrder,
    Transition,
    TransitionListener,
)

if TYPE_CHECKING:
    from hedgectl.connectors.lighter.signer import SignedTx

logger = logging.getLogger(__name__)


#: Delays between reads that confirm a market order; the first read goes out as soon as sendTx answers.
CONFIRM_DELAYS = (0.0, 0.02, 0.03, 0.05, 0.1, 0.1, 0.2, 0.2, 0.3, 0.5)
#: The longest the first confirming read waits for the venue's predicted execution time.
FIRST_CONFIRM_MAX_DELAY = 0.2
LIMIT_POLL_SECS = 0.5
#: How long a transaction signed ahead by ``presign`` may be sent instead of signing afresh.
PRESIGNED_MAX_AGE_SECS = 60.0


@dataclass
class _OrderPlan:
    """Everything an order needs on the wire, computed before the nonce lock is taken."""

    intent: OrderIntent
    market: LighterMarket
    base_amount: int
    price: int
    order_type: int
    time_in_force: int
    order_expiry: int
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[SignedTx] = field(default_factory=list)
    venue_tx_hash: str | None = None
    accepted_tx_hash: str | None = None  # the transaction sendTx accepted; its status is asked while confirming
    tx_executed: bool = False  # the venue reported that transaction executed: asking again tells nothing more
    predicted_execution_ms: int | None = None
    presigned: SignedTx | None = None  # signed ahead by ``presign``; used only with the nonce it carries
    first_sent_at: float | None = None  # epoch seconds, when the first transaction was signed to be sent
    signed_ahead: bool = False  # the last transaction sent was the one signed ahead
    baseline: Baseline | None = None  # the market's position mark taken for the send
    watch: Watch | None = None  # the order as the confirmation core follows it
    #: submit_order has read the send's verdict: a report pushed meanwhile may apply only after that
    handed_over: asyncio.Event = field(default_factory=asyncio.Event)

    def wire_fields(self) -> tuple:
        """What the signature covers besides the nonce: two plans with equal fields sign the same transaction."""
        return (self.intent, self.market.market_id, self.base_amount, self.price, self.order_type,
                self.time_in_force, self.order_expiry)


class LighterOrders:
    """Orders of the connector (mixed into it): planned, signed (ahead, with ``presign``), sent by their own task,
    and confirmed from the venue through the connector's confirmation core."""

    async def presign(self, intent: OrderIntent, *, max_slippage: Decimal | None = None) -> None:
        """Sign ``intent`` now, with the nonce it would go out with, so that submitting exactly this intent next
        skips the signer's milliseconds (its snapshot's info then says ``signed_ahead``). Nothing is sent. The
        signature goes unused if the intent, its price bound or the key's next nonce differ by then."""
        plan = await self._plan(intent, max_slippage)
        async with self._nonce.lock():
            nonce = await self._take_nonce()
        self._presigned[intent.client_order_index] = (plan.wire_fields(), self._sign_order(plan, nonce),
                                                      self.clock.monotonic())

    async def submit_order(
        self,
        intent: OrderIntent,
        *,
        max_slippage: Decimal | None = None,
        listeners: list[TransitionListener] | None = None,
    ) -> TrackingMarketOrder | TrackingLimitOrder:
        tracker = OrderTracker(intent, listeners=[*(listeners or ()), self._forget_book_after])
        try:
            plan = await self._plan(intent, max_slippage)
        except VenueError as exc:
            tracker.apply(OrderEvent.REJECT, reason=str(exc), error=exc)
            raise
        presigned = self._presigned.pop(intent.client_order_index, None)
        if presigned is not None:
            fields_, tx, signed_at = presigned
            # the signature carries an expiry of its own: an old one is signed again rather than risk a refusal
            if fields_ == plan.wire_fields() and self.clock.monotonic() - signed_at < PRESIGNED_MAX_AGE_SECS:
                plan.presigned = tx
        tracker.apply(OrderEvent.SUBMIT, info={"api_key_index": self.api_key_index})
        plan.baseline = self._marks.take(intent.symbol)
        plan.watch = watch = self.confirmations.watch(tracker, listeners=listeners or (), data=plan,
                                                      verdict_read=False)
        task = self.confirmations.spawn(self._work(tracker, plan), name=f"lighter-order-{intent.client_order_index}",
                                        watch=watch, on_done=lambda: self._release_mark(tracker, plan))
        settled = asyncio.ensure_future(plan.settled.wait())
        try:
            await asyncio.wait({settled, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            settled.cancel()
            snapshot = tracker.snapshot()
            plan.handed_over.set()
        if snapshot.state is OrderState.FAILED:
            await asyncio.wait({task})
            raise snapshot.error or InvalidOrder("order refused", venue=VENUE, connector=self.name)
        if snapshot.state is OrderState.SUBMITTING and task.done():
            # the task ended without a verdict (an unexpected error): the order may be out, so it is unknown
            error = task.exception() if not task.cancelled() else None
            tracker.apply(OrderEvent.LOSE_ANSWER, reason=f"order task ended: {error!r}")
            raise AmbiguousOutcome(f"order {intent.client_order_index}: {error!r}", venue=VENUE,
                                   connector=self.name, client_order_index=intent.client_order_index) from error
        return self.confirmations.handle(
            tracker, task, canceller=lambda: self._cancel_tracked(intent.symbol, intent.client_order_index))

    async def _cancel_tracked(self, symbol: str, client_order_index: int) -> None:
        """A handle's cancel: once the venue no longer has the order open, its confirmation reads it at once."""
        try:
            await self.cancel_order(symbol, client_order_index)
        finally:
            watch = self.confirmations.watches.get(client_order_index)
            if watch is not None:
                watch.wake.set()

    async def _plan(self, intent: OrderIntent, max_slippage: Decimal | None) -> _OrderPlan:
        market = await self.market(intent.symbol)
        await self._ensure_signer()
        if not 1 <= intent.client_order_index <= MAX_CLIENT_ORDER_INDEX:
            raise InvalidOrder(f"client order index {intent.client_order_index} outside 1..2^48-1", venue=VENUE,
                               connector=self.name)
        base_amount = to_units(intent.size, market.size_decimals, what="size")
        if not 1 <= base_amount <= MAX_BASE_AMOUNT:
            raise InvalidOrder(f"size {plain(intent.size)} outside the venue's range", venue=VENUE,
                               connector=self.name)
        if intent.order_type is OrderType.MARKET:
            slippage = self.default_max_slippage if max_slippage is None else max_slippage
            if not ZERO <= slippage < 1:
                raise InvalidOrder(f"max_slippage {slippage} must be in [0, 1)", venue=VENUE, connector=self.name)
            book = await self._recent_book(intent.symbol)
            touch = book.ask if intent.side is Side.BUY else book.bid
            if touch is None:
                missing = "asks" if intent.side is Side.BUY else "bids"
                raise VenueUnavailable(f"{intent.symbol}: the book has no {missing}", venue=VENUE,
                                       connector=self.name)
            price = market.rules.worst_price(touch, slippage, intent.side)
            reference = touch
            order_type, time_in_force, expiry = ORDER_TYPE_MARKET, TIF_IMMEDIATE_OR_CANCEL, ORDER_EXPIRY_IOC
        else:
            assert intent.price is not None
            price = reference = intent.price
            order_type = ORDER_TYPE_LIMIT
            time_in_force = TIF_POST_ONLY if intent.post_only else TIF_GOOD_TILL_TIME
            expiry = ORDER_EXPIRY_DEFAULT
        if not intent.reduce_only and intent.size * reference < market.rules.min_notional:
            raise BelowMinimumSize(
                f"{intent.symbol}: {plain(intent.size)} at {plain(reference)} is below the minimum notional "
                f"{plain(market.rules.min_notional)}", venue=VENUE, connector=self.name,
            )
        price_units = min(max(to_units(price, market.price_decimals, what="price"), 1), MAX_PRICE_UNITS)
        return _OrderPlan(intent, market, base_amount, price_units, order_type, time_in_force, expiry)

    def _sign_order(self, plan: _OrderPlan, nonce: int) -> SignedTx:
        assert self._signer is not None
        intent = plan.intent
        return self._signer.sign_create_order(
            market_index=plan.market.market_id,
            client_order_index=intent.client_order_index,
            base_amount=plan.base_amount,
            price=plan.price,
            is_ask=intent.side is Side.SELL,
            order_type=plan.order_type,
            time_in_force=plan.time_in_force,
            reduce_only=intent.reduce_only,
            order_expiry=plan.order_expiry,
            nonce=nonce,
        )

    def _signer_for(self, plan: _OrderPlan) -> Callable[[int], SignedTx]:
        def sign(nonce: int) -> SignedTx:
            presigned, plan.presigned = plan.presigned, None
            plan.signed_ahead = presigned is not None and presigned.nonce == nonce
            tx = presigned if plan.signed_ahead else self._sign_order(plan, nonce)
            plan.sent.append(tx)
            if plan.first_sent_at is None:
                plan.first_sent_at = self.clock.now()
            return tx

        return sign

    async def _work(self, tracker: OrderTracker, plan: _OrderPlan) -> None:
        """The order's task: send (owning the nonce), resolve a lost answer, then confirm from the venue."""
        try:
            accepted = await self._send_order(tracker, plan)
        finally:
            plan.settled.set()
        if accepted:
            try:
                # a report pushed meanwhile applies only now: after the caller of submit_order has the send's own
                # verdict, and after a lost answer's resolution, which reads the venue by REST on its own terms
                await plan.handed_over.wait()
                assert plan.watch is not None
                self.confirmations.verdict_read(plan.watch)
                await self._confirm(tracker, plan)
            finally:
                self._persist_nonce()
                if plan.order_type == ORDER_TYPE_MARKET and tracker.snapshot().filled_size < plan.intent.size:
                    # the bound came from a book the price may have left (slippage, no liquidity): the next
                    # market order reads the book afresh instead of repeating a bound the venue cannot meet
                    self._books.pop(plan.intent.symbol, None)

    def _forget_book_after(self, snapshot: OrderSnapshot, transition: Transition) -> None:
        """A market order that ends short once sent: its bound came from a book the price may have left (slippage,
        no liquidity), so the next market order reads the book afresh instead of repeating a bound the venue cannot
        meet. Done at the transition, not when the order's task ends: a pushed report can end the order, and its
        holder send the next one, before the task has wound down."""
        intent = snapshot.intent
        if (snapshot.is_final and intent.order_type is OrderType.MARKET and snapshot.filled_size < intent.size
                and transition.from_state not in (OrderState.NEW, OrderState.SUBMITTING)):
            self._books.pop(intent.symbol, None)

    def _release_mark(self, tracker: OrderTracker, plan: _OrderPlan) -> None:
        """Give the market's mark back when the order's task ends: moved by its fill, or unknown if not final."""
        snapshot = tracker.snapshot()
        self._marks.release(plan.baseline, final=snapshot.is_final,
                            signed_fill=plan.intent.side.sign * snapshot.filled_size)

    async def _confirm(self, tracker: OrderTracker, plan: _OrderPlan) -> None:
        """Poll the venue until the order is final (market orders within ``confirm_timeout_secs``, else
        AmbiguousOutcome: the order was sent and never confirmed)."""
        watch = plan.watch
        assert watch is not None
        intent = plan.intent
        is_market = intent.order_type is OrderType.MARKET
        deadline = self.clock.monotonic() + self.confirm_timeout_secs if is_market else None
        delays = list(self.confirm_delays)
        first = _first_delay(plan.predicted_execution_ms, self.last_latency_ms, now=self.clock.now())
        if first is not None:
            delays[0] = first

        async def step() -> None:
            try:
                report = await self._confirming_report(plan)
            except _TransactionFailed as failed:
                self.confirmations.refuse(watch, failed.error, reason=failed.reason)
                return
            if report is not None:
                self._apply_report(watch, report)

        def overdue() -> str | None:
            if deadline is not None and self.clock.monotonic() > deadline:
                return f"no final state from the venue within {self.confirm_timeout_secs:g}s"
            return None

        await self.confirmations.poll(watch, step, delay=schedule(delays, delays[-1] if is_market else self.limit_poll_secs),
                                      overdue=overdue)

    async def _confirming_report(self, plan: _OrderPlan) -> OrderReport | None:
        """The order by client order index, and alongside it the accepted transaction's status by hash; for a market
        order not listed (yet), its trades by transaction hash. Raises ``_TransactionFailed`` when the venue failed
        the transaction and lists no order of it: accepted was not executed, and nothing of it can run any more."""
        orders = self._orders_by_client_index(plan.intent.client_order_index, plan.market.market_id)
        tx_hash = plan.accepted_tx_hash if not plan.tx_executed else None
        if tx_hash:
            mine, transaction = await asyncio.gather(orders, self._tx_document(tx_hash))
        else:
            mine, transaction = await orders, None
        if mine:
            return self._report(max(mine, key=lambda order: int(order.get("order_index") or 0)))
        outcome = tx_outcome(transaction) if transaction is not None else None
        if outcome == "failed" and plan.intent.order_type is OrderType.MARKET:
            # a market order lists no record once done: trades of it would overrule a misread status
            traded = await self._report_from_trades(plan)
            if traded is not None:
                return traded
        if outcome == "failed":
            assert transaction is not None
            reason = tx_failure_reason(transaction)
            error_class = InsufficientMargin if "margin" in reason.lower() else InvalidOrder
            raise _TransactionFailed(reason, error_class(
                f"order {plan.intent.client_order_index}: the venue failed its transaction: {reason}",
                venue=VENUE, connector=self.name))
        if outcome == "executed":
            plan.tx_executed = True
        if plan.intent.order_type is not OrderType.MARKET:
            return None
        return await self._report_from_trades(plan)

    async def _report_from_trades(self, plan: _OrderPlan) -> OrderReport | None:
        hashes = {tx.tx_hash for tx in plan.sent} | {plan.venue_tx_hash}
        coi = plan.intent.client_order_index
        document = await self._auth_get("trades", {
            "account_index": self.account_index, "market_id": plan.market.market_id,
            "sort_by": "timestamp", "sort_dir": "desc", "limit": TRADES_PAGE,
        })
        side_key = "bid" if plan.intent.side is Side.BUY else "ask"
        ours = [trade for trade in list_field(document, "trades", required=True) if self._trade_of(plan, trade, hashes)]
        if not ours:
            return None
        filled = sum((decimal_field(trade, "size") for trade in ours), ZERO)
        quote = sum((decimal_field(trade, "size") * decimal_field(trade, "price") for trade in ours), ZERO)
        return OrderReport(
            client_order_index=coi, venue_order_id=str(ours[0].get(f"{side_key}_id")), symbol=plan.intent.symbol,
            side=plan.intent.side, size=plan.intent.size, filled_size=filled,
            done=True,  # an immediate-or-cancel order that has trades has run to its end
            status="filled" if filled >= plan.intent.size else "canceled", average_price=quote / filled,
            reduce_only=plan.intent.reduce_only,
        )

    def _apply_report(self, watch: Watch, report: OrderReport) -> None:
        intent = watch.tracker.intent
        filled = min(report.filled_size, intent.size)
        self.confirmations.apply_to(watch, report, reason=report.status if report.done and filled < intent.size
                                    else None)

    def _refusal_of_report(self, report: OrderReport, reason: str | None) -> tuple[VenueError, str] | None:
        """An order the venue ended with nothing filled, for a reason that is a refusal (``REFUSAL_STATUSES``)."""
        error_class = REFUSAL_STATUSES.get(report.status)
        if error_class is None:
            return None
        return error_class(f"order {report.client_order_index} {report.status}", venue=VENUE,
                           connector=self.name), report.status

    async def cancel_order(self, symbol: str, client_order_index: int) -> None:
        """Cancel a resting order by client order index; returns once the venue no longer has it open."""
        market = await self.market(symbol)
        existing = await self.find_order(symbol, client_order_index)
        if existing is None:
            raise OrderNotFound(f"no order with client order index {client_order_index}", venue=VENUE,
                                connector=self.name)
        if existing.done:
            return
        signer = await self._ensure_signer()
        await self._send_idempotent("cancel", lambda nonce: signer.sign_cancel_order(
            market_index=market.market_id, order_index=client_order_index, nonce=nonce))
        await self._wait_until(
            lambda: self.find_order(symbol, client_order_index),
            lambda report: report is None or report.done,
            f"order {client_order_index} still open after the cancel",
        )

    async def cancel_all(self, symbol: str | None = None) -> None:
        """Cancel every resting order (of ``symbol``, or all markets); returns once the venue lists none open."""
        market_index = (await self.market(symbol)).market_id if symbol is not None else NIL_MARKET_INDEX
        signer = await self._ensure_signer()
        await self._send_idempotent("cancel all", lambda nonce: signer.sign_cancel_all(
            market_index=market_index, nonce=nonce))
        await self.confirmations.verify_cancelled(lambda: self.open_orders(symbol),
                                                  within_secs=self.confirm_timeout_secs,
                                                  delay=schedule(CONFIRM_DELAYS[1:], CONFIRM_DELAYS[-1]))

    async def _wait_until(self, read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str) -> None:
        """Poll ``read`` on the confirmation schedule until ``done`` says so; VenueTimeout after the confirm time."""
        deadline = self.clock.monotonic() + self.confirm_timeout_secs
        step = 0
        while not done(await read()):
            if self.clock.monotonic() > deadline:
                raise VenueTimeout(what, venue=VENUE, connector=self.name)
            step = min(step + 1, len(CONFIRM_DELAYS) - 1)
            await self.clock.sleep(CONFIRM_DELAYS[step])

    async def update_leverage(self, symbol: str, leverage: Decimal | int, margin_mode: str = "cross") -> None:
        """Set the market's leverage (initial margin fraction 1/leverage) and margin mode ("cross" or "isolated")."""
        market = await self.market(symbol)
        leverage = Decimal(leverage)
        if leverage < 1:
            raise InvalidOrder(f"leverage must be at least 1, got {plain(leverage)}", venue=VENUE, connector=self.name)
        try:
            mode = MARGIN_MODES[margin_mode]
        except KeyError:
            raise InvalidOrder(f"margin mode must be one of {', '.join(MARGIN_MODES)}", venue=VENUE,
                               connector=self.name) from None
        fraction = int(Decimal(10_000) / leverage)
        signer = await self._ensure_signer()
        sent = await self._send_idempotent("update leverage", lambda nonce: signer.sign_update_leverage(
            market_index=market.market_id, initial_margin_fraction=fraction, margin_mode=mode, nonce=nonce))
        tx_hash = sent.tx_hash or ""
        await self._wait_until(lambda: self._tx_status(tx_hash), lambda status: status is not None,
                               "the leverage update was not executed")

    async def _tx_status(self, tx_hash: str) -> str | None:
        """"executed" once the venue executed the transaction, None until then; InvalidOrder when it failed it."""
        document = await self._tx_document(tx_hash)
        outcome = tx_outcome(document) if document is not None else None
        if outcome == "failed":
            assert document is not None
            raise InvalidOrder(f"transaction {tx_hash[:16]}... failed at the venue: {tx_failure_reason(document)}",
                               venue=VENUE, connector=self.name)
        return outcome


class _TransactionFailed(Exception):
    """The venue failed an accepted order's transaction (``reason`` is the venue's): the order is refused."""

    def __init__(self, reason: str, error: VenueError):
        super().__init__(reason)
        self.reason = reason
        self.error = error


def _first_delay(predicted_execution_ms: int | None, round_trip_ms: float | None, *, now: float) -> float | None:
    """When to send the first confirming read: so that it reaches the venue (half a round trip later) at the
    predicted execution time (a timestamp in ms, or a duration). Capped, so a skewed clock costs little."""
    if not predicted_execution_ms or predicted_execution_ms <= 0:
        return None
    if predicted_execution_ms > 10**12:
        seconds = predicted_execution_ms / 1000 - now
    else:
        seconds = predicted_execution_ms / 1000
    seconds -= (round_trip_ms or 0) / 2000
    return min(max(seconds, 0.0), FIRST_CONFIRM_MAX_DELAY)
