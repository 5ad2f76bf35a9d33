"""The GRVT connector: API-key sessions, EIP-712 signed orders, and reads of positions, balances, fills and markets.

Every request is a JSON POST. Reads log in with the API key (a session cookie) and never import eth-account; the
signer is loaded the first time an order is signed. An order's outcome always comes from the venue: the create
answer only says "accepted" (usually PENDING), so the confirmation core polls the order by client order id until it
is final. A lost answer follows ``LOST_ANSWER_TABLE``; GRVT's proof of absence: an order that never shows up is fenced
with a client-order-id cancel and counts as absent only once the venue can no longer accept it.

The account stream (``stream``), when up, pushes the same order documents, which confirm whichever comes first.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
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
from hedgectl.connectors.grvt import wire
from hedgectl.connectors.grvt.session import GrvtSessions, _Session
from hedgectl.connectors.lost_answer import LostAnswerEvent
from hedgectl.connectors.stream import StreamingConnector
from hedgectl.decimals import ROUND_CEILING, ROUND_FLOOR, plain
from hedgectl.errors import (
    AmbiguousOutcome,
    ConfigError,
    InvalidOrder,
    OrderNotFound,
    VenueError,
    VenueProtocolError,
)
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

if TYPE_CHECKING:
    from hedgectl.connectors.grvt.signing import LegScale, OrderSigner
    from hedgectl.connectors.stream import AccountStream

logger = logging.getLogger(__name__)


DEFAULT_IOC_EXPIRY_SECS = 15
#: Resting (good-till-time) orders live until cancelled or until their signature expires.
LIMIT_EXPIRY_SECS = 7 * 24 * 3600
#: The venue's cap on a cancel's time-to-live: an order creation with the fenced client order id arriving within it
#: is cancelled before it reaches the matching engine.
FENCE_TTL_MS = 5000
#: How long an accepted order may stay invisible to lookups before it is fenced (creation is asynchronous).
FENCE_AFTER_SECS = 1.0
ABSENCE_GRACE_SECS = 1.0
POLL_FIRST_SECS = 0.05
POLL_MAX_SECS = 1.0
MAX_FILL_PAGES = 10
TRADES_PATH = "/full/v1/"


class GrvtConnector(GrvtSessions, StreamingConnector, Connector):
    """One GRVT trading sub-account, reached with an API key and the private key of the key's signing wallet."""

    venue = wire.VENUE
    client_id_range = wire.GRVT_RANGE

    def __init__(self, config: ConnectorConfig, *, data_dir: Path | None = None, clock: Clock = SYSTEM_CLOCK):
        options = config.options
        environment = options.get("environment") or "prod"
        self.hosts = wire.resolve_hosts(
            config.base_url, environment,
            edge_url=options.get("edge_url"), market_data_url=options.get("market_data_url"),
        )
        self.chain_id: int = options.get("chain_id") or wire.ENVIRONMENTS[environment].chain_id
        self.ioc_expiry_secs: int = options.get("ioc_expiry_secs") or DEFAULT_IOC_EXPIRY_SECS
        self._sub_account_id: int | None = options.get("sub_account_id")
        missing = [name for name in ("api_key", "private_key") if not config.secrets.get(name)]
        if missing:
            raise ConfigError([f"connectors.{config.name}: missing {name}" for name in missing])
        self._api_key: Secret = config.secrets["api_key"]
        self._private_key: Secret = config.secrets["private_key"]
        host = urlsplit(self.hosts.trades).netloc  # the same sub account id on testnet is another account
        if self._sub_account_id is not None:
            self._account_key = f"{host}-{self._sub_account_id}"
        else:
            self._account_key = f"{host}-key-" + hashlib.sha256(self._api_key.reveal().encode()).hexdigest()[:12]
        super().__init__(config, data_dir=data_dir, clock=clock)
        self._http: httpx.AsyncClient | None = None
        self._session: _Session | None = None
        self._login_lock = asyncio.Lock()
        self._instruments: dict[str, wire.Instrument] = {}
        self._signer: OrderSigner | None = None
        self.confirmations = Confirmations(connector=self.name, venue=self.venue, clock=self.clock,
                                           refusal=self._refusal, log=logger)
        # How an order is confirmed and, when it never shows up, proven absent (tests shorten these).
        self.fence_ttl_ms = FENCE_TTL_MS
        self.absence_grace_secs = ABSENCE_GRACE_SECS
        self.poll_first_secs = POLL_FIRST_SECS
        self.poll_max_secs = POLL_MAX_SECS
        #: How long the venue may stay unreadable while an order is confirmed before the outcome is ambiguous.
        self.confirm_patience_secs = max(30.0, 2.0 * self.ioc_expiry_secs)
        #: how long cancel_all waits for the venue to show no open order
        self.cancel_confirm_secs = 5.0
        self._stream_options(options, wire.stream_url(self.hosts.trades))

    def __repr__(self) -> str:
        return f"GrvtConnector(name={self.name!r}, trades={self.hosts.trades!r}, chain_id={self.chain_id})"

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._http is None:
            hosts = (self.hosts.edge, self.hosts.trades, self.hosts.market_data)
            self._http = httpx.AsyncClient(timeout=self.config.timeout_secs, verify=tls_context(*hosts),
                                           headers={"Content-Type": "application/json"})

    @property
    def _tasks(self) -> set[asyncio.Task]:
        return self.confirmations.tasks

    async def close(self) -> None:
        await self.close_stream()
        await self.confirmations.close()
        if self._http is not None:
            client, self._http = self._http, None
            await client.aclose()

    @property
    def landing_horizon_secs(self) -> float:
        """A market order's signature expires ``ioc_expiry_secs`` after signing; the venue refuses it after that."""
        return self.ioc_expiry_secs + 1.0

    def account_key(self) -> str:
        return self._account_key

    async def check(self) -> None:
        await self.balance()

    async def prepare(self, symbol: str) -> MarketRules:
        rules = await self.market_rules(symbol)
        self._order_signer()
        await self._ensure_session()
        self.open_stream()
        return rules

    # --- account stream: an accelerator beside the REST reads, never the only truth -----------------------------

    def _new_stream(self) -> AccountStream:
        from hedgectl.connectors.grvt.stream import GrvtAccountStream

        return GrvtAccountStream(self, self.ws_url, clock=self.clock)

    async def stream_headers(self) -> dict[str, str]:
        return await self._auth_headers()

    async def stream_sub_account(self) -> int:
        return await self._sub_account()

    async def _trades(self, name: str, body: dict[str, Any], what: str, **kwargs: Any) -> Any:
        return await self._post(self.hosts.trades + TRADES_PATH + name, body, auth=True, what=what, **kwargs)

    async def _market_data(self, name: str, body: dict[str, Any], what: str) -> Any:
        return await self._post(self.hosts.market_data + TRADES_PATH + name, body, auth=False, what=what)

    async def _read(self, what: str, read: Any) -> Any:
        return await self.with_read_retries(what, read)

    # --- market data -------------------------------------------------------------------------------------------

    async def _instrument(self, symbol: str) -> wire.Instrument:
        instrument = self._instruments.get(symbol)
        if instrument is None:
            await self.market_rules(symbol)
            instrument = self._instruments[symbol]
        return instrument

    async def fetch_market_rules(self, symbol: str) -> MarketRules:
        document = await self._read(
            f"instrument {symbol}", lambda: self._market_data("instrument", {"instrument": symbol}, "instrument")
        )
        instrument = wire.instrument(wire.result(document, dict, "instrument"))
        if instrument.symbol != symbol:
            raise VenueProtocolError(f"asked for {symbol}, the venue described {instrument.symbol}",
                                     venue=self.venue, connector=self.name)
        self._instruments[symbol] = instrument
        return instrument.rules()

    async def top_of_book(self, symbol: str) -> TopOfBook:
        document = await self._read(
            f"ticker {symbol}", lambda: self._market_data("ticker", {"instrument": symbol}, "ticker")
        )
        return wire.top_of_book(wire.result(document, dict, "ticker"))

    # --- account -----------------------------------------------------------------------------------------------

    async def positions(self) -> list[Position]:
        sub_account = await self._sub_account()
        document = await self._read("positions", lambda: self._trades(
            "positions", {"sub_account_id": str(sub_account), "kind": ["PERPETUAL"]}, "positions"))
        rows = wire.result(document, list, "positions")
        positions = [wire.position(row, connector=self.name) for row in rows]
        return [position for position in positions if position.signed_size != 0]

    async def balance(self) -> Balance:
        sub_account = await self._sub_account()
        document = await self._read("account summary", lambda: self._trades(
            "account_summary", {"sub_account_id": str(sub_account)}, "account summary"))
        return wire.balance(wire.result(document, dict, "account summary"), connector=self.name)

    async def fills(self, symbol: str | None = None, *, since: float | None = None) -> list[Fill]:
        sub_account = await self._sub_account()
        body: dict[str, Any] = {"sub_account_id": str(sub_account), "kind": ["PERPETUAL"], "limit": 1000}
        if since is not None:
            body["start_time"] = str(wire.nanos(since))
        rows: list[Any] = []
        for _ in range(MAX_FILL_PAGES):
            document = await self._read("fill history",
                                        functools.partial(self._trades, "fill_history", dict(body), "fills"))
            page = wire.result(document, list, "fill history")
            rows.extend(page)
            cursor = document.get("next")
            if not page or not cursor:
                break
            body["cursor"] = cursor
        fills = [wire.fill(row) for row in rows]
        return sorted((fill for fill in fills if symbol is None or fill.symbol == symbol), key=lambda fill: fill.at)

    # --- orders ------------------------------------------------------------------------------------------------

    def _order_signer(self) -> OrderSigner:
        if self._signer is None:
            from hedgectl.connectors.grvt.signing import OrderSigner

            try:
                self._signer = OrderSigner(self._private_key.reveal(), self.chain_id)
            except ValueError as exc:
                raise ConfigError(f"connectors.{self.name}: {exc}") from None
        return self._signer

    def _scale_of(self, symbol: str) -> LegScale:
        from hedgectl.connectors.grvt.signing import LegScale

        instrument = self._instruments[symbol]
        return LegScale(instrument.asset_id, instrument.base_decimals)

    async def _slippage_bound(self, intent: OrderIntent, rules: MarketRules, max_slippage: Decimal) -> Decimal:
        book = await self.top_of_book(intent.symbol)
        best = book.ask if intent.side is Side.BUY else book.bid
        if best is None:
            raise InvalidOrder(f"{intent.symbol}: no {'ask' if intent.side is Side.BUY else 'bid'} to bound a market "
                               f"order by", venue=self.venue, connector=self.name)
        # rounding toward the book keeps the bound within the tolerance asked for
        if intent.side is Side.BUY:
            return rules.quantize_price(best * (1 + max_slippage), ROUND_FLOOR)
        return rules.quantize_price(best * (1 - max_slippage), ROUND_CEILING)

    async def _order_document(self, intent: OrderIntent, max_slippage: Decimal | None) -> tuple[dict[str, Any], int]:
        rules = await self.market_rules(intent.symbol)
        await self._instrument(intent.symbol)
        sub_account = await self._sub_account()
        leg: dict[str, Any] = {"instrument": intent.symbol, "size": plain(intent.size),
                               "is_buying_asset": intent.side is Side.BUY}
        if intent.order_type is OrderType.LIMIT:
            is_market, time_in_force, expiry = False, "GOOD_TILL_TIME", LIMIT_EXPIRY_SECS
            leg["limit_price"] = plain(intent.price)
        elif max_slippage is not None:
            # a market order with a worst price is an immediate-or-cancel limit order at that price
            is_market, time_in_force, expiry = False, "IMMEDIATE_OR_CANCEL", self.ioc_expiry_secs
            leg["limit_price"] = plain(await self._slippage_bound(intent, rules, max_slippage))
        else:
            is_market, time_in_force, expiry = True, "IMMEDIATE_OR_CANCEL", self.ioc_expiry_secs
        now = self.clock.now()
        order = {
            "sub_account_id": str(sub_account),
            "is_market": is_market,
            "time_in_force": time_in_force,
            "post_only": intent.post_only,
            "reduce_only": intent.reduce_only,
            "legs": [leg],
            # create_time is the venue's to fill in (grvt-pysdk OrderMetadata), and no chain id goes in the
            # signature object: it is part of the signed EIP-712 domain
            "metadata": {"client_order_id": str(intent.client_order_index)},
        }
        expires_ns = wire.nanos(now + expiry)
        nonce = secrets.randbelow(2**32 - 1) + 1
        order["signature"] = self._order_signer().sign(order, nonce, expires_ns, self._scale_of)
        return order, expires_ns

    async def submit_order(
        self,
        intent: OrderIntent,
        *,
        max_slippage: Decimal | None = None,
        listeners: list[TransitionListener] | None = None,
    ) -> TrackingMarketOrder | TrackingLimitOrder:
        tracker = OrderTracker(intent, listeners=listeners)
        index = intent.client_order_index
        try:
            order, expires_ns = await self._order_document(intent, max_slippage)
        except (VenueError, ConfigError) as exc:
            tracker.apply(OrderEvent.REJECT, reason=str(exc), error=exc if isinstance(exc, VenueError) else None)
            raise
        tracker.apply(OrderEvent.SUBMIT, info={"time_in_force": order["time_in_force"],
                                               "limit_price": order["legs"][0].get("limit_price"),
                                               "signature_expires_at": expires_ns / wire.NANOS_PER_SECOND})
        logger.info("%s: create %s %s %s %s (client order %d)", self.name, order["time_in_force"], intent.side.value,
                    plain(intent.size), intent.symbol, index)
        # a report the stream pushes before the create answer is read is held until it is
        watch = self.confirmations.watch(tracker, listeners=listeners or (), verdict_read=False)
        try:
            document = await self._trades("create_order", {"order": order}, "create order", order_index=index)
        except AmbiguousOutcome as exc:
            logger.warning("%s: %s; resolving client order %d at the venue", self.name, exc.message, index)
            tracker.apply(OrderEvent.LOSE_ANSWER, reason=exc.message, error=exc)
            watch.lose(self.name, exc.message)
        except VenueError as exc:
            tracker.apply(OrderEvent.REJECT, reason=str(exc), error=exc)
            self.confirmations.forget(watch)
            raise
        except asyncio.CancelledError:
            self.confirmations.forget(watch)
            raise
        else:
            try:
                self._apply_document(watch, wire.result(document, dict, "create order"))
            except VenueProtocolError as exc:
                tracker.apply(OrderEvent.LOSE_ANSWER, reason=exc.message, error=exc)
                watch.lose(self.name, exc.message)
            if tracker.state is OrderState.FAILED:
                self.confirmations.forget(watch)
                raise tracker.snapshot().error
        self.confirmations.verdict_read(watch)
        task = self.confirmations.spawn(self._follow(watch, expires_ns, time_in_force=order["time_in_force"]),
                                        name=f"grvt-confirm-{index}", watch=watch)
        return self.confirmations.handle(tracker, task, canceller=lambda: self._cancel_tracked(intent.symbol, index))

    def _refusal(self, report: OrderReport, reason: str | None) -> tuple[VenueError, str] | None:
        """A REJECTED order with nothing filled is refused, for its reject reason."""
        status, _, reject_reason = report.status.partition(":")
        if status != "REJECTED":
            return None
        reject_reason = reject_reason or "UNSPECIFIED"
        error = wire.reject_error({"state": {"status": status, "reject_reason": reject_reason}}, connector=self.name)
        return error, reject_reason

    def _apply_document(self, watch: Watch, document: dict[str, Any]) -> None:
        """Apply a venue order document to the watched order."""
        report = wire.order_report(document)
        if report.client_order_index != watch.client_order_index:
            raise VenueProtocolError(f"answer is for client order {report.client_order_index}, expected "
                                     f"{watch.client_order_index}", venue=self.venue, connector=self.name)
        _, reason = wire.order_status(document)
        self.confirmations.apply_to(watch, report, reason=reason if report.done else None)

    async def _lookup(self, client_order_index: int) -> dict[str, Any] | None:
        sub_account = await self._sub_account()
        try:
            document = await self._trades(
                "order", {"sub_account_id": str(sub_account), "client_order_id": str(client_order_index)},
                "order lookup")
        except OrderNotFound:
            return None
        return wire.result(document, dict, "order lookup")

    async def _fence(self, client_order_index: int) -> None:
        """Cancel by client order id with the longest time-to-live, so a creation still in flight cannot land."""
        sub_account = await self._sub_account()
        await self._trades("cancel_order", {"sub_account_id": str(sub_account),
                                            "client_order_id": str(client_order_index),
                                            "time_to_live_ms": str(self.fence_ttl_ms)}, "fencing cancel")

    async def _follow(self, watch: Watch, expires_ns: int, *, time_in_force: str) -> None:
        """Poll the order by client order id until the venue reports it final (or proves it absent)."""
        tracker = watch.tracker
        index = watch.client_order_index
        started = self.clock.monotonic()
        fenced_at: float | None = None

        async def step() -> None:
            nonlocal fenced_at
            document = await self._lookup(index)
            if document is not None:
                self._apply_document(watch, document)
                return
            if tracker.snapshot().filled_size > 0:
                return
            overdue = self.clock.monotonic() - started > FENCE_AFTER_SECS
            if fenced_at is None and (tracker.state is OrderState.UNKNOWN or overdue):
                try:
                    await self._fence(index)
                    fenced_at = self.clock.now()
                except VenueError as exc:
                    logger.info("%s: fencing cancel failed (%s); retrying", self.name, exc)
                return
            if fenced_at is not None and self.clock.now() > self._absent_after(expires_ns, fenced_at, time_in_force):
                logger.warning("%s: client order %d is not at the venue; it can no longer be accepted", self.name,
                               index)
                reason = "absent at the venue after its fence and expiry"
                if watch.lost is not None:
                    watch.lost.apply(LostAnswerEvent.PROVE_ABSENT, reason)
                self.confirmations.refuse(watch, None, reason=reason)

        await self.confirmations.poll(watch, step, delay=lambda round_: min(self.poll_first_secs * 1.5**round_,
                                                                              self.poll_max_secs),
                                      patience_secs=self.confirm_patience_secs)

    def _absent_after(self, expires_ns: int, fenced_at: float, time_in_force: str) -> float:
        """When an order never seen at the venue is proven unable to land there: once the fence has run its course
        and, for an immediate-or-cancel order, once its signature has expired (the venue refuses it after that)."""
        fence_end = fenced_at + self.fence_ttl_ms / 1000
        if time_in_force == "GOOD_TILL_TIME":
            return fence_end + self.absence_grace_secs
        return max(fence_end, expires_ns / wire.NANOS_PER_SECOND) + self.absence_grace_secs

    async def cancel_order(self, symbol: str, client_order_index: int) -> None:
        sub_account = await self._sub_account()
        body = {"sub_account_id": str(sub_account), "client_order_id": str(client_order_index)}
        await self._read("cancel order", lambda: self._trades("cancel_order", body, "cancel order"))

    async def _cancel_tracked(self, symbol: str, client_order_index: int) -> None:
        """A handle's cancel: the order's confirmation reads the venue at once rather than at its next poll."""
        try:
            await self.cancel_order(symbol, client_order_index)
        finally:
            watch = self.confirmations.watches.get(client_order_index)
            if watch is not None:
                watch.wake.set()

    async def cancel_all(self, symbol: str | None = None) -> None:
        """Cancel every open order (of ``symbol``, or on every market) and return once the venue lists none."""
        sub_account = await self._sub_account()
        body: dict[str, Any] = {"sub_account_id": str(sub_account), "kind": ["PERPETUAL"]}
        if symbol is not None:
            instrument = await self._instrument(symbol)
            body["base"], body["quote"] = [instrument.base], [instrument.quote]
        await self._read("cancel all", lambda: self._trades("cancel_all_orders", body, "cancel all"))
        await self.confirmations.verify_cancelled(lambda: self.open_orders(symbol), within_secs=self.cancel_confirm_secs,
                                                  delay=lambda round_: min(POLL_FIRST_SECS * 1.5**round_,
                                                                           self.poll_max_secs))

    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        sub_account = await self._sub_account()
        document = await self._read("open orders", lambda: self._trades(
            "open_orders", {"sub_account_id": str(sub_account), "kind": ["PERPETUAL"]}, "open orders"))
        reports = [wire.order_report(row) for row in wire.result(document, list, "open orders")]
        return [report for report in reports if symbol is None or report.symbol == symbol]

    async def find_order(self, symbol: str, client_order_index: int) -> OrderReport | None:
        document = await self._read("order lookup", lambda: self._lookup(client_order_index))
        return None if document is None else wire.order_report(document)
