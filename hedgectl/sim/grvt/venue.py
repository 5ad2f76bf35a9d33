"""Paper GRVT's HTTP server: GRVT's API-key login, trading endpoints and market data (``full/v1``, JSON POST) over
the shared paper market, with the venue's error bodies and the GRVT side of the fault kinds.

Orders are verified as the venue does it (``signature``); they are accepted as PENDING and executed at once; their
outcome is read back with ``order`` by client order id, as on the real venue. Every route the venue serves is
registered in ``PaperGrvt.add_routes``.
"""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import CancelReason, Fill, Order, OrderRejected, OrderType, Side, TimeInForce
from hedgectl.sim.exchange.state import accounts_snapshot, restore_accounts, state_document
from hedgectl.sim.faults import Fault, FaultKind
from hedgectl.sim.grvt.accounts import GrvtKey, new_wallet
from hedgectl.sim.grvt.documents import fill_document, position_document, ticker_document
from hedgectl.sim.grvt.markets import (
    BASE_DECIMALS,
    GRVT_RULES,
    INSTRUMENT_HASHES,
    MAX_POSITION_SIZES,
    instrument_document,
)
from hedgectl.sim.grvt.orders import OrderRecord, order_document, order_status
from hedgectl.sim.grvt.signature import verify_order_signature
from hedgectl.sim.grvt.wire import (
    NANOS_PER_MS,
    GrvtError,
    decimal_field,
    flag,
    integer_field,
    num_text,
    quote_text,
)
from hedgectl.sim.market import Market, MarketRules, is_multiple
from hedgectl.sim.server import PaperVenue, json_response

logger = logging.getLogger(__name__)

ACCOUNT_NAME = "grvt"
#: The chain id paper GRVT signs under (testnet's); the accounts file tells connectors.
PAPER_CHAIN_ID = 326
DEFAULT_COLLATERAL = Decimal("10000")
DEFAULT_LEVERAGE = Decimal("10")
SESSION_SECS = 24 * 3600
#: The account streams' path (JSON-RPC with full field names), beside the REST routes as on the trades host.
STREAM_PATH = "/ws/full"
DEFAULT_CANCEL_TTL_MS = 1000
MAX_CANCEL_TTL_MS = 5000
BOOK_DEPTHS = (10, 50, 100, 500)
MAX_HISTORY_LIMIT = 1000
UINT64_MAX = 2**64 - 1
TIME_IN_FORCES = ("GOOD_TILL_TIME", "ALL_OR_NONE", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "RETAIL_PRICE_IMPROVEMENT")
BOOK_TIME_IN_FORCES = ("GOOD_TILL_TIME", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")


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
        from hedgectl.sim.grvt.stream import GrvtStreams

        self.streams = GrvtStreams(self)

    # ----- accounts ---------------------------------------------------------------------------------------------

    def create_account(self, name: str, collateral: Decimal = DEFAULT_COLLATERAL) -> GrvtKey:
        """A funded sub account with a fresh API key and signing wallet."""
        private_key, address = new_wallet()
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
            "ws_url": "ws" + self.url.removeprefix("http") + STREAM_PATH,
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
            for status, reason in [order_status(record)]
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
        router.add_get(STREAM_PATH, self.streams.serve)

    def _route(self, handler: Callable[..., Awaitable[web.StreamResponse]], *, private: bool = False) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                body = await self._body(request)
                if private:
                    try:
                        return await handler(request, self._authenticate(request), body)
                    finally:
                        self.streams.publish()  # what the request changed goes out on the account streams
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

    def _scale_of(self, symbol: str) -> tuple[str, int]:
        """What an order's signature encodes of an instrument: its asset id and its base decimals."""
        if symbol not in self.exchange.rules:
            raise GrvtError(2061)
        return INSTRUMENT_HASHES[symbol], BASE_DECIMALS

    async def _all_instruments(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return json_response({"result": [instrument_document(rules) for rules in self.exchange.rules.values()]})

    async def _instruments(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        limit = integer_field(body.get("limit", 500), 100000)
        rows = [instrument_document(rules) for symbol, rules in self.exchange.rules.items()
                if self._matches(symbol, body)]
        return json_response({"result": rows[:limit]})

    async def _instrument(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return json_response({"result": instrument_document(self._rules(body.get("instrument")))})

    async def _book(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        rules = self._rules(body.get("instrument"))
        depth = body.get("depth")
        if isinstance(depth, bool) or depth not in BOOK_DEPTHS:
            raise GrvtError(3031)
        bids, asks = self.exchange.book(rules.symbol, depth=depth)

        def levels(side: list[tuple[Decimal, Decimal]]) -> list[dict[str, Any]]:
            return [{"price": num_text(price), "size": num_text(size), "num_orders": 1} for price, size in side]

        return json_response({"result": {"event_time": str(self.now_ns()), "instrument": rules.symbol,
                                         "bids": levels(bids), "asks": levels(asks)}})

    async def _ticker(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        symbol = self._rules(body.get("instrument")).symbol
        return json_response({"result": ticker_document(self.exchange, symbol, self.now_ns(), full=True)})

    async def _mini(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        symbol = self._rules(body.get("instrument")).symbol
        return json_response({"result": ticker_document(self.exchange, symbol, self.now_ns(), full=False)})

    async def _trades(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        symbol = self._rules(body.get("instrument")).symbol
        limit = integer_field(body.get("limit", 500), MAX_HISTORY_LIMIT)
        trades = [trade for trade in reversed(self.exchange.trades) if trade.symbol == symbol][:limit]
        return json_response({"result": [
            {"event_time": str(trade.timestamp_ms * NANOS_PER_MS), "instrument": symbol,
             "is_taker_buyer": trade.taker_side is Side.BUY, "size": num_text(trade.quantity),
             "price": num_text(trade.price),
             "mark_price": num_text(self.exchange.mark_price(symbol)),
             "index_price": num_text(self.exchange.mark_price(symbol)),
             "interest_rate": "0.0", "forward_price": "0.0", "trade_id": f"{trade.trade_id}-1", "venue": "ORDERBOOK",
             "is_rpi": False}
            for trade in trades
        ]})

    # ----- orders -----------------------------------------------------------------------------------------------

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
        verify_order_signature(order, signer=key.address, chain_id=self.chain_id, now_ns=self.now_ns(),
                               scale=self._scale_of)
        client_order_id = str(integer_field(metadata.get("client_order_id"), UINT64_MAX))
        time_in_force = order.get("time_in_force")
        if time_in_force not in TIME_IN_FORCES:
            raise GrvtError(1003)
        if time_in_force not in BOOK_TIME_IN_FORCES:
            raise GrvtError(2030)
        is_market = flag(order, "is_market")
        post_only = flag(order, "post_only")
        reduce_only = flag(order, "reduce_only")
        if post_only and time_in_force != "GOOD_TILL_TIME":
            raise GrvtError(2032)
        raw_price = leg.get("limit_price")
        price = None if raw_price in (None, "") else decimal_field(raw_price)
        if is_market and price:
            raise GrvtError(2020)
        if not is_market and not price:
            raise GrvtError(2021)
        if is_market:
            # grvt-pysdk sends a market order with limit price "0" (or "0E-9") and good-till-time: it takes
            # liquidity at once and nothing of it rests
            price = None
        side = Side.BUY if flag(leg, "is_buying_asset") else Side.SELL
        size = decimal_field(leg.get("size"))
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
        return json_response({"result": order_document(record, pending=True)})

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
        return json_response({"result": order_document(record)})

    async def _cancel_order(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        ttl_ms = integer_field(body.get("time_to_live_ms") or 0, 2**31)
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
            order_document(self._by_engine_id[order.order_id])
            for order in self.exchange.resting_orders(account=key.account)
            if order.order_id in self._by_engine_id and self._matches(order.symbol, body)
        ]
        return json_response({"result": rows})

    # ----- positions, account, fills ----------------------------------------------------------------------------

    def _position_rows(self, key: GrvtKey, body: dict[str, Any]) -> list[dict[str, Any]]:
        positions = self.exchange.account(key.account).positions
        now_ns = self.now_ns()
        return [position_document(self.exchange, key, symbol, now_ns) for symbol, position in positions.items()
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
            "unrealized_pnl": quote_text(summary.unrealized_pnl),
            "total_equity": quote_text(summary.equity),
            "initial_margin": quote_text(summary.initial_margin + summary.open_order_margin),
            "maintenance_margin": quote_text(summary.maintenance_margin),
            "available_balance": quote_text(summary.available),
            "spot_balances": [{"currency": "USDT", "balance": quote_text(summary.collateral), "index_price": "1.0"}],
            "positions": self._position_rows(key, {}),
            "settle_index_price": "1.0",
            "derisk_margin": quote_text(summary.maintenance_margin),
            "derisk_to_maintenance_margin_ratio": "1.0",
            "is_vault": False,
        }})

    def _record_of(self, fill: Fill) -> OrderRecord | None:
        return self._by_engine_id.get(fill.order_id) if fill.order_id is not None else None

    async def _fill_history(self, request: web.Request, key: GrvtKey, body: dict[str, Any]) -> web.StreamResponse:
        self._check_sub_account(key, body)
        limit = integer_field(body.get("limit") or 500, MAX_HISTORY_LIMIT)
        offset = integer_field(body.get("cursor") or 0, 2**31)
        start = integer_field(body["start_time"], 2**63) if body.get("start_time") else None
        end = integer_field(body["end_time"], 2**63) if body.get("end_time") else None
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
        rows = [fill_document(self.exchange, key, fill, self._record_of(fill)) for fill in page]
        return json_response({"result": rows, "next": following})
