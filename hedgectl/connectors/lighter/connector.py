"""The Lighter connector: reads over plain HTTP, transactions signed and sent through lighter-sdk, nonces owned here.

Read-only paths (positions, balance, market rules, book, nonce show) never load the SDK. Authenticated reads
(orders, trades) need an auth token from the signer, which loads it on first use. Orders are confirmed from the
venue (accountOrders by client order index, then trades), never from "sendTx answered 200".

Nonces: one slot per (venue, account, api key) shared by the process, used under its lock. In the default
"optimistic" mode the nonce is fetched once (in ``prepare``) and counted locally, so the order path does no nonce
fetch; "api" mode fetches it before every transaction. A refusal with 21104 re-reads the nonce from the venue and
sends again (bounded). A lost answer (timeout, dropped connection, 5xx, 429) is resolved before anything is sent
again: the client order index is looked up, then the venue's next nonce. When the venue's next nonce is still the
lost transaction's nonce, the order is sent again with that SAME nonce and the same client order index: at most one
transaction per nonce can ever execute, so a late arrival of the lost one and the new one exclude each other and no
duplicate is possible (should the venue refuse the new one otherwise than by 21104, the lost one may still run, so
the order stays UNKNOWN). A consumed nonce was used by the lost transaction or by another user of the key, and the
venue's indexes may lag its sequencer by seconds: only when, ``consumed_settle_secs`` after the nonce was first
seen used, neither the order (by client order index), nor the transaction (by hash), nor a trade of it since the
send shows at the venue, and the position still reads exactly as it did before the send (a market order that ran
would have moved it; the records may trail for longer than any settle time) does the order go out again, with the
venue's next nonce. The position before the send comes from the connector's own position reads, ``prepare`` among
them, moved by its own orders' fills (``PositionMarks``), so no read sits on the critical path. A 21104 on the
resend of a lost order is the same case. If the venue cannot be asked, or does not settle it in time, the order
stays UNKNOWN (AmbiguousOutcome) and is not resent.
Fills are never inferred from positions; the position only vouches that a lost order did not run.

Market orders carry a worst-price bound in integer ticks: the best ask (buy) or bid (sell) of a recent book moved
by ``max_slippage`` and rounded towards the touch. The book is the one ``prepare`` or ``top_of_book`` read last;
only when it is older than ``book_max_age_secs`` is it read again on the order path. Keep ``max_slippage`` modest:
the venue refuses a market sell whose bound is far below mark (21733, mapped to InvalidOrder).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.connectors.base import Balance, Connector, Fill, MarketRules, OrderReport, Position, TopOfBook
from hedgectl.connectors.lighter.nonces import NonceFile, nonce_slot
from hedgectl.connectors.lighter.rest import LighterRest
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
    error_for_code,
    int_field,
    is_not_found,
    is_working,
    list_field,
    to_units,
    tx_failure_reason,
    tx_outcome,
)
from hedgectl.connectors.marks import Baseline, PositionMarks, moved_since
from hedgectl.connectors.stream import PushedReports
from hedgectl.connectors.tasks import collect_task
from hedgectl.decimals import ROUND_DOWN, ROUND_FLOOR, ZERO, plain, step_of_decimals
from hedgectl.errors import (
    AmbiguousOutcome,
    AuthError,
    BelowMinimumSize,
    ConfigError,
    InsufficientMargin,
    InvalidOrder,
    NonceMismatch,
    OrderNotFound,
    OrderStateError,
    RateLimited,
    VenueError,
    VenueProtocolError,
    VenueTimeout,
    VenueUnavailable,
)
from hedgectl.execution.client_ids import LIGHTER_RANGE, ClientIdAllocator
from hedgectl.execution.orders import (
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
    from hedgectl.config.model import ConnectorConfig
    from hedgectl.connectors.lighter.signer import LighterSigner, SendResult, SignedTx
    from hedgectl.connectors.lighter.stream import LighterAccountStream

logger = logging.getLogger(__name__)

DEFAULT_MAX_SLIPPAGE = Decimal("0.01")
#: Delays between reads that confirm a market order; the first read goes out as soon as sendTx answers.
CONFIRM_DELAYS = (0.0, 0.02, 0.03, 0.05, 0.1, 0.1, 0.2, 0.2, 0.3, 0.5)
#: Delays between reads that resolve a lost answer (order lookup, tx lookup, next nonce).
RESOLVE_DELAYS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
#: The longest the first confirming read waits for the venue's predicted execution time.
FIRST_CONFIRM_MAX_DELAY = 0.2
LIMIT_POLL_SECS = 0.5
#: How long a transaction signed ahead by ``presign`` may be sent instead of signing afresh.
PRESIGNED_MAX_AGE_SECS = 60.0
TRADES_PAGE = 100
MAX_TRADE_PAGES = 20
#: How far before its first send a lost order's trades are looked for (the venue's clock against ours).
LOST_TRADES_CLOCK_MARGIN_SECS = 5.0


@dataclass(frozen=True)
class LighterMarket:
    """A Lighter market: the venue-neutral rules plus what signing needs (market id, decimals) and fee rates."""

    rules: MarketRules
    market_id: int
    size_decimals: int
    price_decimals: int
    taker_fee: Decimal  # fraction of notional
    maker_fee: Decimal


@dataclass(frozen=True)
class NonceStatus:
    """What ``nonce show`` prints: the venue's next nonce beside this process's and the last one recorded locally."""

    account_index: int
    api_key_index: int
    server_next: int
    local_next: int | None
    persisted_last_used: int | None


@dataclass(frozen=True)
class NonceRefresh:
    api_key_index: int
    before: int | None
    after: int

    @property
    def changed(self) -> bool:
        return self.before != self.after


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
    #: submit_order has read the send's verdict: a pushed report may end the order only after that
    handed_over: asyncio.Event = field(default_factory=asyncio.Event)

    def wire_fields(self) -> tuple:
        """What the signature covers besides the nonce: two plans with equal fields sign the same transaction."""
        return (self.intent, self.market.market_id, self.base_amount, self.price, self.order_type,
                self.time_in_force, self.order_expiry)


class LighterConnector(Connector):
    """One Lighter account and api key (options: account_index, api_key_index, chain_id, nonce_manager)."""

    venue = VENUE
    client_id_range = LIGHTER_RANGE

    def __init__(self, config: ConnectorConfig, *, data_dir: Path | None = None, clock: Clock = SYSTEM_CLOCK):
        options = config.options
        try:
            self.account_index = int(options["account_index"])
            self.api_key_index = int(options["api_key_index"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"connectors.{config.name}: account_index and api_key_index must be integers") from None
        super().__init__(config, data_dir=data_dir, clock=clock)
        self.client_ids = _shared_allocator(config.base_url, self.account_index, self.client_ids)
        chain_id = options.get("chain_id")
        self.chain_id = int(chain_id) if chain_id is not None else None
        self.nonce_mode = options.get("nonce_manager") or "optimistic"
        if self.nonce_mode not in ("optimistic", "api"):
            raise ConfigError(f"connectors.{config.name}.nonce_manager: 'optimistic' or 'api', not {self.nonce_mode!r}")
        self.base_url = config.base_url.rstrip("/")
        self.timeout = float(config.timeout_secs)
        self.default_max_slippage = DEFAULT_MAX_SLIPPAGE
        self.book_max_age_secs = 10.0
        self.max_send_attempts = 3
        self.max_nonce_retries = 5
        self.confirm_timeout_secs = max(15.0, 3 * self.timeout)
        self.resolve_timeout_secs = max(5.0, 2 * self.timeout)
        #: how long a consumed nonce must show no trace of a lost order before it counts as someone else's; the
        #: venue's order, transaction and trade indexes can lag its sequencer by seconds
        self.consumed_settle_secs = 5.0
        self._rest = LighterRest(self.base_url, timeout=self.timeout, connector=self.name,
                                 on_latency=self._record_latency)
        self._nonce = nonce_slot(self.base_url, self.account_index, self.api_key_index)
        self._nonce_file = NonceFile(data_dir, self.account_key(), self.api_key_index) if data_dir else None
        self._markets: dict[str, LighterMarket] = {}
        self._markets_by_id: dict[int, LighterMarket] = {}
        self._books: dict[str, TopOfBook] = {}
        self._marks = PositionMarks()
        self._signer: LighterSigner | None = None
        self._signer_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        #: client order index -> (the plan's wire fields, the signed transaction, when it was signed)
        self._presigned: dict[int, tuple[tuple, SignedTx, float]] = {}
        self.ws_url = options.get("ws_url") or _default_ws_url(self.base_url)
        self.streams_enabled = options.get("streams", True) is not False
        self.stream: LighterAccountStream | None = None
        #: the orders in flight the account stream can confirm (whichever of push and REST read comes first)
        self.pushed_reports = PushedReports()

    def __repr__(self) -> str:
        return f"LighterConnector({self.name!r}, account={self.account_index}, api_key={self.api_key_index})"

    @property
    def landing_horizon_secs(self) -> float:
        """A transaction whose answer was lost can be sequenced late, and the venue's order index lags its
        sequencer by up to ``consumed_settle_secs``: twice that before absence counts."""
        return 2 * self.consumed_settle_secs

    def account_key(self) -> str:
        # the host is part of it: the same account index on testnet, mainnet or a paper venue is another account
        return f"{urlsplit(self.config.base_url).netloc}-{self.account_index}"

    def _record_latency(self, milliseconds: float) -> None:
        self.last_latency_ms = milliseconds

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            await stream.close()
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except BaseException:  # cancelled or failed: the holder of the handle sees the outcome, not close()
                pass
        self._persist_nonce()
        signer, self._signer = self._signer, None
        if signer is not None:
            await signer.close()
        await self._rest.close()

    async def _ensure_signer(self) -> LighterSigner:
        """The SDK's signer for this account, built inside the running loop on first use."""
        if self._signer is not None:
            return self._signer
        async with self._signer_lock:
            if self._signer is None:
                private_key = self.config.secrets.get("private_key")
                if not private_key:
                    raise ConfigError(f"connectors.{self.name}: missing private_key")
                from hedgectl.connectors.lighter.signer import LighterSigner

                self._signer = LighterSigner(
                    self.base_url,
                    self.account_index,
                    self.api_key_index,
                    private_key,
                    chain_id=self.chain_id,
                    connector=self.name,
                )
        return self._signer

    async def prepare(self, symbol: str) -> MarketRules:
        """Rules, signer, auth token, nonce and a fresh book for ``symbol``: the order path then does no extra I/O;
        and a position reading, which a lost order's absence is proven against when the venue's records lag."""
        rules = await self.market_rules(symbol)
        try:
            await self.positions()
        except VenueError as exc:
            logger.info("%s: no position reading before orders (%s); a lost answer whose nonce another user may "
                        "have taken will stay unknown", self.name, exc)
        signer = await self._ensure_signer()
        signer.auth_token()
        async with self._nonce.lock():
            # read through the SDK's own HTTP session, so its connection to the venue is open before the first send
            # the venue is the truth: if another user of the key moved it, we learn it here rather than by a 21104
            # on the order path
            self._nonce.next_nonce = await signer.fetch_next_nonce(timeout=self.timeout)
        await self.top_of_book(symbol)
        self.open_stream()
        return rules

    # --- account stream: an accelerator beside the REST reads, never the only truth -----------------------------

    def open_stream(self) -> None:
        """Start the account stream (unless disabled); it connects, reconciles and is trusted in the background."""
        if not self.streams_enabled or self.stream is not None:
            return
        from hedgectl.connectors.lighter.stream import LighterAccountStream

        self.stream = LighterAccountStream(self, self.ws_url, auth_token=self._stream_auth_token, clock=self.clock)
        self.stream.start()

    @property
    def streaming(self) -> bool:
        return self.stream is not None and self.stream.up

    async def _stream_auth_token(self) -> str:
        signer = await self._ensure_signer()
        return signer.auth_token()

    def known_markets(self) -> dict[str, LighterMarket]:
        return dict(self._markets)

    def pushed_order(self, order: dict[str, Any]) -> bool:
        """Read an order the stream pushed into the report the REST read makes, for the order in flight it names."""
        try:
            report = self._report(order)
        except (VenueError, ValueError, TypeError, ArithmeticError):
            return False
        if not ZERO <= report.filled_size <= report.size:
            return False
        return self.pushed_reports.offer(report)

    async def check(self) -> None:
        """The account exists, the venue knows our api key, and an authenticated read is accepted."""
        await self.with_read_retries("account", self._account)
        signer = await self._ensure_signer()
        await signer.check_key(timeout=self.timeout)
        await self.with_read_retries("trades", lambda: self._auth_get("trades", {
            "account_index": self.account_index, "sort_by": "timestamp", "limit": 1,
        }))

    # --- market data -----------------------------------------------------------------------------------------

    async def _load_markets(self) -> None:
        """Every market's details in one read (symbol -> market id, decimals, minimums, fees)."""
        document = await self.with_read_retries("orderBookDetails", lambda: self._rest.get("orderBookDetails", {}))
        for detail in list_field(document, "order_book_details"):
            market = _market_from_detail(detail)
            self._markets[market.rules.symbol] = market
            self._markets_by_id[market.market_id] = market
            self._rules.setdefault(market.rules.symbol, market.rules)

    async def fetch_market_rules(self, symbol: str) -> MarketRules:
        await self._load_markets()
        market = self._markets.get(symbol)
        if market is None:
            known = ", ".join(sorted(self._markets)) or "none"
            raise InvalidOrder(f"unknown symbol {symbol!r} (markets: {known})", venue=VENUE, connector=self.name)
        return market.rules

    async def market(self, symbol: str) -> LighterMarket:
        market = self._markets.get(symbol)
        if market is None:
            await self.market_rules(symbol)
            market = self._markets[symbol]
        return market

    async def top_of_book(self, symbol: str) -> TopOfBook:
        market = await self.market(symbol)
        document = await self.with_read_retries(
            "orderBookOrders", lambda: self._rest.get("orderBookOrders", {"market_id": market.market_id, "limit": 1})
        )
        bids, asks = list_field(document, "bids"), list_field(document, "asks")
        book = TopOfBook(
            symbol=symbol,
            bid=decimal_field(bids[0], "price") if bids else None,
            bid_size=decimal_field(bids[0], "remaining_base_amount") if bids else None,
            ask=decimal_field(asks[0], "price") if asks else None,
            ask_size=decimal_field(asks[0], "remaining_base_amount") if asks else None,
        )
        self._books[symbol] = book
        return book

    async def _recent_book(self, symbol: str) -> TopOfBook:
        book = self._books.get(symbol)
        if book is None or self.clock.now() - book.at > self.book_max_age_secs:
            logger.info("%s: book of %s is missing or stale, reading it on the order path", self.name, symbol)
            book = await self.top_of_book(symbol)
        return book

    # --- account ---------------------------------------------------------------------------------------------

    async def _account(self) -> dict[str, Any]:
        document = await self._rest.get("account", {"by": "index", "value": self.account_index})
        accounts = list_field(document, "accounts")
        if not accounts:
            raise AuthError(f"account {self.account_index} not found", venue=VENUE, connector=self.name)
        return accounts[0]

    async def positions(self) -> list[Position]:
        """Every open position, named by its market (matched by market id, never by the position's own text)."""
        before = self._marks.before_read()
        account = await self.with_read_retries("account", self._account)
        entries = list_field(account, "positions", required=True)
        if any(int_field(entry, "market_id") not in self._markets_by_id for entry in entries):
            await self._load_markets()  # not read yet in this process, or listed since
        positions = []
        for entry in entries:
            size = decimal_field(entry, "position")
            if size == 0:
                continue
            sign = int_field(entry, "sign")
            if sign not in (1, -1):
                raise VenueProtocolError(f"position sign {sign} is neither 1 nor -1", venue=VENUE, connector=self.name)
            market = self._markets_by_id.get(int_field(entry, "market_id"))
            if market is None:
                raise VenueProtocolError(f"position in market {entry.get('market_id')}, which the venue does not list",
                                         venue=VENUE, connector=self.name)
            value = decimal_field(entry, "position_value", required=False)
            mark = value / size if value is not None else None
            if mark is not None:
                mark = market.rules.quantize_price(mark, ROUND_FLOOR)
            liquidation = decimal_field(entry, "liquidation_price", required=False)
            positions.append(
                Position(
                    connector=self.name,
                    venue=VENUE,
                    symbol=market.rules.symbol,
                    signed_size=sign * size,
                    entry_price=decimal_field(entry, "avg_entry_price", required=False),
                    mark_price=mark,
                    unrealized_pnl=decimal_field(entry, "unrealized_pnl", required=False),
                    realized_pnl=decimal_field(entry, "realized_pnl", required=False),
                    liquidation_price=liquidation if liquidation else None,
                )
            )
        self._marks.observe(before, {position.symbol: position.signed_size for position in positions}, self._rules)
        return positions

    async def balance(self) -> Balance:
        account = await self.with_read_retries("account", self._account)
        return Balance(
            connector=self.name,
            venue=VENUE,
            asset="USDC",
            equity=decimal_field(account, "total_asset_value"),
            available=decimal_field(account, "available_balance"),
            collateral=decimal_field(account, "collateral", required=False),
        )

    async def fills(self, symbol: str | None = None, *, since: float | None = None) -> list[Fill]:
        """The account's executions, oldest first: the last page of trades, or every one back to ``since``."""
        params: dict[str, Any] = {"account_index": self.account_index}
        if symbol is not None:
            params["market_id"] = (await self.market(symbol)).market_id
        elif not self._markets:
            await self._load_markets()
        trades, _ = await self._trades_back_to(params, since)
        if any(int_field(trade, "market_id") not in self._markets_by_id for trade in trades):
            await self._load_markets()  # a market listed since the rules were read
        fills = [fill for fill in (self._fill_from_trade(trade) for trade in trades) if fill is not None]
        if since is not None:
            fills = [fill for fill in fills if fill.at >= since]
        fills.sort(key=lambda item: item.at)
        return fills

    async def _trades_back_to(self, params: dict[str, Any], since: float | None) -> tuple[list[dict[str, Any]], bool]:
        """The account's trades, newest first: one page, or pages back to ``since`` (epoch seconds); and whether they
        reach back that far (or to the account's first trade)."""
        params = {**params, "sort_by": "timestamp", "sort_dir": "desc", "limit": TRADES_PAGE}
        trades: list[dict[str, Any]] = []
        for _ in range(MAX_TRADE_PAGES):
            document = await self.with_read_retries("trades", lambda p=dict(params): self._auth_get("trades", p))
            page = list_field(document, "trades", required=True)
            trades.extend(page)
            oldest = _seconds(page[-1].get("timestamp")) if page else None
            reached = len(page) < TRADES_PAGE or (since is not None and oldest is not None and oldest < since)
            cursor = document.get("next_cursor")
            if since is None or reached or not cursor:
                return trades, reached
            params["cursor"] = cursor
        return trades, False

    def _fill_from_trade(self, trade: dict[str, Any]) -> Fill | None:
        if trade.get("bid_account_id") == self.account_index:
            side = Side.BUY
        elif trade.get("ask_account_id") == self.account_index:
            side = Side.SELL
        else:
            return None
        market = self._markets_by_id.get(int_field(trade, "market_id"))
        if market is None:
            raise VenueProtocolError(f"trade in unknown market {trade.get('market_id')}", venue=VENUE,
                                     connector=self.name)
        size = decimal_field(trade, "size")
        price = decimal_field(trade, "price")
        notional = decimal_field(trade, "usd_amount", required=False) or size * price
        is_maker_ask = bool(trade.get("is_maker_ask"))
        maker = (side is Side.SELL) == is_maker_ask
        kind = {"liquidation": "liquidation", "deleverage": "adl"}.get(str(trade.get("type") or "trade"), "trade")
        client_id = trade.get("bid_client_id" if side is Side.BUY else "ask_client_id")
        order_id = trade.get("bid_id" if side is Side.BUY else "ask_id")
        return Fill(
            symbol=market.rules.symbol,
            side=side,
            size=size,
            price=price,
            # the venue's fee rate for our role; trades carry no fee amount of their own
            fee=ZERO if kind != "trade" else notional * (market.maker_fee if maker else market.taker_fee),
            kind=kind,
            at=_seconds(trade.get("timestamp")),
            order_id=str(order_id) if order_id is not None else None,
            client_order_index=client_id if isinstance(client_id, int) and client_id > 0 else None,
        )

    # --- authenticated reads ---------------------------------------------------------------------------------

    async def _auth_get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        signer = await self._ensure_signer()
        try:
            return await self._rest.get(endpoint, params, auth_token=signer.auth_token())
        except AuthError:
            # a token the venue no longer accepts (its clock, a restart): one fresh token, once
            signer.forget_auth_token()
            return await self._rest.get(endpoint, params, auth_token=signer.auth_token())

    async def _orders_by_client_index(self, client_order_index: int, market_id: int | None = None
                                      ) -> list[dict[str, Any]]:
        """The account's orders with this client order index (in ``market_id``, when given). An order is identified
        by market and client order index alone: the meaning of the records' ``nonce`` field is not documented."""
        document = await self._auth_get(
            "accountOrders",
            {"account_index": self.account_index, "client_order_indexes": str(client_order_index)},
        )
        # integers read leniently ("7" is 7): a strict comparison would take a record served with another JSON type
        # for an absent order, the direction that can send an order twice; an unreadable one raises (unknown)
        return [
            order for order in list_field(document, "orders", required=True)
            if int_field(order, "client_order_index") == client_order_index
            and (market_id is None or order.get("market_index") is None
                 or int_field(order, "market_index") == market_id)
        ]

    def _report(self, order: dict[str, Any]) -> OrderReport:
        market = self._markets_by_id.get(int_field(order, "market_index"))
        symbol = market.rules.symbol if market else str(order.get("market_symbol") or order.get("market_index"))
        filled = decimal_field(order, "filled_base_amount")
        quote = decimal_field(order, "filled_quote_amount", required=False)
        status = str(order.get("status") or "")
        index = order.get("client_order_index")
        created = order.get("created_at") or order.get("timestamp")
        return OrderReport(
            client_order_index=index if isinstance(index, int) else None,
            venue_order_id=str(order.get("order_index")) if order.get("order_index") is not None else None,
            symbol=symbol,
            side=Side.SELL if order.get("is_ask") else Side.BUY,
            size=decimal_field(order, "initial_base_amount"),
            filled_size=filled,
            done=not is_working(status),
            status=status,
            average_price=(quote / filled) if quote and filled else None,
            price=decimal_field(order, "price", required=False),
            reduce_only=bool(order.get("reduce_only")),
            created_at=_seconds(created) if created else None,
        )

    async def find_order(self, symbol: str, client_order_index: int) -> OrderReport | None:
        await self.market(symbol)
        orders = await self.with_read_retries(
            "accountOrders", lambda: self._orders_by_client_index(client_order_index)
        )
        if not orders:
            return None
        # the same client order index may be reused once an order is final; the newest is the one asked about
        return self._report(max(orders, key=lambda order: int(order.get("order_index") or 0)))

    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        if symbol is not None:
            market_ids = [(await self.market(symbol)).market_id]
        else:
            if not self._markets:
                await self._load_markets()
            account = await self.with_read_retries("account", self._account)
            market_ids = [
                int_field(entry, "market_id")
                for entry in list_field(account, "positions", required=True)
                if int(entry.get("open_order_count") or 0) > 0
            ]
        reports = []
        for market_id in market_ids:
            document = await self.with_read_retries("accountActiveOrders", lambda m=market_id: self._auth_get(
                "accountActiveOrders", {"account_index": self.account_index, "market_id": m}
            ))
            reports.extend(self._report(order) for order in list_field(document, "orders"))
        return [report for report in reports if not report.done]

    # --- nonces ----------------------------------------------------------------------------------------------

    async def _server_next_nonce(self, api_key_index: int | None = None) -> int:
        key = self.api_key_index if api_key_index is None else api_key_index
        document = await self.with_read_retries("nextNonce", lambda: self._rest.get(
            "nextNonce", {"account_index": self.account_index, "api_key_index": key}
        ))
        return int_field(document, "nonce")

    async def _take_nonce(self) -> int:
        """The nonce for the next transaction (call under the slot's lock); fetched only when not known locally."""
        if self.nonce_mode == "api" or self._nonce.next_nonce is None:
            self._nonce.next_nonce = await self._server_next_nonce()
        return self._nonce.next_nonce

    async def nonce_status(self) -> NonceStatus:
        """The venue's next nonce, this process's next nonce (None until it signed or prepared) and the last used."""
        server_next = await self._server_next_nonce()
        return NonceStatus(
            account_index=self.account_index,
            api_key_index=self.api_key_index,
            server_next=server_next,
            local_next=self._nonce.next_nonce,
            persisted_last_used=self._nonce_file.last_used() if self._nonce_file else None,
        )

    async def refresh_nonce(self, api_key_index: int | None = None) -> NonceRefresh:
        """Re-read the venue's next nonce for an api key and make it this process's; returns before and after."""
        key = self.api_key_index if api_key_index is None else api_key_index
        slot = nonce_slot(self.base_url, self.account_index, key)
        async with slot.lock():
            before = slot.next_nonce
            if before is None and key == self.api_key_index and self._nonce_file is not None:
                last_used = self._nonce_file.last_used()
                before = last_used + 1 if last_used is not None else None
            after = await self._server_next_nonce(key)
            slot.next_nonce = after
            if after > 0:
                slot.last_used = after - 1
        if key == self.api_key_index and self._nonce_file is not None and after > 0:
            self._nonce_file.write(after - 1)
        logger.info("%s: nonce of api key %s refreshed: %s -> %s", self.name, key, before, after)
        return NonceRefresh(api_key_index=key, before=before, after=after)

    def _persist_nonce(self) -> None:
        if self._nonce_file is not None and self._nonce.last_used is not None:
            self._nonce_file.write(self._nonce.last_used)

    # --- sending transactions --------------------------------------------------------------------------------

    async def _send_once(self, sign: Callable[[int], SignedTx], nonce: int) -> tuple[SignedTx, SendResult]:
        signer = await self._ensure_signer()
        tx = sign(nonce)
        started = time.perf_counter()
        result = await signer.send(tx, timeout=self.timeout)
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        logger.debug("%s: tx type %s nonce %s -> %s %s", self.name, tx.tx_type, nonce, result.outcome.value,
                     result.code)
        return tx, result

    def _refusal(self, result: SendResult) -> VenueError:
        return error_for_code(result.code, result.message, connector=self.name, status=result.http_status,
                              context="sendTx")

    async def _send_idempotent(self, what: str, sign: Callable[[int], SignedTx]) -> SendResult:
        """Send a transaction whose repetition is harmless (cancel, cancel-all, leverage), with bounded retries."""
        from hedgectl.connectors.lighter.signer import SendOutcome

        nonce_refusals = troubled_sends = 0
        async with self._nonce.lock():
            while True:
                tx, result = await self._send_once(sign, await self._take_nonce())
                if result.outcome is SendOutcome.ACCEPTED:
                    self._nonce.used(tx.nonce)
                    return result
                if result.outcome is SendOutcome.REFUSED:
                    error = self._refusal(result)
                    if isinstance(error, NonceMismatch):
                        self._nonce.invalidate()
                        nonce_refusals += 1
                        if nonce_refusals <= self.max_nonce_retries:
                            continue
                    elif isinstance(error, RateLimited):
                        troubled_sends += 1
                        if troubled_sends < self.max_send_attempts:
                            await self.clock.sleep(0.1 * troubled_sends)
                            continue
                    raise error
                troubled_sends += 1
                if result.outcome is SendOutcome.AMBIGUOUS:
                    self._nonce.invalidate()
                if troubled_sends >= self.max_send_attempts:
                    raise VenueUnavailable(f"{what}: {result.message}", venue=VENUE, connector=self.name,
                                           status=result.http_status)
                await self.clock.sleep(0.1 * troubled_sends)

    # --- orders ----------------------------------------------------------------------------------------------

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
        tracker = OrderTracker(intent, listeners=listeners)
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
        task = asyncio.get_running_loop().create_task(
            self._work(tracker, plan), name=f"lighter-order-{intent.client_order_index}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._release_mark(tracker, plan))
        task.add_done_callback(lambda done: collect_task(done, logger, self.name))
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
        if intent.order_type is OrderType.LIMIT:
            return TrackingLimitOrder(
                tracker, canceller=lambda: self.cancel_order(intent.symbol, intent.client_order_index), task=task
            )
        return TrackingMarketOrder(tracker, task=task)

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
        intent = plan.intent
        self.pushed_reports.register(intent.client_order_index, intent.symbol, intent.side)
        try:
            accepted = await self._send_order(tracker, plan)
        finally:
            plan.settled.set()
        if not accepted:
            self.pushed_reports.release(intent.client_order_index)
        if accepted:
            try:
                await plan.handed_over.wait()
                await self._confirm(tracker, plan)
            finally:
                self.pushed_reports.release(intent.client_order_index)
                self._persist_nonce()
                if plan.order_type == ORDER_TYPE_MARKET and tracker.snapshot().filled_size < plan.intent.size:
                    # the bound came from a book the price may have left (slippage, no liquidity): the next
                    # market order reads the book afresh instead of repeating a bound the venue cannot meet
                    self._books.pop(plan.intent.symbol, None)

    async def _send_order(self, tracker: OrderTracker, plan: _OrderPlan) -> bool:
        """Send until the venue has the order (True) or refused it (False, tracker FAILED); AmbiguousOutcome else.

        Budgets: ``max_nonce_retries`` refusals with 21104 (each proves that send did not run), and
        ``max_send_attempts`` sends whose answer was lost or rate limited (each resolved at the venue before the next).
        """
        from hedgectl.connectors.lighter.signer import SendOutcome

        sign = self._signer_for(plan)
        coi = plan.intent.client_order_index
        lost: list[SignedTx] = []
        resend_nonce: int | None = None
        # the last lost transaction's nonce was unused when last asked, so it may still arrive and run
        lost_may_run = False
        nonce_refusals = troubled_sends = attempt = 0
        async with self._nonce.lock():
            while True:
                attempt += 1
                try:
                    nonce = resend_nonce if resend_nonce is not None else await self._take_nonce()
                    tx, result = await self._send_once(sign, nonce)
                except VenueError as exc:
                    # nothing went out on this attempt (the nonce read failed, or the signer refused)
                    if lost:
                        raise AmbiguousOutcome(f"order {coi}: {exc}", venue=VENUE, connector=self.name,
                                               client_order_index=coi) from exc
                    tracker.apply(OrderEvent.REJECT, reason=str(exc), error=exc)
                    return False
                resend_nonce = None
                info = {"nonce": tx.nonce, "tx_hash": tx.tx_hash, "attempts": attempt,
                        "signed_ahead": plan.signed_ahead}
                if result.outcome is SendOutcome.ACCEPTED:
                    self._nonce.used(tx.nonce)
                    plan.predicted_execution_ms = result.predicted_execution_ms
                    plan.venue_tx_hash = result.tx_hash
                    plan.accepted_tx_hash = result.tx_hash or tx.tx_hash
                    tracker.apply(OrderEvent.ACCEPT, info={**info, "tx_hash": result.tx_hash or tx.tx_hash})
                    return True
                if result.outcome is SendOutcome.REFUSED:
                    error = self._refusal(result)
                    if isinstance(error, NonceMismatch):
                        self._nonce.invalidate()
                        nonce_refusals += 1
                        if lost:
                            # the nonce of the lost send was used meanwhile: by the lost transaction arriving late,
                            # or by another user of the key; only the venue's settled records tell which
                            verdict = await self._resolve_lost(plan, lost)
                            if verdict is None:
                                tracker.apply(OrderEvent.ACCEPT, info=self._landed_info(lost, attempt))
                                return True
                            resend_nonce, lost_may_run = verdict, verdict <= lost[-1].nonce
                    elif isinstance(error, RateLimited):
                        troubled_sends += 1
                    retry = (isinstance(error, NonceMismatch) and nonce_refusals <= self.max_nonce_retries) or (
                        isinstance(error, RateLimited) and troubled_sends < self.max_send_attempts
                    )
                    if retry:
                        logger.warning("%s: order %s attempt %d refused (%s); sending again", self.name, coi,
                                       attempt, error)
                        if isinstance(error, RateLimited):
                            await self.clock.sleep(0.1 * troubled_sends)
                        continue
                    if lost_may_run:
                        if await self._lost_order_landed(plan, lost):
                            tracker.apply(OrderEvent.ACCEPT, info=self._landed_info(lost, attempt))
                            return True
                        raise AmbiguousOutcome(
                            f"order {coi}: sending it again was refused ({error}), and the lost send (nonce "
                            f"{lost[-1].nonce}) could still run", venue=VENUE, connector=self.name,
                            client_order_index=coi,
                        ) from error
                    tracker.apply(OrderEvent.REJECT, reason=str(error), error=error, info=info)
                    return False
                if result.outcome is SendOutcome.NOT_SENT and not lost:
                    error = VenueUnavailable(f"sendTx: {result.message}", venue=VENUE, connector=self.name)
                    tracker.apply(OrderEvent.REJECT, reason=str(error), error=error, info=info)
                    return False
                # the answer is lost: the order may be at the venue, and nothing is sent again until it says
                troubled_sends += 1
                if result.outcome is not SendOutcome.NOT_SENT:
                    lost.append(tx)
                self._nonce.invalidate()
                if tracker.state is OrderState.SUBMITTING:
                    tracker.apply(OrderEvent.LOSE_ANSWER, reason=f"answer lost: {result.message}", info=info)
                plan.settled.set()
                logger.warning("%s: order %s answer lost (%s); resolving by client order index", self.name, coi,
                               result.message)
                verdict = await self._resolve_lost(plan, lost)
                if verdict is None:
                    tracker.apply(OrderEvent.ACCEPT, info=self._landed_info(lost, attempt))
                    return True
                if troubled_sends >= self.max_send_attempts:
                    raise AmbiguousOutcome(
                        f"order {coi}: {troubled_sends} sends without an answer; not at the venue now, but the last "
                        f"one (nonce {lost[-1].nonce if lost else nonce}) could still arrive",
                        venue=VENUE, connector=self.name, client_order_index=coi,
                    )
                resend_nonce, lost_may_run = verdict, verdict <= lost[-1].nonce

    def _release_mark(self, tracker: OrderTracker, plan: _OrderPlan) -> None:
        """Give the market's mark back when the order's task ends: moved by its fill, or unknown if not final."""
        snapshot = tracker.snapshot()
        self._marks.release(plan.baseline, final=snapshot.is_final,
                            signed_fill=plan.intent.side.sign * snapshot.filled_size)

    async def _unmoved_since_send(self, plan: _OrderPlan) -> str:
        """Why the position cannot vouch that the plan's order never ran; empty when it can: a market order that
        never ran leaves the position exactly as it was before the send (a resting limit order would not move it)."""
        if plan.order_type != ORDER_TYPE_MARKET:
            return "a limit order may rest without moving the position"
        return await moved_since(self, plan.baseline)

    @staticmethod
    def _landed_info(lost: list[SignedTx], attempt: int) -> dict[str, Any]:
        return {"nonce": lost[-1].nonce, "tx_hash": lost[-1].tx_hash, "attempts": attempt, "answer_lost": True}

    async def _lost_order_landed(self, plan: _OrderPlan, lost: list[SignedTx]) -> bool:
        """True when the venue shows the order (by client order index) or one of the lost transactions (by hash);
        AmbiguousOutcome when it cannot be asked."""
        try:
            if await self._orders_by_client_index(plan.intent.client_order_index, plan.market.market_id):
                return True
            for tx in lost:
                if await self._tx_known(tx.tx_hash):
                    return True
        except VenueError as exc:
            logger.info("%s: lookup of a lost order failed: %s", self.name, exc)
            raise AmbiguousOutcome(
                f"order {plan.intent.client_order_index}: cannot tell whether it reached the venue ({exc})",
                venue=VENUE, connector=self.name, client_order_index=plan.intent.client_order_index,
            ) from exc
        return False

    async def _tx_known(self, tx_hash: str) -> bool:
        """Whether the venue has this transaction; only its clean "not found" answer means it has not."""
        try:
            document = await self._rest.get("tx", {"by": "hash", "value": tx_hash})
        except VenueError as exc:
            if is_not_found(exc):
                return False
            raise
        if not (document.get("hash") or document.get("tx_hash")):
            raise VenueProtocolError("tx: an answer without the transaction's hash", venue=VENUE,
                                     connector=self.name)
        return True

    async def _lost_trace(self, plan: _OrderPlan, lost: list[SignedTx]) -> bool:
        """Whether the venue shows a lost transaction (by hash) or a trade of the order since its first send."""
        for tx in lost:
            if await self._tx_known(tx.tx_hash):
                return True
        since = (plan.first_sent_at or self.clock.now()) - LOST_TRADES_CLOCK_MARGIN_SECS
        trades, complete = await self._trades_back_to(
            {"account_index": self.account_index, "market_id": plan.market.market_id}, since
        )
        hashes = {tx.tx_hash for tx in lost}
        if any(self._trade_of(plan, trade, hashes) for trade in trades):
            return True
        if not complete:
            raise VenueProtocolError(f"the account's trades could not be read back to {since:.0f}", venue=VENUE,
                                     connector=self.name)
        return False

    def _trade_of(self, plan: _OrderPlan, trade: dict[str, Any], hashes: set[str | None]) -> bool:
        """Whether ``trade`` fills the plan's order: our side of it, by the order's transaction or client index."""
        side_key = "bid" if plan.intent.side is Side.BUY else "ask"
        return trade.get(f"{side_key}_account_id") == self.account_index and (
            trade.get("tx_hash") in hashes or trade.get(f"{side_key}_client_id") == plan.intent.client_order_index
        )

    async def _resolve_lost(self, plan: _OrderPlan, lost: list[SignedTx]) -> int | None:
        """None when the venue shows the order landed; else the nonce to send it again with, once the venue proved
        that sending it again cannot duplicate it.

        Proof is the venue's next nonce still at (or below) the lost transaction's: sent again with that nonce, at
        most one of the two can ever run. A consumed nonce was used by the lost transaction or by another user of
        the key; it counts as someone else's only when the order, the lost transactions and any trade of the order
        since its first send are all still absent ``consumed_settle_secs`` after the nonce was first seen used,
        because the venue's indexes can lag the sequencer. Until then nothing is sent; a lookup that fails or a
        venue that does not settle it by the deadline ends in AmbiguousOutcome.
        """
        coi = plan.intent.client_order_index
        deadline = self.clock.monotonic() + self.resolve_timeout_secs
        last_error: Exception | None = None
        consumed_since: float | None = None
        last_unproven = ""  # why the position cannot vouch that the lost order did not run
        step = 0
        while True:
            # every read of a round that starts after the settle window is a reading of the settled venue
            now = self.clock.monotonic()
            settled = consumed_since is not None and now - consumed_since >= self.consumed_settle_secs
            try:
                if await self._orders_by_client_index(coi, plan.market.market_id):
                    return None
                server_next = await self._server_next_nonce()
                self._nonce.next_nonce = server_next
                if server_next <= lost[-1].nonce:
                    # the lost transaction's nonce is unused: sending with it again means that at most one of the
                    # two can ever run (and a nonce below it means the lost one was refused)
                    return server_next
                if consumed_since is None:
                    consumed_since = self.clock.monotonic()
                    deadline = max(deadline, consumed_since + self.consumed_settle_secs + 2 * RESOLVE_DELAYS[-1])
                if await self._lost_trace(plan, lost):
                    return None
                if settled:
                    # the records may trail the sequencer for longer still: only a position that has not moved
                    # since before the send proves that the lost order did not run
                    unproven = await self._unmoved_since_send(plan)
                    if not unproven:
                        logger.warning("%s: order %s: nonce %d was used by another user of the key; sending with %d",
                                       self.name, coi, lost[-1].nonce, server_next)
                        return server_next
                    if unproven != last_unproven:
                        logger.warning("%s: order %s: nonce %d was used and the venue shows no trace of the order, "
                                       "but %s: not sending it again", self.name, coi, lost[-1].nonce, unproven)
                    last_unproven = unproven
            except VenueError as exc:
                last_error = exc
            if self.clock.monotonic() >= deadline:
                if consumed_since is None:
                    why = f"the venue could not be asked whether it has the order ({last_error})"
                else:
                    why = (f"nonce {lost[-1].nonce} was used, and the venue did not settle whether by this order"
                           + (f" ({last_error})" if last_error else "")
                           + (f"; {last_unproven}" if last_unproven else ""))
                raise AmbiguousOutcome(f"order {coi}: {why}", venue=VENUE, connector=self.name,
                                       client_order_index=coi)
            await self.clock.sleep(RESOLVE_DELAYS[min(step, len(RESOLVE_DELAYS) - 1)])
            step += 1

    async def _confirm(self, tracker: OrderTracker, plan: _OrderPlan) -> None:
        """Poll the venue until the order is final (market orders within ``confirm_timeout_secs``)."""
        intent = plan.intent
        is_market = intent.order_type is OrderType.MARKET
        deadline = self.clock.monotonic() + self.confirm_timeout_secs if is_market else None
        delays = list(CONFIRM_DELAYS)
        first = _first_delay(plan.predicted_execution_ms, self.last_latency_ms, now=self.clock.now())
        if first is not None:
            delays[0] = first
        step = 0
        last_error: VenueError | None = None
        slot = self.pushed_reports.register(intent.client_order_index, intent.symbol, intent.side)
        while not tracker.snapshot().is_final:
            delay = delays[step] if step < len(delays) else (delays[-1] if is_market else LIMIT_POLL_SECS)
            step += 1
            if delay:
                await self.pushed_reports.pause(slot, delay, self.clock)
            if self._apply_pushed(tracker, slot):
                continue
            try:
                report = await self.pushed_reports.race(slot, self._confirming_report(plan), streaming=self.streaming)
                self._apply_pushed(tracker, slot)
            except (VenueUnavailable, RateLimited, VenueProtocolError) as exc:
                last_error = exc
                report = None
            except _TransactionFailed as failed:
                if tracker.can_apply(OrderEvent.REJECT):
                    tracker.apply(OrderEvent.REJECT, reason=failed.reason, error=failed.error)
                    return
                report = None
            if report is not None:
                self._apply_report(tracker, report)
            if deadline is not None and self.clock.monotonic() > deadline and not tracker.snapshot().is_final:
                raise VenueTimeout(
                    f"order {intent.client_order_index}: no final state from the venue within "
                    f"{self.confirm_timeout_secs:g}s" + (f" (last error: {last_error})" if last_error else ""),
                    venue=VENUE, connector=self.name,
                )

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

    async def _tx_document(self, tx_hash: str) -> dict[str, Any] | None:
        """The venue's record of a transaction, or None while it has none (or cannot be asked): the order records
        read alongside remain the main source."""
        try:
            return await self._rest.get("tx", {"by": "hash", "value": tx_hash})
        except VenueError as exc:
            if not is_not_found(exc):
                logger.info("%s: status of transaction %s... not read: %s", self.name, tx_hash[:16], exc)
            return None

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

    def _apply_pushed(self, tracker: OrderTracker, slot: Any) -> bool:
        """Apply the report the stream pushed, if any; whether the order is now final."""
        report = slot.take()
        if report is None:
            return False
        try:
            self._apply_report(tracker, report)
        except OrderStateError as exc:
            # a pushed report that contradicts what the venue already said is left to the REST reads
            logger.info("%s: pushed report of order %s not applied: %s", self.name, report.client_order_index, exc)
        return tracker.snapshot().is_final

    def _apply_report(self, tracker: OrderTracker, report: OrderReport) -> None:
        intent = tracker.intent
        filled = min(report.filled_size, intent.size)
        if report.done and filled == 0:
            error_class = REFUSAL_STATUSES.get(report.status)
            if error_class is not None and tracker.can_apply(OrderEvent.REJECT):
                error = error_class(f"order {intent.client_order_index} {report.status}", venue=VENUE,
                                    connector=self.name)
                tracker.apply(OrderEvent.REJECT, reason=report.status, error=error,
                              venue_order_id=report.venue_order_id)
                return
        tracker.apply_fill_report(
            filled_size=filled,
            done=report.done,
            average_price=report.average_price,
            venue_order_id=report.venue_order_id,
            reason=report.status if report.done and filled < intent.size else None,
        )

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
        await self._wait_until(
            lambda: self.open_orders(symbol),
            lambda orders: not orders,
            "orders still open after cancel-all",
        )

    async def _wait_until(self, read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str) -> None:
        """Poll ``read`` on the confirmation schedule until ``done`` says so; VenueTimeout after the confirm time."""
        deadline = self.clock.monotonic() + self.confirm_timeout_secs
        step = 0
        while not done(await read()):
            if self.clock.monotonic() > deadline:
                raise VenueTimeout(what, venue=VENUE, connector=self.name)
            step = min(step + 1, len(CONFIRM_DELAYS) - 1)
            await self.clock.sleep(CONFIRM_DELAYS[step])

    async def taker_fee_rate(self, symbol: str) -> Decimal | None:
        """The market's taker fee, from ``orderBookDetails`` (``taker_fee``, in percent)."""
        return (await self.market(symbol)).taker_fee

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


_allocators: dict[tuple[str, int, Path | None], ClientIdAllocator] = {}
_allocators_lock = threading.Lock()


def _shared_allocator(base_url: str, account_index: int, own: ClientIdAllocator) -> ClientIdAllocator:
    """One client order index allocator per account in the process, so two connectors of one account never hand
    out the same index (across processes, the allocator's file in the shared data directory does that)."""
    key = (base_url.rstrip("/"), account_index, own.state_path)
    with _allocators_lock:
        return _allocators.setdefault(key, own)


def _market_from_detail(detail: dict[str, Any]) -> LighterMarket:
    size_decimals = int_field(detail, "size_decimals")
    price_decimals = int_field(detail, "price_decimals")
    supported_size = detail.get("supported_size_decimals")
    supported_price = detail.get("supported_price_decimals")
    step_decimals = min(size_decimals, supported_size) if isinstance(supported_size, int) else size_decimals
    tick_decimals = min(price_decimals, supported_price) if isinstance(supported_price, int) else price_decimals
    symbol = str(detail.get("symbol") or "")
    market_id = int_field(detail, "market_id")
    rules = MarketRules(
        symbol=symbol,
        base_asset=symbol,
        step_size=step_of_decimals(step_decimals),
        tick_size=step_of_decimals(tick_decimals),
        min_size=decimal_field(detail, "min_base_amount"),
        min_notional=decimal_field(detail, "min_quote_amount", required=False) or ZERO,
        market_id=market_id,
        max_leverage=_max_leverage(detail),
    )
    return LighterMarket(
        rules=rules,
        market_id=market_id,
        size_decimals=size_decimals,
        price_decimals=price_decimals,
        taker_fee=(decimal_field(detail, "taker_fee", required=False) or ZERO) / 100,
        maker_fee=(decimal_field(detail, "maker_fee", required=False) or ZERO) / 100,
    )


def _max_leverage(detail: dict[str, Any]) -> Decimal | None:
    """10,000 / the market's lowest initial margin fraction (basis points): ``min_initial_margin_fraction``, else
    ``default_initial_margin_fraction``. None when neither is published."""
    for key in ("min_initial_margin_fraction", "default_initial_margin_fraction"):
        try:
            fraction = decimal_field(detail, key, required=False)
        except VenueError:
            continue
        if fraction is not None and fraction > 0:
            return (Decimal(10_000) / fraction).to_integral_value(rounding=ROUND_DOWN)
    return None


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


def _default_ws_url(base_url: str) -> str:
    """The account stream beside the REST API: ``https://host`` serves ``wss://host/stream``."""
    scheme, rest = base_url.split("://", 1) if "://" in base_url else ("https", base_url)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/stream"


def _seconds(timestamp: Any) -> float:
    """A venue timestamp (ms, or s, or µs) as epoch seconds."""
    value = float(timestamp or 0)
    if value > 1e14:
        return value / 1e6
    if value > 1e11:
        return value / 1e3
    return value
