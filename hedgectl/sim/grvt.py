"""Paper GRVT: GRVT's API-key login, trading endpoints and market data (``full/v1``, JSON POST) over the shared paper
market.

Orders are verified as the venue does it: the EIP-712 message is rebuilt from the submitted JSON, the signer is
recovered from (v, r, s) and must equal the signer the order names, which must be the account's registered key. A
wrong chain id or a tampered order recovers another address ("Signature does not match payload"); a valid signature
by a key the account does not know is "from an unauthorized signer". Orders are accepted as PENDING and executed at
once; their outcome is read back with ``order`` by client order id, as on the real venue.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from eth_keys.exceptions import BadSignature, ValidationError

from hedgectl.connectors.grvt.signing import LegScale, new_private_key
from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import (
    OPEN_STATUSES,
    CancelReason,
    Fill,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradeKind,
)
from hedgectl.sim.exchange.state import accounts_snapshot, restore_accounts, state_document
from hedgectl.sim.faults import Fault, FaultKind
from hedgectl.sim.grvt_signature import signer_of
from hedgectl.sim.market import Market, MarketRules, is_multiple
from hedgectl.sim.server import PaperVenue, json_response

logger = logging.getLogger(__name__)

ACCOUNT_NAME = "grvt"
#: The chain id paper GRVT signs under (testnet's); the accounts file tells connectors.
PAPER_CHAIN_ID = 326
DEFAULT_COLLATERAL = Decimal("10000")
DEFAULT_LEVERAGE = Decimal("10")
SESSION_SECS = 24 * 3600
MAX_SIGNATURE_NS = 30 * 24 * 3600 * 10**9
DEFAULT_CANCEL_TTL_MS = 1000
MAX_CANCEL_TTL_MS = 5000
BOOK_DEPTHS = (10, 50, 100, 500)
MAX_HISTORY_LIMIT = 1000
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
SECP256K1_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
PRICE_QUANTUM = Decimal("0.000000001")
QUOTE_QUANTUM = Decimal("0.000001")
NANOS_PER_MS = 1_000_000
TIME_IN_FORCES = ("GOOD_TILL_TIME", "ALL_OR_NONE", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "RETAIL_PRICE_IMPROVEMENT")
BOOK_TIME_IN_FORCES = ("GOOD_TILL_TIME", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")

GRVT_RULES: dict[str, MarketRules] = {
    rules.symbol: rules
    for rules in (
        MarketRules("ETH_USDT_Perp", "ETH", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"),
                    Decimal("0.00045"), Decimal("0.0001"), Decimal("0.02"), Decimal("0.01"),
                    max_price=Decimal("100000")),
        MarketRules("BTC_USDT_Perp", "BTC", Decimal("0.001"), Decimal("0.1"), Decimal("0.001"),
                    Decimal("0.00045"), Decimal("0.0001"), Decimal("0.02"), Decimal("0.01"),
                    max_price=Decimal("1000000")),
        MarketRules("SOL_USDT_Perp", "SOL", Decimal("0.1"), Decimal("0.01"), Decimal("0.1"),
                    Decimal("0.00045"), Decimal("0.0001"), Decimal("0.02"), Decimal("0.01"),
                    max_price=Decimal("10000")),
    )
}
#: Asset ids signed in each leg. ETH and BTC are the live venue's; SOL's is paper's own.
INSTRUMENT_HASHES = {"ETH_USDT_Perp": "0x030401", "BTC_USDT_Perp": "0x030501", "SOL_USDT_Perp": "0x030c01"}
BASE_DECIMALS = 9
QUOTE_DECIMALS = 6
MAX_POSITION_SIZES = {"ETH_USDT_Perp": Decimal("1000"), "BTC_USDT_Perp": Decimal("100"),
                      "SOL_USDT_Perp": Decimal("20000")}
CREATED_NS = "1739777750420765447"

#: Code -> (HTTP status, message) of the venue errors paper GRVT answers.
ERRORS: dict[int, tuple[int, str]] = {
    1000: (401, "You need to authenticate prior to using this functionality"),
    1001: (403, "You are not authorized to access this functionality"),
    1002: (500, "Internal Server Error"),
    1003: (400, "Request could not be processed due to malformed syntax"),
    1004: (404, "Data Not Found"),
    1006: (429, "You have surpassed the allocated rate limit for your tier"),
    1009: (503, "We are temporarily deactivating this API endpoint, please try again later"),
    2000: (403, "Signature is from an unauthorized signer"),
    2001: (403, "Signature has expired"),
    2002: (403, "Signature does not match payload"),
    2003: (403, "Order sub account does not match logged in user"),
    2005: (403, "Signature V must be 27/28"),
    2006: (403, "Signature R/S must have exactly 64 characters long without 0x prefix"),
    2007: (403, "Signature S must be in the lower half of the curve"),
    2008: (403, "Signature exceeds maximum allowed duration."),
    2010: (400, "Order ID should be empty when creating an order"),
    2011: (400, "Client Order ID should be supplied when creating an order"),
    2012: (400, "Client Order ID overlaps with existing active order"),
    2020: (400, "Market Order must always be supplied without a limit price"),
    2021: (400, "Limit Order must always be supplied with a limit price"),
    2030: (400, "Orderbook Orders must have a TimeInForce of GTT/IOC/FOK"),
    2032: (400, "Post Only can only be set to true for GTT/AON orders"),
    2040: (400, "Order must contain at least one leg"),
    2042: (400, "Orderbook Orders must contain only one leg"),
    2050: (400, "Order state must be empty upon creation"),
    2061: (400, "Unsupported Instrument Requested"),
    2062: (400, "Order size smaller than min size"),
    2064: (400, "Invalid limit price tick"),
    2065: (400, "Order size too granular"),
    2080: (400, "Insufficient margin to create order"),
    2081: (400, "Order Fill would result in exceeding maximum position size"),
    2301: (400, "Order cancel time-to-live exceeds maximum allowed value."),
    2400: (400, "Reduce only order with no position"),
    2401: (400, "Reduce only order must not increase position size"),
    3000: (400, "Instrument is invalid"),
    3021: (400, "Either order ID or client order ID must be supplied"),
    3031: (400, "Depth is invalid"),
}


class GrvtError(Exception):
    """A GRVT error answer: ``{"code", "message", "status"}`` with the HTTP status of the code."""

    def __init__(self, code: int, message: str | None = None, status: int | None = None) -> None:
        default_status, default_message = ERRORS.get(code, (400, "Request could not be processed"))
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        super().__init__(f"{self.code}: {self.message}")

    def response(self) -> web.Response:
        return json_response({"code": self.code, "message": self.message, "status": self.status}, status=self.status)


@dataclass
class GrvtKey:
    """An API key of a paper sub account: the key (secret), its signing wallet's private key (secret) and address."""

    account: str
    api_key: str
    private_key: str
    address: str
    sub_account_id: int
    main_account_id: str

    def __repr__(self) -> str:
        return f"GrvtKey(account={self.account!r}, sub_account_id={self.sub_account_id}, address={self.address!r})"


@dataclass
class OrderRecord:
    """An accepted order as the venue shows it; its state follows the engine order (None when it never reached the
    matching engine, e.g. fenced by a cancel's time-to-live)."""

    order_id: str
    account: str
    client_order_id: str
    document: dict[str, Any]
    created_ns: int
    engine_order: Order | None = None
    fixed_state: tuple[str, str] = ("CANCELLED", "CLIENT_CANCEL")
    bulk_cancelled: bool = False
    is_market: bool = False


def _num(value: Decimal | None) -> str:
    """A decimal as the venue writes it: plain, without trailing zeros, with at least one decimal place."""
    if value is None or value == 0:
        return "0.0"
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def _price(value: Decimal | None) -> str:
    return _num(value.quantize(PRICE_QUANTUM) if value is not None else None)


def _quote(value: Decimal) -> str:
    return _num(value.quantize(QUOTE_QUANTUM))


def _decimal(value: Any, code: int = 1003) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise GrvtError(code)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise GrvtError(code) from None
    if not number.is_finite():
        raise GrvtError(code)
    return number


def _integer(value: Any, maximum: int, code: int = 1003) -> int:
    text = str(value) if value is not None and not isinstance(value, bool) else ""
    if not text.isdigit() or int(text) > maximum:
        raise GrvtError(code)
    return int(text)


def _flag(document: dict[str, Any], key: str) -> bool:
    value = document.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise GrvtError(1003)
    return value


def _hex64(value: Any) -> int:
    text = str(value or "")
    text = text[2:] if text.lower().startswith("0x") else text
    if len(text) != 64:
        raise GrvtError(2006)
    try:
        return int(text, 16)
    except ValueError:
        raise GrvtError(2006) from None


class PaperGrvt(PaperVenue):
    """GRVT's REST API over an ``Exchange`` with GRVT's market rules; one server plays edge, trades and market data."""

    name = "grvt"

    def __init__(self, market: Market, *, rules: dict[str, MarketRules] | None = None,
                 chain_id: int = PAPER_CHAIN_ID) -> None:
        super().__init__(market)
        first_id = market.rng("grvt:order-ids").randrange(10**9, 4 * 10**9)
        self.exchange = Exchange(
            market, "grvt", rules or GRVT_RULES,
            basis={"ETH": Decimal("0.0001"), "BTC": Decimal("-0.0001"), "SOL": Decimal("0.0003")},
            default_leverage=DEFAULT_LEVERAGE, first_order_id=first_id, clock_ms=self.now_ms,
        )
        self.chain_id = chain_id
        self._ids = market.rng("grvt:accounts")
        self.keys: dict[str, GrvtKey] = {}
        self._by_api_key: dict[str, GrvtKey] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self.records: list[OrderRecord] = []
        self._by_engine_id: dict[int, OrderRecord] = {}
        self._fences: dict[tuple[str, str], float] = {}
        #: Every time-to-live cancel that found no order, oldest first (for state inspection).
        self.fence_log: list[dict[str, Any]] = []
        self.arm_engine_faults(self.exchange)
        self.faults.handles(FaultKind.LAG)

    # ----- accounts ---------------------------------------------------------------------------------------------

    def create_account(self, name: str, collateral: Decimal = DEFAULT_COLLATERAL) -> GrvtKey:
        """A funded sub account with a fresh API key and signing wallet."""
        private_key, address = new_private_key()
        key = GrvtKey(
            account=name,
            api_key=secrets.token_urlsafe(20),
            private_key=private_key,
            address=address,
            sub_account_id=self._ids.randrange(10**15, 10**16),
            main_account_id="0x" + "%040x" % self._ids.getrandbits(160),
        )
        self.exchange.open_account(name, collateral)
        self._register(key)
        return key

    def _register(self, key: GrvtKey) -> None:
        self.keys[key.account] = key
        self._by_api_key[key.api_key] = key

    def create_default_accounts(self) -> None:
        if ACCOUNT_NAME not in self.exchange.accounts:
            self.create_account(ACCOUNT_NAME)

    def expire_sessions(self) -> int:
        """Forget every login session (as a venue restart does); returns how many there were."""
        count = len(self._sessions)
        self._sessions.clear()
        return count

    def accounts_section(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "accounts": [
                {"name": key.account, "api_key": key.api_key, "private_key": key.private_key,
                 "sub_account_id": key.sub_account_id, "chain_id": self.chain_id}
                for key in self.keys.values()
            ],
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "keys": [
                {"account": key.account, "api_key": key.api_key, "private_key": key.private_key,
                 "address": key.address, "sub_account_id": key.sub_account_id,
                 "main_account_id": key.main_account_id}
                for key in self.keys.values()
            ],
            "accounts": accounts_snapshot(self.exchange),
        }

    def restore(self, data: dict[str, Any]) -> None:
        restore_accounts(self.exchange, data.get("accounts", {}))
        for item in data.get("keys", []):
            self._register(GrvtKey(**item))
        self.create_default_accounts()

    def state(self) -> dict[str, Any]:
        document = state_document(self.exchange)
        document["sub_accounts"] = {
            key.account: {"sub_account_id": str(key.sub_account_id), "signer": key.address}
            for key in self.keys.values()
        }
        document["chain_id"] = self.chain_id
        document["cancel_fences"] = self.fence_log[-500:]
        document["venue_orders"] = [
            {"order_id": record.order_id, "account": record.account, "client_order_id": record.client_order_id,
             "status": status, "reject_reason": reason}
            for record in self.records[-500:]
            for status, reason in [self._status(record)]
        ]
        return document

    async def account_for(self, request: web.Request) -> str | None:
        session = self._sessions.get(request.cookies.get("gravity", ""))
        if session is not None:
            return session[0]
        if request.path == "/auth/api_key/login":
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError:
                return None
            key = self._by_api_key.get(str(body.get("api_key"))) if isinstance(body, dict) else None
            return key.account if key is not None else None
        return None

    # ----- error bodies -----------------------------------------------------------------------------------------

    def error_response(self, fault: Fault) -> web.StreamResponse:
        if fault.status == 503:
            return GrvtError(1009).response()
        if fault.status in (502, 504):
            return web.Response(status=fault.status, text="Bad Gateway" if fault.status == 502 else "Gateway Timeout")
        return GrvtError(1002, status=fault.status).response()

    def rate_limit_response(self, fault: Fault) -> web.StreamResponse:
        return GrvtError(1006).response()

    def not_found_response(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="404 page not found")

    # ----- routes -----------------------------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/auth/api_key/login", self._route(self._login))
        public = {
            "all_instruments": self._all_instruments,
            "instruments": self._instruments,
            "instrument": self._instrument,
            "book": self._book,
            "ticker": self._ticker,
            "mini": self._mini,
            "trade": self._trades,
        }
        for name, handler in public.items():
            router.add_post(f"/full/v1/{name}", self._route(handler))
        private = {
            "create_order": self._create_order,
            "cancel_order": self._cancel_order,
            "cancel_all_orders": self._cancel_all_orders,
            "open_orders": self._open_orders,
            "order": self._order,
            "positions": self._positions,
            "account_summary": self._account_summary,
            "fill_history": self._fill_history,
        }
        for name, handler in private.items():
            router.add_post(f"/full/v1/{name}", self._route(handler, private=True))

    def _route(self, handler: Callable[..., Awaitable[web.StreamResponse]], *, private: bool = False) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                body = await self._body(request)
                if private:
                    return await handler(request, self._authenticate(request), body)
                return await handler(request, body)
            except GrvtError as error:
                return error.response()

        return wrapped

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise GrvtError(1003) from None
        if not isinstance(body, dict):
            raise GrvtError(1003)
        return body

    def _authenticate(self, request: web.Request) -> GrvtKey:
        session = self._sessions.get(request.cookies.get("gravity", ""))
        if session is None or session[1] < self.clock.now():
            raise GrvtError(1000)
        key = self.keys[session[0]]
        account_id = request.headers.get("X-Grvt-Account-Id")
        if account_id and account_id.lower() != key.main_account_id.lower():
            raise GrvtError(1001)
        return key

    @staticmethod
    def _check_sub_account(key: GrvtKey, body: dict[str, Any], code: int = 1001) -> None:
        if str(body.get("sub_account_id")) != str(key.sub_account_id):
            raise GrvtError(code)

    def _rules(self, symbol: Any, code: int = 3000) -> MarketRules:
        rules = self.exchange.rules.get(str(symbol))
        if rules is None:
            raise GrvtError(code)
        return rules

    def _matches(self, symbol: str, body: dict[str, Any]) -> bool:
        """The kind / base / quote filters of list and cancel-all requests."""
        rules = self.exchange.rules[symbol]
        for key, value in (("kind", "PERPETUAL"), ("base", rules.base), ("quote", "USDT")):
            wanted = body.get(key)
            if wanted and value not in wanted:
                return False
        return True

    # ----- login ------------------------------------------------------------------------------------------------

    async def _login(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        key = self._by_api_key.get(str(body.get("api_key")))
        if key is None:
            raise GrvtError(1000)
        token = secrets.token_urlsafe(32)
        expires_at = self.clock.now() + SESSION_SECS
        self._sessions[token] = (key.account, expires_at)
        response = json_response({"status": "success", "location": "", "sub_account_id": str(key.sub_account_id),
                                  "funding_account_address": key.main_account_id})
        response.headers["X-Grvt-Account-Id"] = key.main_account_id
        response.set_cookie("gravity", token, expires=email.utils.formatdate(expires_at, usegmt=True), path="/",
                            httponly=True)
        return response

    # ----- market data ------------------------------------------------------------------------------------------

    def instrument_document(self, rules: MarketRules) -> dict[str, Any]:
        return {
            "instrument": rules.symbol,
            "instrument_hash": INSTRUMENT_HASHES[rules.symbol],
            "base": rules.base,
            "quote": "USDT",
            "kind": "PERPETUAL",
            "venues": ["ORDERBOOK", "RFQ"],
            "settlement_period": "PERPETUAL",
            "base_decimals": BASE_DECIMALS,
            "quote_decimals": QUOTE_DECIMALS,
            "tick_size": _num(rules.tick_size),
            "min_size": _num(rules.min_quantity),
            "create_time": CREATED_NS,
            "max_position_size": _num(MAX_POSITION_SIZES[rules.symbol]),
            "funding_interval_hours": 8,
            "adjusted_funding_rate_cap": "0.3",
            "adjusted_funding_rate_floor": "-0.3",
        }

    def _scale_of(self, symbol: str) -> LegScale:
        if symbol not in self.exchange.rules:
            raise GrvtError(2061)
        return LegScale(INSTRUMENT_HASHES[symbol], BASE_DECIMALS)

    async def _all_instruments(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return json_response({"result": [self.instrument_document(rules) for rules in self.exchange.rules.values()]})

    async def _instruments(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        limit = _integer(body.get("limit", 500), 100000)
        rows = [self.instrument_document(rules) for symbol, rules in self.exchange.rules.items()
                if self._matches(symbol, body)]
        return json_response({"result": rows[:limit]})

    async def _instrument(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return json_response({"result": self.instrument_document(self._rules(body.get("instrument")))})

    async def _book(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        rules = self._rules(body.get("instrument"))
        depth = body.get("depth")
        if isinstance(depth, bool) or depth not in BOOK_DEPTHS:
            raise GrvtError(3031)
        bids, asks = self.exchange.book(rules.symbol, depth=depth)

        def levels(side: list[tuple[Decimal, Decimal]]) -> list[dict[str, Any]]:
            return [{"price": _num(price), "size": _num(size), "num_orders": 1} for price, size in side]

        return json_response({"result": {"event_time": str(self.now_ns()), "instrument": rules.symbol,
                                         "bids": levels(bids), "asks": levels(asks)}})

    def _ticker_document(self, symbol: str, *, full: bool) -> dict[str, Any]:
        rules = self.exchange.rules[symbol]
        bids, asks = self.exchange.book(symbol, depth=1)
        trades = [trade for trade in self.exchange.trades if trade.symbol == symbol]
        mark = self.exchange.mark_price(symbol)
        last = trades[-1] if trades else None
        document = {
            "event_time": str(self.now_ns()),
            "instrument": symbol,
            "mark_price": _num(mark),
            "index_price": _price(self.market.mid(rules.base)),
            "last_price": _num(last.price if last else mark),
            "last_size": _num(last.quantity if last else None),
            "mid_price": _price((bids[0][0] + asks[0][0]) / 2),
            "best_bid_price": _num(bids[0][0]),
            "best_bid_size": _num(bids[0][1]),
            "best_ask_price": _num(asks[0][0]),
            "best_ask_size": _num(asks[0][1]),
        }
        if full:
            buys = [trade for trade in trades if trade.taker_side is Side.BUY]
            sells = [trade for trade in trades if trade.taker_side is Side.SELL]
            prices = [trade.price for trade in trades] or [mark]
            document.update({
                "funding_rate_8h_curr": "0.01",
                "funding_rate_8h_avg": "0.01",
                "interest_rate": "0.0",
                "forward_price": "0.0",
                "buy_volume_24h_b": _num(sum((t.quantity for t in buys), Decimal(0))),
                "sell_volume_24h_b": _num(sum((t.quantity for t in sells), Decimal(0))),
                "buy_volume_24h_q": _quote(sum((t.quantity * t.price for t in buys), Decimal(0))),
                "sell_volume_24h_q": _quote(sum((t.quantity * t.price for t in sells), Decimal(0))),
                "high_price": _num(max(prices)),
                "low_price": _num(min(prices)),
                "open_price": _num(prices[0]),
                "open_interest": _num(sum((abs(account.size(symbol)) for account in self.exchange.accounts.values()),
                                          Decimal(0))),
                "long_short_ratio": "1.0",
            })
        return document

    async def _ticker(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return json_response({"result": self._ticker_document(self._rules(body.get("instrument")).symbol, full=True)})

    async def _mini(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return json_response({"result": self._ticker_document(self._rules(body.get("instrument")).symbol, full=False)})

    async def _trades(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        symbol = self._rules(body.get("instrument")).symbol
        limit = _integer(body.get("limit", 500), MAX_HISTORY_LIMIT)
        trades = [trade for trade in reversed(self.exchange.trades) if trade.symbol == symbol][:limit]
        return json_response({"result": [
            {"event_time": str(trade.timestamp_ms * NANOS_PER_MS), "instrument": symbol,
             "is_taker_buyer": trade.taker_side is Side.BUY, "size": _num(trade.quantity), "price": _num(trade.price),
             "mark_price": _num(self.exchange.mark_price(symbol)),
             "index_price": _num(self.exchange.mark_price(symbol)),
             "interest_rate": "0.0", "forward_price": "0.0", "trade_id": f"{trade.trade_id}-1", "venue": "ORDERBOOK",
             "is_rpi": False}
            for trade in trades
        ]})

    # ----- orders -----------------------------------------------------------------------------------------------

    def _status(self, record: OrderRecord) -> tuple[str, str]:
        """``(status, reject_reason)`` of a record, from its engine order."""
        order = record.engine_order
        if order is None:
            return record.fixed_state
        if order.status in OPEN_STATUSES:
            return "OPEN", "UNSPECIFIED"
        if order.status is OrderStatus.FILLED:
            return "FILLED", "UNSPECIFIED"
        reason = order.cancel_reason
        nothing = order.executed_quantity == 0
        if reason is CancelReason.USER:
            return "CANCELLED", "CLIENT_BULK_CANCEL" if record.bulk_cancelled else "CLIENT_CANCEL"
        if reason is CancelReason.POST_ONLY_TAKER:
            return "REJECTED", "FAIL_POST_ONLY"
        if reason is CancelReason.REDUCE_ONLY:
            return ("REJECTED", "FAIL_REDUCE_ONLY") if nothing else ("CANCELLED", "REDUCE_ONLY_LIMIT")
        if reason is CancelReason.INSUFFICIENT_MARGIN:
            return "REJECTED", "BELOW_MARGIN"
        if reason is CancelReason.LIQUIDATION:
            return "CANCELLED", "LIQUIDATION"
        if reason is CancelReason.FILL_OR_KILL:
            return "CANCELLED", "FOK_CANCEL"
        return "CANCELLED", "MARKET_CANCEL" if record.is_market else "IOC_CANCEL"

    def order_document(self, record: OrderRecord, *, pending: bool = False) -> dict[str, Any]:
        """The record as the venue shows it; ``pending`` gives the create answer (accepted, not yet matched)."""
        document = copy.deepcopy(record.document)
        order = record.engine_order
        size = _decimal(document["legs"][0]["size"])
        document["metadata"]["create_time"] = str(record.created_ns)
        if pending:
            document["order_id"] = "0x00"
            status, reason, booked, traded, average = "PENDING", "UNSPECIFIED", size, Decimal(0), None
        else:
            document["order_id"] = record.order_id
            status, reason = self._status(record)
            traded = order.executed_quantity if order is not None else Decimal(0)
            booked = order.remaining if order is not None and order.is_open else Decimal(0)
            average = order.average_price if order is not None else None
        document["state"] = {
            "status": status,
            "reject_reason": reason,
            "book_size": [_num(booked)],
            "traded_size": [_num(traded)],
            "update_time": str(order.updated_ms * NANOS_PER_MS if order is not None and not pending
                               else record.created_ns),
            "avg_fill_price": [_price(average)],
        }
        return document

    def _verify_signature(self, key: GrvtKey, order: dict[str, Any]) -> None:
        signature = order.get("signature")
        if not isinstance(signature, dict):
            raise GrvtError(1003)
        v = signature.get("v")
        if isinstance(v, bool) or v not in (27, 28):
            raise GrvtError(2005)
        r, s = _hex64(signature.get("r")), _hex64(signature.get("s"))
        if s > SECP256K1_HALF_ORDER:
            raise GrvtError(2007)
        expiration = _integer(signature.get("expiration"), 2**63 - 1)
        now = self.now_ns()
        if expiration < now:
            raise GrvtError(2001)
        if expiration > now + MAX_SIGNATURE_NS:
            raise GrvtError(2008)
        nonce = _integer(signature.get("nonce"), UINT32_MAX)
        try:
            recovered = signer_of(order, nonce, expiration, self.chain_id,
                                  lambda symbol: (self._scale_of(symbol).asset_id, self._scale_of(symbol).base_decimals),
                                  v, r, s)
        except ValueError:
            raise GrvtError(1003) from None
        except (BadSignature, ValidationError):
            raise GrvtError(2002) from None
        claimed = str(signature.get("signer") or "")
        if recovered.lower() != claimed.lower():
            raise GrvtError(2002)
        if claimed.lower() != key.address.lower():
            raise GrvtError(2000)

    async def _create_order(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        order = body.get("order")
        if not isinstance(order, dict):
            raise GrvtError(1003)
        self._check_sub_account(key, order, 2003)
        if order.get("order_id") not in (None, "", "0x00", "0x0", "0x"):
            raise GrvtError(2010)
        metadata = order.get("metadata")
        if not isinstance(metadata, dict) or metadata.get("client_order_id") in (None, ""):
            raise GrvtError(2011)
        if order.get("state") not in (None, {}):
            raise GrvtError(2050)
        legs = order.get("legs")
        if not isinstance(legs, list) or not legs:
            raise GrvtError(2040)
        if len(legs) > 1:
            raise GrvtError(2042)
        leg = legs[0]
        if not isinstance(leg, dict):
            raise GrvtError(1003)
        rules = self._rules(leg.get("instrument"), 2061)
        self._verify_signature(key, order)
        client_order_id = str(_integer(metadata.get("client_order_id"), UINT64_MAX))
        time_in_force = order.get("time_in_force")
        if time_in_force not in TIME_IN_FORCES:
            raise GrvtError(1003)
        if time_in_force not in BOOK_TIME_IN_FORCES:
            raise GrvtError(2030)
        is_market = _flag(order, "is_market")
        post_only = _flag(order, "post_only")
        reduce_only = _flag(order, "reduce_only")
        if post_only and time_in_force != "GOOD_TILL_TIME":
            raise GrvtError(2032)
        raw_price = leg.get("limit_price")
        price = None if raw_price in (None, "") else _decimal(raw_price)
        if is_market and price:
            raise GrvtError(2020)
        if not is_market and not price:
            raise GrvtError(2021)
        if is_market:
            # grvt-pysdk sends a market order with limit price "0" (or "0E-9") and good-till-time: it takes
            # liquidity at once and nothing of it rests
            price = None
        side = Side.BUY if _flag(leg, "is_buying_asset") else Side.SELL
        size = _decimal(leg.get("size"))
        if size < rules.min_quantity:
            raise GrvtError(2062)
        if not is_multiple(size, rules.step_size):
            raise GrvtError(2065)
        if price is not None and not is_multiple(price, rules.tick_size):
            raise GrvtError(2064)
        account = self.exchange.account(key.account)
        position = account.size(rules.symbol)
        if reduce_only and position == 0:
            raise GrvtError(2400)
        if reduce_only and position * side.sign > 0:
            raise GrvtError(2401)
        if abs(position + side.sign * size) > MAX_POSITION_SIZES[rules.symbol] and not reduce_only:
            raise GrvtError(2081)
        active = self.exchange.resting_orders(account=key.account)
        if any(resting.client_id == int(client_order_id) for resting in active):
            raise GrvtError(2012)
        reject = self.faults.take(FaultKind.REJECT, key.account, request.path)
        if reject is not None:
            code = int(reject.code) if reject.code and reject.code.isdigit() else 2080
            raise GrvtError(code, reject.message)
        # a partial fill happens to the next taker order (market, or an immediate-or-cancel limit), not a resting one
        taker = is_market or time_in_force != "GOOD_TILL_TIME"
        partial = self.faults.take(FaultKind.PARTIAL_FILL, key.account, request.path) if taker else None
        record = OrderRecord(
            order_id="0x0101010%025x" % (len(self.records) + 1),
            account=key.account,
            client_order_id=client_order_id,
            document={k: copy.deepcopy(v) for k, v in order.items() if k not in ("order_id", "state")},
            created_ns=self.now_ns(),
            is_market=is_market,
        )
        fence = self._fences.get((key.account, client_order_id))
        if fence is not None and fence > self.clock.monotonic():
            logger.info("grvt: creation of fenced client order %s cancelled", client_order_id)
        else:
            record.engine_order = self._execute(key, rules, side, size, price, time_in_force, post_only, reduce_only,
                                                int(client_order_id), partial)
            self._by_engine_id[record.engine_order.order_id] = record
        self.records.append(record)
        drop = self.faults.take(FaultKind.DROP_AFTER_EXECUTE, key.account, request.path)
        if drop is not None:
            logger.info("grvt: dropping the answer to create_order for %s", key.account)
            return await self.lose_answer(request, drop)
        return json_response({"result": self.order_document(record, pending=True)})

    def _execute(self, key: GrvtKey, rules: MarketRules, side: Side, size: Decimal, price: Decimal | None,
                 time_in_force: str, post_only: bool, reduce_only: bool, client_id: int,
                 partial: Fault | None) -> Order:
        resting = time_in_force == "GOOD_TILL_TIME" and price is not None
        try:
            engine_order = self.exchange.submit_order(
                key.account, rules.symbol, side, size,
                order_type=OrderType.LIMIT if resting else OrderType.MARKET,
                price=price if resting else None,
                time_in_force=TimeInForce.GTC if resting else (
                    TimeInForce.FOK if time_in_force == "FILL_OR_KILL" else TimeInForce.IOC),
                post_only=post_only,
                reduce_only=reduce_only,
                client_id=client_id,
                worst_price=None if resting else price,
                fill_fraction=partial.fraction if partial is not None else None,
            )
        except OrderRejected:
            raise GrvtError(1003) from None
        if engine_order.cancel_reason is CancelReason.INSUFFICIENT_MARGIN and engine_order.executed_quantity == 0:
            # the pre-order margin check refuses the order outright; nothing was accepted
            raise GrvtError(2080)
        return engine_order

    def _find(self, key: GrvtKey, body: dict[str, Any]) -> OrderRecord | None:
        order_id = body.get("order_id") or None
        client_order_id = body.get("client_order_id") or None
        if order_id is None and client_order_id is None:
            raise GrvtError(3021)
        for record in reversed(self.records):
            if record.account != key.account:
                continue
            if order_id is not None and record.order_id == str(order_id):
                return record
            if order_id is None and record.client_order_id == str(client_order_id):
                return record
        return None

    async def _order(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        record = self._find(key, body)
        cutoff = self.lag_cutoff_ms(request, key.account)
        if record is not None and cutoff is not None and record.created_ns > cutoff * NANOS_PER_MS:
            record = None  # the order lookup trails the engine
        if record is None:
            raise GrvtError(1004)
        return json_response({"result": self.order_document(record)})

    async def _cancel_order(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        ttl_ms = _integer(body.get("time_to_live_ms") or 0, 2**31)
        if ttl_ms > MAX_CANCEL_TTL_MS:
            raise GrvtError(2301)
        record = self._find(key, body)
        order = record.engine_order if record is not None else None
        if order is not None and order.is_open:
            self.exchange.cancel_order(key.account, order_id=order.order_id)
        elif body.get("client_order_id") and not body.get("order_id"):
            # a cancel may arrive before its order: the order's creation is cancelled during the time-to-live
            ttl = (ttl_ms // 100 * 100) or DEFAULT_CANCEL_TTL_MS
            self._fences[(key.account, str(body["client_order_id"]))] = self.clock.monotonic() + ttl / 1000
            self.fence_log.append({"account": key.account, "client_order_id": str(body["client_order_id"]),
                                   "time_to_live_ms": ttl})
        return json_response({"result": {"ack": True}})

    async def _cancel_all_orders(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        for order in self.exchange.resting_orders(account=key.account):
            if self._matches(order.symbol, body):
                record = self._by_engine_id.get(order.order_id)
                if record is not None:
                    record.bulk_cancelled = True
                self.exchange.cancel_order(key.account, order_id=order.order_id)
        return json_response({"result": {"ack": True}})

    async def _open_orders(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        rows = [
            self.order_document(self._by_engine_id[order.order_id])
            for order in self.exchange.resting_orders(account=key.account)
            if order.order_id in self._by_engine_id and self._matches(order.symbol, body)
        ]
        return json_response({"result": rows})

    # ----- positions, account, fills ----------------------------------------------------------------------------

    def position_document(self, key: GrvtKey, symbol: str) -> dict[str, Any]:
        account = self.exchange.account(key.account)
        position = account.positions[symbol]
        mark = self.exchange.mark_price(symbol)
        unrealized = position.unrealized_pnl(mark)
        entry = position.entry_price
        liquidation = self.exchange.liquidation_price(key.account, symbol)
        leverage = 1 / self.exchange.initial_margin_fraction(account, symbol)
        roi = (unrealized + position.realized_pnl) / (entry * abs(position.size)) * 100 if entry else Decimal(0)
        return {
            "event_time": str(self.now_ns()),
            "sub_account_id": str(key.sub_account_id),
            "instrument": symbol,
            "size": _num(position.size),
            "notional": _quote(position.size * mark),
            "entry_price": _price(entry),
            "exit_price": "0.0",
            "mark_price": _num(mark),
            "unrealized_pnl": _quote(unrealized),
            "realized_pnl": _quote(position.realized_pnl),
            "total_pnl": _quote(unrealized + position.realized_pnl),
            "roi": _num(roi.quantize(Decimal("0.0001"))),
            "quote_index_price": "1.0",
            "est_liquidation_price": _price(liquidation),
            "leverage": _num(leverage.quantize(Decimal("0.1"))),
            "cumulative_fee": _quote(position.fees_paid),
            "cumulative_realized_funding_payment": "0.0",
            "margin_type": "CROSS",
        }

    def _position_rows(self, key: GrvtKey, body: dict[str, Any]) -> list[dict[str, Any]]:
        positions = self.exchange.account(key.account).positions
        return [self.position_document(key, symbol) for symbol, position in positions.items()
                if position.size != 0 and self._matches(symbol, body)]

    async def _positions(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        return json_response({"result": self._position_rows(key, body)})

    async def _account_summary(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        summary = self.exchange.summary(key.account)
        return json_response({"result": {
            "event_time": str(self.now_ns()),
            "sub_account_id": str(key.sub_account_id),
            "margin_type": "SIMPLE_CROSS_MARGIN",
            "settle_currency": "USDT",
            "unrealized_pnl": _quote(summary.unrealized_pnl),
            "total_equity": _quote(summary.equity),
            "initial_margin": _quote(summary.initial_margin + summary.open_order_margin),
            "maintenance_margin": _quote(summary.maintenance_margin),
            "available_balance": _quote(summary.available),
            "spot_balances": [{"currency": "USDT", "balance": _quote(summary.collateral), "index_price": "1.0"}],
            "positions": self._position_rows(key, {}),
            "settle_index_price": "1.0",
            "derisk_margin": _quote(summary.maintenance_margin),
            "derisk_to_maintenance_margin_ratio": "1.0",
            "is_vault": False,
        }})

    def fill_document(self, key: GrvtKey, fill: Fill) -> dict[str, Any]:
        record = self._by_engine_id.get(fill.order_id) if fill.order_id is not None else None
        mark = self.exchange.mark_price(fill.symbol)
        rules = self.exchange.rules[fill.symbol]
        return {
            "event_time": str(fill.timestamp_ms * NANOS_PER_MS),
            "sub_account_id": str(key.sub_account_id),
            "instrument": fill.symbol,
            "is_buyer": fill.side is Side.BUY,
            "is_taker": not fill.is_maker,
            "size": _num(fill.quantity),
            "price": _num(fill.price),
            "mark_price": _num(mark),
            "index_price": _num(mark),
            "interest_rate": "0.0",
            "forward_price": "0.0",
            "realized_pnl": "0.0",
            "fee": _quote(fill.fee),
            "fee_rate": _num(rules.maker_fee if fill.is_maker else rules.taker_fee),
            "trade_id": f"{fill.trade_id}-1",
            "order_id": record.order_id if record is not None else "0x00",
            "venue": "ORDERBOOK",
            "is_liquidation": fill.kind is TradeKind.LIQUIDATION,
            "client_order_id": record.client_order_id if record is not None else "0",
            "signer": key.address,
            "is_rpi": False,
        }

    async def _fill_history(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        limit = _integer(body.get("limit") or 500, MAX_HISTORY_LIMIT)
        offset = _integer(body.get("cursor") or 0, 2**31)
        start = _integer(body["start_time"], 2**63) if body.get("start_time") else None
        end = _integer(body["end_time"], 2**63) if body.get("end_time") else None
        cutoff = self.lag_cutoff_ms(request, key.account)
        fills = [
            fill for fill in reversed(self.exchange.fills)
            if fill.account == key.account and self._matches(fill.symbol, body)
            and (cutoff is None or fill.timestamp_ms <= cutoff)
            and (start is None or fill.timestamp_ms * NANOS_PER_MS >= start)
            and (end is None or fill.timestamp_ms * NANOS_PER_MS <= end)
        ]
        page = fills[offset:offset + limit]
        following = str(offset + limit) if offset + limit < len(fills) else ""
        return json_response({"result": [self.fill_document(key, fill) for fill in page], "next": following})
