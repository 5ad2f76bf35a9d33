"""The Backpack connector: Ed25519-signed REST over one keep-alive httpx client, every order confirmed from the venue.

Orders are confirmed through the connector's confirmation core; an order whose answer is lost is never resent, its
resolution follows ``LOST_ANSWER_TABLE`` (``connectors/lost_answer.py``). Backpack's own part: the order is looked up
by clientId (resting, order history, fills); absence proves it never executed only after the request's signature
window has passed, twice in a row, and with the position unmoved since a reading taken before the send
(``PositionMarks``: the history can lag the matching engine, the position cannot). Without such a reading the order
stays UNKNOWN (AmbiguousOutcome).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.model import ConnectorConfig
from hedgectl.connectors.backpack import wire
from hedgectl.connectors.backpack.order_reads import BackpackOrderReads
from hedgectl.connectors.backpack.signing import Signer, signing_string
from hedgectl.connectors.base import (
    Balance,
    Connector,
    Fill,
    MarketRules,
    OrderReport,
    Position,
    TopOfBook,
    tls_context,
)
from hedgectl.connectors.confirmation import Confirmations, Watch
from hedgectl.connectors.lost_answer import LostAnswerEvent
from hedgectl.connectors.marks import Baseline, PositionMarks, moved_since
from hedgectl.connectors.stream import StreamingConnector
from hedgectl.decimals import ZERO, plain
from hedgectl.errors import (
    AmbiguousOutcome,
    ConfigError,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    VenueError,
    VenueProtocolError,
    VenueUnavailable,
)
from hedgectl.model.client_ids import BACKPACK_RANGE
from hedgectl.model.orders import (
    OrderEvent,
    OrderIntent,
    OrderState,
    OrderTracker,
    OrderType,
    Side,
    TrackingLimitOrder,
    TrackingMarketOrder,
    TransitionListener,
)
from hedgectl.transport import map_transport_errors, possibly_sent, retry_after_secs

if TYPE_CHECKING:
    from hedgectl.connectors.stream import AccountStream

logger = logging.getLogger(__name__)


DEFAULT_WINDOW_MS = 5000
MAX_WINDOW_MS = 60000


@dataclass
class _Sent:
    """What the Backpack confirmation of one order keeps beside the core's watch."""

    sent_at: float  # venue time (Unix seconds) when the request was signed
    absent_after: float  # local monotonic time after which an order with no trace never landed
    baseline: Baseline  # the market's mark taken for the send: the position just before it, when known
    released: bool = False  # the market's mark has been given back


class BackpackConnector(BackpackOrderReads, StreamingConnector, Connector):
    """One Backpack account (perpetuals). Symbols are Backpack's own (``ETH_USDC_PERP``)."""

    venue = "backpack"
    client_id_range = BACKPACK_RANGE

    #: seconds between reads while a lost answer is being resolved
    resolve_poll_secs = 0.2
    #: seconds between reads of a resting order
    resting_poll_secs = 0.5
    #: a lost answer still unresolved this many seconds after its window ended ends the handle's task with
    #: AmbiguousOutcome
    resolve_timeout_secs = 60.0
    #: slack added to the request window (clock error, queueing) before absence counts as proof
    absence_margin_secs = 1.0
    #: how long cancel_all waits for the venue to show no open order
    cancel_confirm_secs = 5.0

    @property
    def landing_horizon_secs(self) -> float:
        """A signed request is refused once its window has passed (plus slack for clock error and queueing)."""
        return self.window_ms / 1000 + self.absence_margin_secs

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        data_dir: Path | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ):
        secret = config.secrets.get("api_secret")
        if not secret:
            raise ConfigError(f"connectors.{config.name}: missing api_secret")
        api_key = config.secrets.get("api_key")
        try:
            self._signer = Signer(secret.reveal(), api_key.reveal() if api_key else None)
        except ValueError as exc:
            raise ConfigError(f"connectors.{config.name}: {exc}") from None
        window = int(config.options.get("window_ms") or DEFAULT_WINDOW_MS)
        if not 1 <= window <= MAX_WINDOW_MS:
            raise ConfigError(f"connectors.{config.name}.window_ms: must be in 1..{MAX_WINDOW_MS}, got {window}")
        self.window_ms = window
        self._clock_offset_ms: float | None = None
        self._clock_lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self._account_document: Any = None  # the last /api/v1/account answer (fee rates)
        self._marks = PositionMarks()
        super().__init__(config, data_dir=data_dir, clock=clock)
        self.confirmations = Confirmations(connector=self.name, venue=self.venue, clock=self.clock,
                                           refusal=self._refusal, log=logger)
        self._stream_options(config.options, _default_ws_url(config.base_url))

    def __repr__(self) -> str:
        return f"BackpackConnector(name={self.name!r}, base_url={self.config.base_url!r})"

    def account_key(self) -> str:
        return hashlib.sha256(self._signer.api_key.encode()).hexdigest()[:16]

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.config.base_url.rstrip("/"),
                verify=tls_context(self.config.base_url),
                timeout=self.config.timeout_secs,
                # A connection kept warm between prepare() and the order saves a TCP/TLS handshake on the order path.
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=55.0),
                headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
            )

    @property
    def _tasks(self) -> set[asyncio.Task]:
        return self.confirmations.tasks

    async def close(self) -> None:
        await self.close_stream()
        await self.confirmations.close()
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def check(self) -> None:
        await self.sync_clock(force=True)
        self._account_document = await self._read("account", "/api/v1/account", instruction="accountQuery")

    async def prepare(self, symbol: str) -> MarketRules:
        """Market rules, a fresh clock offset and a warm connection, so that submit_order does no extra I/O; and a
        position reading, which lets an order whose answer is lost be proven absent."""
        rules = await self.market_rules(symbol)
        # both run to their end before prepare returns or raises, so no read outlives a failed prepare
        clock, _ = await asyncio.gather(self.sync_clock(force=True), self._read_marks(), return_exceptions=True)
        if isinstance(clock, BaseException):
            raise clock
        self.open_stream()
        return rules

    def _new_stream(self) -> AccountStream:
        from hedgectl.connectors.backpack.stream import BackpackAccountStream

        return BackpackAccountStream(self, self.ws_url, clock=self.clock)

    def sign_stream_subscription(self, timestamp_ms: int, window_ms: int) -> list[str]:
        """The ``signature`` of a private SUBSCRIBE frame: key, signature, timestamp, window (all strings)."""
        signature = self._signer.sign(signing_string("subscribe", None, timestamp_ms, window_ms))
        return [self._signer.api_key, signature, str(timestamp_ms), str(window_ms)]

    async def _read_marks(self) -> None:
        try:
            await self.positions()
        except VenueError as exc:
            logger.info("%s: no position reading before orders (%s); a lost answer will stay unknown", self.name, exc)

    # --- transport -------------------------------------------------------------------------------------------

    @property
    def clock_offset_ms(self) -> float | None:
        """Venue time minus local time, as last learned from ``/api/v1/time`` (None before the first request)."""
        return self._clock_offset_ms

    def venue_time_ms(self) -> int:
        return int(self.clock.now() * 1000 + (self._clock_offset_ms or 0))

    async def sync_clock(self, *, force: bool = False) -> float:
        """Learn the venue's clock offset from ``/api/v1/time`` (halfway through the round trip)."""
        async with self._clock_lock:
            if self._clock_offset_ms is not None and not force:
                return self._clock_offset_ms

            async def read_time() -> float:
                before = self.clock.now()
                server = await self._request("GET", "/api/v1/time")
                after = self.clock.now()
                try:
                    server_ms = int(server)
                except (TypeError, ValueError):
                    raise VenueProtocolError(f"/api/v1/time answered {server!r}", venue=self.venue) from None
                return server_ms - (before + after) * 500

            offset = await self.with_read_retries("server time", read_time)
            if self._clock_offset_ms is None or abs(offset - self._clock_offset_ms) > 250:
                logger.info("%s: venue clock offset %+.0f ms", self.name, offset)
            self._clock_offset_ms = offset
            return offset

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        instruction: str | None = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one request (signed when ``instruction`` is given) and return its decoded JSON (None when empty).

        Errors come back as the exception tree. A request that is not ``idempotent`` and may have reached the venue
        without an answer raises AmbiguousOutcome; one refused as expired is resent once after re-learning the
        clock (the venue executed nothing).
        """
        if self._http is None:
            await self.start()
        if instruction is not None and self._clock_offset_ms is None and not idempotent:
            # an order waits for the venue's clock; a read goes out on ours and learns the clock only if refused
            # as expired, which costs it nothing but the retry (positions --all reads every venue in one round trip)
            await self.sync_clock()
        query = params if method == "GET" else None
        content = None if method == "GET" or params is None else json.dumps(params, separators=(",", ":"))
        for attempt in (1, 2):
            headers = None
            if instruction is not None:
                headers = self._signer.headers(instruction, params, self.venue_time_ms(), self.window_ms)
            response = await self._exchange(method, path, query, content, headers, idempotent)
            if response.is_success:
                return self._decode(response, path)
            error = wire.error_from_response(response.status_code, response.text, connector=self.name)
            if isinstance(error, wire.RequestExpired) and attempt == 1:
                logger.warning("%s: %s %s refused as expired; re-learning the venue clock", self.name, method, path)
                await self.sync_clock(force=True)
                continue
            if isinstance(error, RateLimited):
                error.retry_after = retry_after_secs(response.headers.get("retry-after"))
            if not idempotent and possibly_sent(response.status_code):
                raise AmbiguousOutcome(
                    f"{method} {path}: answered {response.status_code} ({error.message}); outcome unknown",
                    venue=self.venue, connector=self.name, code=error.code, status=response.status_code,
                )
            raise error
        raise AssertionError("unreachable")  # the loop returns or raises on its second pass

    async def _exchange(
        self, method: str, path: str, query: Any, content: str | None, headers: dict[str, str] | None,
        idempotent: bool,
    ) -> httpx.Response:
        started = time.perf_counter()
        with map_transport_errors(f"{method} {path}", venue=self.venue, connector=self.name, order=not idempotent):
            response = await self._http.request(method, path, params=query, content=content, headers=headers)
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        logger.debug("%s: %s %s -> %s in %.1f ms", self.name, method, path, response.status_code, self.last_latency_ms)
        return response

    def _decode(self, response: httpx.Response, path: str) -> Any:
        text = response.text
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise VenueProtocolError(
                f"{path}: answer is not JSON: {text[:120]!r}", venue=self.venue, connector=self.name
            ) from None

    async def _read(self, what: str, path: str, params: dict[str, Any] | None = None, *,
                    instruction: str | None = None) -> Any:
        return await self.with_read_retries(what, lambda: self._request("GET", path, params, instruction=instruction))

    # --- market data -----------------------------------------------------------------------------------------

    async def fetch_market_rules(self, symbol: str) -> MarketRules:
        document = await self._read("market rules", "/api/v1/market", {"symbol": symbol})
        rules = wire.market_rules(wire.expect(document, dict, "market"))
        if rules.symbol != symbol:
            raise VenueProtocolError(f"asked for market {symbol}, got {rules.symbol}", venue=self.venue)
        return rules

    async def top_of_book(self, symbol: str) -> TopOfBook:
        depth = await self._read("depth", "/api/v1/depth", {"symbol": symbol, "limit": 5})
        document = wire.expect(depth, dict, "depth")
        bid, bid_size = wire.best_prices(document.get("bids", []), best_is_max=True)
        ask, ask_size = wire.best_prices(document.get("asks", []), best_is_max=False)
        return TopOfBook(symbol=symbol, bid=bid, bid_size=bid_size, ask=ask, ask_size=ask_size)

    # --- account ---------------------------------------------------------------------------------------------

    async def positions(self) -> list[Position]:
        before = self._marks.before_read()
        rows = wire.expect(await self._read("positions", "/api/v1/position", instruction="positionQuery"), list,
                           "positions")
        parsed = [wire.position(row, connector=self.name) for row in rows]
        self._marks.observe(before, {position.symbol: position.signed_size for position in parsed}, self._rules)
        return [position for position in parsed if position.signed_size != 0]

    def _release_mark(self, watch: Watch) -> None:
        """Give the market's mark back once the order is final (moved by its fill) or abandoned (left unknown)."""
        sent: _Sent = watch.data
        if sent.released:
            return
        sent.released = True
        snapshot = watch.tracker.snapshot()
        self._marks.release(sent.baseline, final=snapshot.is_final,
                            signed_fill=snapshot.intent.side.sign * snapshot.filled_size)

    async def taker_fee_rate(self, symbol: str) -> Decimal | None:
        """The account's futures taker fee, from ``/api/v1/account`` (``futuresTakerFee``, basis points); the answer
        ``check()`` read is reused, so a preflight costs no extra request."""
        document = self._account_document
        if document is None:
            document = await self._read("account", "/api/v1/account", instruction="accountQuery")
        return wire.taker_fee_rate(document)

    async def balance(self) -> Balance:
        document = await self._read("collateral", "/api/v1/capital/collateral", instruction="collateralQuery")
        return wire.balance(wire.expect(document, dict, "collateral"), connector=self.name)

    async def fills(self, symbol: str | None = None, *, since: float | None = None) -> list[Fill]:
        rows = await self._fill_rows(symbol, since_ms=int(since * 1000) if since is not None else None)
        return sorted((wire.fill(row) for row in rows), key=lambda item: item.at)


    # --- orders: writes --------------------------------------------------------------------------------------

    def _order_params(self, intent: OrderIntent, rules: MarketRules, max_slippage: Decimal | None,
                      touch: Decimal | None = None) -> dict[str, Any]:
        """The orderExecute body: sizes and prices as plain strings already on the step / tick, never re-rounded.

        A market order with a slippage bound goes out as an immediate-or-cancel limit order at the worst acceptable
        price (``touch``, the best opposite price, moved by ``max_slippage`` and rounded toward it): the scale of the
        venue's own ``slippageTolerance`` is not documented, a limit price means the same on every venue."""
        where = dict(venue=self.venue, connector=self.name)
        if intent.venue != self.venue:
            raise InvalidOrder(f"intent for venue {intent.venue} sent to {self.venue}", **where)
        if not self.client_id_range.contains(intent.client_order_index):
            raise InvalidOrder(f"clientId {intent.client_order_index} is outside uint32", **where)
        if rules.quantize_size(intent.size) != intent.size:
            raise InvalidOrder(
                f"{intent.symbol}: size {plain(intent.size)} is not on the step {plain(rules.step_size)}", **where
            )
        rules.check_size(intent.size, reduce_only=intent.reduce_only)
        params: dict[str, Any] = {
            "symbol": intent.symbol,
            "side": wire.SIDE_TO_WIRE[intent.side],
            "orderType": "Limit" if intent.order_type is OrderType.LIMIT else "Market",
            "quantity": plain(intent.size),
            "clientId": intent.client_order_index,
        }
        if intent.reduce_only:
            params["reduceOnly"] = True
        if intent.order_type is OrderType.LIMIT:
            if intent.price is None or rules.quantize_price(intent.price) != intent.price or intent.price <= 0:
                raise InvalidOrder(f"{intent.symbol}: limit price {intent.price} is not a positive multiple of the "
                                   f"tick {plain(rules.tick_size)}", **where)
            params["price"] = plain(intent.price)
            params["timeInForce"] = "GTC"
            if intent.post_only:
                params["postOnly"] = True
        elif max_slippage is not None:
            if not ZERO < max_slippage < 1:
                raise InvalidOrder(f"max slippage must be in (0, 1), got {plain(max_slippage)}", **where)
            if touch is None or touch <= 0:
                raise InvalidOrder(f"{intent.symbol}: no {'ask' if intent.side is Side.BUY else 'bid'} to bound a "
                                   f"market order by", **where)
            params["orderType"] = "Limit"
            params["price"] = plain(rules.worst_price(touch, max_slippage, intent.side))
            params["timeInForce"] = "IOC"
        return params

    async def submit_order(
        self,
        intent: OrderIntent,
        *,
        max_slippage: Decimal | None = None,
        listeners: list[TransitionListener] | None = None,
    ) -> TrackingMarketOrder | TrackingLimitOrder:
        tracker = OrderTracker(intent, listeners=listeners)
        try:
            rules = self.cached_market_rules(intent.symbol)
            if rules is None:
                logger.warning("%s: %s not prepared; reading its rules on the order path", self.name, intent.symbol)
                rules = await self.market_rules(intent.symbol)
            touch = None
            if intent.order_type is OrderType.MARKET and max_slippage is not None:
                book = await self.top_of_book(intent.symbol)
                touch = book.ask if intent.side is Side.BUY else book.bid
            params = self._order_params(intent, rules, max_slippage, touch)
        except VenueError as error:
            tracker.apply(OrderEvent.REJECT, reason=str(error), error=error)
            raise
        sent_at = self.venue_time_ms() / 1000
        # Absence proves nothing until the signed request is too old for the venue to accept.
        absent_after = self.clock.monotonic() + self.landing_horizon_secs
        watch = self.confirmations.watch(tracker, listeners=listeners or (), verdict_read=False,
                                         data=_Sent(sent_at, absent_after, self._marks.take(intent.symbol)))
        tracker.apply(OrderEvent.SUBMIT, info={"client_id": intent.client_order_index})
        try:
            document = await self._request("POST", "/api/v1/order", params, instruction="orderExecute",
                                           idempotent=False)
            report = wire.order_report(wire.expect(document, dict, "order"))
        except (AmbiguousOutcome, VenueProtocolError) as lost:
            # No answer, or one we cannot read: the venue may have executed the order either way.
            logger.warning("%s: answer to order %d lost (%s); resolving by clientId", self.name,
                           intent.client_order_index, lost.message)
            tracker.apply(OrderEvent.LOSE_ANSWER, reason=lost.message)
            watch.lose(self.name, lost.message)
            return self._handle(watch)
        except VenueError as error:
            tracker.apply(OrderEvent.REJECT, reason=str(error), error=error)
            self._settle(watch)
            raise
        except asyncio.CancelledError:
            # The request may be on the wire: resolve it in the background so listeners still learn the outcome.
            tracker.apply(OrderEvent.LOSE_ANSWER, reason="cancelled while waiting for the answer")
            watch.lose(self.name, "cancelled while waiting for the answer")
            self._handle(watch)
            raise
        refused = self.confirmations.apply(tracker, report, reason=wire.expiry_reason(document),
                                           info={"status": report.status})
        if refused is not None:
            self._settle(watch)
            raise refused
        return self._handle(watch)

    def _handle(self, watch: Watch) -> TrackingMarketOrder | TrackingLimitOrder:
        intent = watch.tracker.intent
        # the send's verdict is read: a report the stream pushed meanwhile may apply now
        self.confirmations.verdict_read(watch)
        task = None
        if watch.is_final:
            self._settle(watch)
        else:
            task = self.confirmations.spawn(self._confirm(watch), name=f"{self.name}:confirm:"
                                            f"{intent.client_order_index}", watch=watch,
                                            on_done=lambda: self._release_mark(watch))
        return self.confirmations.handle(
            watch.tracker, task, canceller=lambda: self._cancel_tracked(intent.symbol, intent.client_order_index))

    def _settle(self, watch: Watch) -> None:
        """An order final before any confirmation task: forget it and give its mark back."""
        self.confirmations.forget(watch)
        self._release_mark(watch)

    def _refusal(self, report: OrderReport, reason: str | None) -> tuple[VenueError, str] | None:
        refused = wire.refusal(report, reason, connector=self.name)
        return None if refused is None else (refused, str(refused))

    async def _confirm(self, watch: Watch) -> None:
        """Drive one order to a final state from the venue's reports (the body of the handle's task)."""
        tracker, sent = watch.tracker, watch.data
        intent = tracker.intent
        # Counted from when absence could first be proven, so a long window never cuts the resolution short.
        deadline = max(self.clock.monotonic(), sent.absent_after) + self.resolve_timeout_secs
        since_ms = int((sent.sent_at - self.absence_margin_secs) * 1000)
        absent_reads = 0  # consecutive complete lookups without a trace, counted once the window has passed
        unproven = ""  # why no trace of the order is not yet proof that it never executed

        async def step() -> None:
            nonlocal absent_reads, unproven
            unknown = tracker.state is OrderState.UNKNOWN
            try:
                found = await self._lookup(intent.symbol, intent.client_order_index, since_ms=since_ms, intent=intent)
            except VenueError as exc:
                logger.info("%s: confirming order %d: %s", self.name, intent.client_order_index, exc)
                return
            if found is not None:
                absent_reads = 0
                self.confirmations.apply_to(watch, found[0], reason=found[1], info={"status": found[0].status})
            elif unknown and self.clock.monotonic() >= sent.absent_after:
                absent_reads += 1
            # Two clean readings, not one, so that a momentarily stale history cannot decide alone; and the
            # history may lag the engine for longer, so the position must agree.
            if absent_reads >= 2 and not watch.is_final:
                unproven = await moved_since(self, sent.baseline)
                if not unproven:
                    proof = VenueUnavailable(
                        f"order {intent.client_order_index} never reached the venue: no trace of it after "
                        f"its {self.window_ms} ms window, and the position has not moved since before it",
                        venue=self.venue, connector=self.name,
                    )
                    if watch.lost is not None:
                        watch.lost.apply(LostAnswerEvent.PROVE_ABSENT, proof.message)
                    self.confirmations.refuse(watch, proof)

        def overdue() -> str | None:
            if tracker.state is OrderState.UNKNOWN and self.clock.monotonic() >= deadline:
                why = f" (no trace of it, but {unproven})" if unproven else ""
                return f"outcome still unknown after {self.resolve_timeout_secs:.0f}s{why}"
            return None

        def delay(round_: int) -> float:
            if round_ == 0:
                return 0.0
            if tracker.state in (OrderState.UNKNOWN, OrderState.SUBMITTING):
                return self.resolve_poll_secs
            return self.resting_poll_secs

        await self.confirmations.poll(watch, step, delay=delay, overdue=overdue)

    async def cancel_order(self, symbol: str, client_order_index: int) -> None:
        """Ask the venue to cancel one order; OrderNotFound when it is not resting (filled, cancelled or unknown)."""
        document = await self.with_read_retries(
            "cancel",
            lambda: self._request("DELETE", "/api/v1/order", {"symbol": symbol, "clientId": client_order_index},
                                  instruction="orderCancel"),
        )
        self._after_cancel([document] if isinstance(document, dict) else [])

    async def _cancel_tracked(self, symbol: str, client_order_index: int) -> None:
        """A handle's cancel: an order that is no longer resting is left to its confirmation loop to report."""
        try:
            await self.cancel_order(symbol, client_order_index)
        except OrderNotFound:
            watch = self.confirmations.watches.get(client_order_index)
            if watch is not None:
                watch.wake.set()

    async def cancel_all(self, symbol: str | None = None) -> None:
        """Cancel every resting order (of ``symbol``, or on every market) and return once the venue shows none."""
        symbols = [symbol] if symbol else sorted({order.symbol for order in await self.open_orders()})
        for name in symbols:
            document = await self.with_read_retries(
                "cancel all",
                lambda name=name: self._request("DELETE", "/api/v1/orders", {"symbol": name},
                                                instruction="orderCancelAll"),
            )
            self._after_cancel(document if isinstance(document, list) else [])
        await self.confirmations.verify_cancelled(lambda: self.open_orders(symbol), within_secs=self.cancel_confirm_secs,
                                                  delay=lambda _: 0.1)

    def _after_cancel(self, documents: list[Any]) -> None:
        """Fold cancel answers into the orders being confirmed (a 202 has none) and wake their loops."""
        for document in documents:
            if isinstance(document, dict):
                report = wire.order_report(document)
                self.confirmations.apply_report(report, reason=wire.expiry_reason(document),
                                                info={"status": report.status})
        for watch in self.confirmations.watches.values():
            watch.wake.set()


def _default_ws_url(base_url: str) -> str:
    """The venue's one stream host beside its REST API; another REST host (a paper venue) serves it at ``/ws``."""
    scheme, _, rest = base_url.rstrip("/").partition("://")
    host = rest.split("/", 1)[0]
    if host == "api.backpack.exchange":
        return "wss://ws.backpack.exchange"
    return f"{'wss' if scheme == 'https' else 'ws'}://{host}/ws"
