"""Paper Backpack's HTTP server: the public and signed REST endpoints of Backpack's perpetuals API over the shared
paper market, with the venue's error bodies and the Backpack side of the fault kinds.

Every route the venue serves is registered in ``PaperBackpack.add_routes``.
"""

from __future__ import annotations

import json
import logging
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aiohttp import web
from nacl.signing import VerifyKey

from hedgectl.sim.backpack.accounts import ApiKey, new_api_key
from hedgectl.sim.backpack.documents import (
    assets_document,
    fill_document,
    market_document,
    order_document,
    position_document,
    ticker_document,
)
from hedgectl.sim.backpack.params import (
    boolean,
    choice,
    client_id_param,
    decimal_param,
    fill_type_matches,
    int_param,
    optional_text,
    page,
)
from hedgectl.sim.backpack.signature import SIGNED_ROUTES, authenticate
from hedgectl.sim.backpack.wire import (
    ORDER_TYPES,
    REFUSALS,
    RULE_MESSAGES,
    SIDE_NAMES,
    SIDES,
    TIME_IN_FORCE,
    ApiError,
    RawNumber,
    bad_request,
    decimal_text,
    parse_error,
)
from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import Order, OrderRejected, OrderType, Side
from hedgectl.sim.exchange.state import accounts_snapshot, restore_accounts, state_document
from hedgectl.sim.faults import Fault, FaultKind
from hedgectl.sim.market import BACKPACK_RULES, Market, MarketRules
from hedgectl.sim.server import PaperVenue, json_response

logger = logging.getLogger(__name__)

ACCOUNT_NAME = "backpack"
DEFAULT_COLLATERAL = Decimal("10000")
DEFAULT_LEVERAGE = Decimal("10")
MAX_BATCH = 20


class PaperBackpack(PaperVenue):
    """Backpack's REST API over an ``Exchange`` with Backpack's market rules."""

    name = "backpack"

    def __init__(self, market: Market, *, rules: dict[str, MarketRules] | None = None) -> None:
        super().__init__(market)
        first_id = market.rng("backpack:order-ids").randrange(10**9, 4 * 10**9)
        self.exchange = Exchange(
            market, "backpack", rules or BACKPACK_RULES,
            basis={"ETH": Decimal("0.0002"), "BTC": Decimal("0.0001"), "SOL": Decimal("-0.0002")},
            default_leverage=DEFAULT_LEVERAGE, first_order_id=first_id, clock_ms=self.now_ms,
        )
        self.api_keys: dict[str, ApiKey] = {}
        self._verify_keys: dict[str, VerifyKey] = {}
        self.arm_engine_faults(self.exchange)
        self.faults.handles(FaultKind.LAG)
        from hedgectl.sim.backpack.stream import BackpackStreams

        self.streams = BackpackStreams(self)

    # ----- accounts ---------------------------------------------------------------------------------------------

    def create_account(self, name: str, collateral: Decimal = DEFAULT_COLLATERAL) -> ApiKey:
        """A funded account with a fresh Ed25519 API key."""
        key = new_api_key(name)
        self.exchange.open_account(name, collateral)
        self._register(key)
        return key

    def _register(self, key: ApiKey) -> None:
        self.api_keys[key.public] = key
        self._verify_keys[key.public] = key.verify_key()

    def create_default_accounts(self) -> None:
        if ACCOUNT_NAME not in self.exchange.accounts:
            self.create_account(ACCOUNT_NAME)

    def accounts_section(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ws_url": "ws" + self.url.removeprefix("http") + "/ws",
            "accounts": [
                {"name": key.account, "api_key": key.public, "api_secret": key.secret}
                for key in self.api_keys.values()
            ],
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "api_keys": [{"account": key.account, "public": key.public, "secret": key.secret}
                         for key in self.api_keys.values()],
            "accounts": accounts_snapshot(self.exchange),
        }

    def restore(self, data: dict[str, Any]) -> None:
        restore_accounts(self.exchange, data.get("accounts", {}))
        for item in data.get("api_keys", []):
            self._register(ApiKey(item["account"], item["public"], item["secret"]))
        self.create_default_accounts()

    def state(self) -> dict[str, Any]:
        document = state_document(self.exchange)
        document["api_keys"] = {key.account: key.public for key in self.api_keys.values()}
        return document

    async def account_for(self, request: web.Request) -> str | None:
        key = self.api_keys.get(request.headers.get("X-API-Key", ""))
        return key.account if key is not None else None

    # ----- error bodies -----------------------------------------------------------------------------------------

    def error_response(self, fault: Fault) -> web.StreamResponse:
        if fault.status == 503:
            return json_response({"code": "MAINTENANCE", "message": "Service unavailable"}, status=503)
        if fault.status in (502, 504):
            return web.Response(status=fault.status, text="Bad Gateway" if fault.status == 502 else "Gateway Timeout")
        return json_response({"code": "SERVER_ERROR", "message": "Internal server error"}, status=fault.status)

    def rate_limit_response(self, fault: Fault) -> web.StreamResponse:
        return json_response({"code": "TOO_MANY_REQUESTS", "message": "Too many requests"}, status=429)

    def not_found_response(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404)

    # ----- routes -----------------------------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        public = {
            "/api/v1/assets": self._assets,
            "/api/v1/markets": self._markets,
            "/api/v1/securities": self._securities,
            "/api/v1/market": self._market,
            "/api/v1/ticker": self._ticker,
            "/api/v1/tickers": self._tickers,
            "/api/v1/depth": self._depth,
            "/api/v1/markPrices": self._mark_prices,
            "/api/v1/status": self._status,
            "/api/v1/ping": self._ping,
            "/api/v1/time": self._time,
        }
        for path, handler in public.items():
            router.add_get(path, self._public(handler))
        router.add_get("/ws", self.streams.serve)
        signed = {
            ("POST", "/api/v1/order"): self._order_execute,
            ("GET", "/api/v1/order"): self._order_query,
            ("DELETE", "/api/v1/order"): self._order_cancel,
            ("POST", "/api/v1/orders"): self._order_execute_batch,
            ("GET", "/api/v1/orders"): self._orders_query,
            ("DELETE", "/api/v1/orders"): self._orders_cancel,
            ("GET", "/wapi/v1/history/orders"): self._order_history,
            ("GET", "/wapi/v1/history/fills"): self._fill_history,
            ("GET", "/api/v1/position"): self._positions,
            ("GET", "/api/v1/capital"): self._capital,
            ("GET", "/api/v1/capital/collateral"): self._collateral,
            ("GET", "/api/v1/account"): self._account,
            ("PATCH", "/api/v1/account"): self._account_update,
            ("GET", "/api/v1/account/limits/order"): self._max_order_quantity,
        }
        for (method, path), handler in signed.items():
            router.add_route(method, path, self._signed(SIGNED_ROUTES[(method, path)], handler))

    def _public(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except ApiError as error:
                return error.response()

        return wrapped

    def _signed(self, instruction: str, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                params = await self._params(request)
                api_key = authenticate(request.headers, instruction, params, self.now_ms(), self._verify_keys)
                account = self.api_keys[api_key].account
                try:
                    return await handler(request, account, params)
                finally:
                    self.streams.publish()  # what the request changed goes out on the account streams
            except ApiError as error:
                return error.response()

        return wrapped

    async def _params(self, request: web.Request) -> dict[str, Any] | list[dict[str, Any]]:
        if request.method == "GET":
            return dict(request.query)
        raw = await request.read()
        if not raw.strip():
            return dict(request.query)
        try:
            params = json.loads(raw, parse_float=RawNumber, parse_int=RawNumber)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise parse_error(f"invalid JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
        if isinstance(params, dict):
            return params
        if isinstance(params, list) and all(isinstance(item, dict) for item in params):
            return params
        raise parse_error("expected a JSON object")

    # ----- public endpoints -------------------------------------------------------------------------------------

    async def _assets(self, request: web.Request) -> web.StreamResponse:
        return json_response(assets_document())

    def _rules(self, symbol: str | None) -> MarketRules:
        if not symbol:
            raise bad_request("Missing symbol")
        rules = self.exchange.rules.get(symbol)
        if rules is None:
            raise bad_request("Invalid symbol", "INVALID_SYMBOL")
        return rules

    async def _markets(self, request: web.Request) -> web.StreamResponse:
        # marketType may be repeated or comma-separated; every paper market is a perpetual
        wanted = {part.strip().upper() for value in request.query.getall("marketType", [])
                  for part in value.split(",") if part.strip()}
        documents = [market_document(rules) for rules in self.exchange.rules.values()]
        return json_response([doc for doc in documents if not wanted or doc["marketType"] in wanted])

    async def _securities(self, request: web.Request) -> web.StreamResponse:
        # tokenized-stock RFQ metadata: a perps-only venue lists none
        return json_response([])

    async def _market(self, request: web.Request) -> web.StreamResponse:
        return json_response(market_document(self._rules(request.query.get("symbol"))))

    async def _ticker(self, request: web.Request) -> web.StreamResponse:
        return json_response(ticker_document(self.exchange, self._rules(request.query.get("symbol")).symbol))

    async def _tickers(self, request: web.Request) -> web.StreamResponse:
        return json_response([ticker_document(self.exchange, symbol) for symbol in self.exchange.rules])

    async def _depth(self, request: web.Request) -> web.StreamResponse:
        rules = self._rules(request.query.get("symbol"))
        limit = int_param(request.query, "limit", 100, maximum=1000)
        bids, asks = self.exchange.book(rules.symbol, depth=limit)
        return json_response({
            "asks": [[decimal_text(price), decimal_text(size)] for price, size in asks],
            # The venue lists bids ascending, best bid last.
            "bids": [[decimal_text(price), decimal_text(size)] for price, size in reversed(bids)],
            "lastUpdateId": str(len(self.exchange.trades) + self.market.steps),
            "timestamp": int(self.clock.now() * 1_000_000),
        })

    async def _mark_prices(self, request: web.Request) -> web.StreamResponse:
        symbol = request.query.get("symbol")
        symbols = [self._rules(symbol).symbol] if symbol else list(self.exchange.rules)
        next_funding = (int(self.clock.now()) // 3600 + 1) * 3_600_000
        return json_response([
            {
                "symbol": name,
                "markPrice": decimal_text(self.exchange.mark_price(name)),
                "indexPrice": decimal_text(self.market.mid(self.exchange.rules[name].base).quantize(
                    self.exchange.rules[name].tick_size)),
                "fundingRate": "0.0000125",
                "nextFundingTimestamp": next_funding,
            }
            for name in symbols
        ])

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return json_response({"status": "Ok", "message": None})

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="pong")

    async def _time(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=str(self.now_ms()))

    # ----- orders -----------------------------------------------------------------------------------------------

    def _place(self, account: str, params: dict[str, Any], fault: Fault | None) -> Order:
        """Validate one orderExecute payload and submit it; raises ApiError for what the venue refuses."""
        rules = self._rules(optional_text(params.get("symbol")))
        side = choice(params, "side", SIDES, required=True)
        order_type = choice(params, "orderType", ORDER_TYPES, required=True)
        tif = choice(params, "timeInForce", TIME_IN_FORCE)
        post_only = boolean(params, "postOnly")
        reduce_only = boolean(params, "reduceOnly")
        client_id = client_id_param(params.get("clientId"))
        quantity = decimal_param(params, "quantity")
        quote_quantity = decimal_param(params, "quoteQuantity")
        price = decimal_param(params, "price")
        if order_type is OrderType.MARKET:
            if (quantity is None) == (quote_quantity is None):
                raise bad_request("Market order must specify exactly one of quantity or quoteQuantity")
            if post_only:
                raise bad_request("Post only is not allowed for market orders")
        elif quantity is None:
            raise bad_request("Limit order must specify quantity")
        if quote_quantity is not None and (quote_quantity <= 0):
            raise bad_request("Quote quantity must be positive")
        worst_price = self._slippage_bound(rules, side, params) if order_type is OrderType.MARKET else None
        fill_fraction = fault.fraction if fault is not None else None
        try:
            order = self.exchange.submit_order(
                account, rules.symbol, side, quantity,
                order_type=order_type, price=price, time_in_force=tif, post_only=post_only,
                reduce_only=reduce_only, client_id=client_id, worst_price=worst_price,
                quote_quantity=quote_quantity, fill_fraction=fill_fraction,
                extra={"selfTradePrevention": optional_text(params.get("selfTradePrevention")) or "RejectTaker"},
            )
        except OrderRejected as rejected:
            code, message = RULE_MESSAGES[rejected.violation]
            raise bad_request(message, code) from None
        if order.executed_quantity == 0 and order.cancel_reason in REFUSALS:
            code, message = REFUSALS[order.cancel_reason]
            raise bad_request(message, code)
        return order

    def _slippage_bound(self, rules: MarketRules, side: Side, params: dict[str, Any]) -> Decimal | None:
        # slippageTolerance is measured from the best opposite price, in percent unless slippageToleranceType is
        # TickSize (a number of ticks); both readings are unverified on the live venue.
        tolerance = decimal_param(params, "slippageTolerance")
        if tolerance is None:
            return None
        if tolerance < 0:
            raise bad_request("Slippage tolerance must not be negative")
        best_bid, best_ask = self.exchange.best_bid_ask(rules.symbol)
        best = best_ask if side is Side.BUY else best_bid
        if optional_text(params.get("slippageToleranceType")) == "TickSize":
            distance = tolerance * rules.tick_size
        else:
            distance = best * tolerance / 100
        return best + side.sign * distance

    async def _execute_with_faults(self, request: web.Request, account: str,
                                   payloads: list[dict[str, Any]], batch: bool) -> web.StreamResponse:
        path = request.path
        reject = self.faults.take(FaultKind.REJECT, account, path)
        if reject is not None:
            return bad_request(reject.message or "Insufficient margin", reject.code or "INSUFFICIENT_MARGIN").response()
        results: list[Any] = []
        for payload in payloads:
            # as on paper GRVT, a partial fill is what happens to the next taker order: a market order, or an
            # immediate-or-cancel (fill-or-kill) limit order, which is how a bounded market order goes out
            taker = isinstance(payload, dict) and (
                payload.get("orderType") == "Market" or payload.get("timeInForce") in ("IOC", "FOK"))
            partial = self.faults.take(FaultKind.PARTIAL_FILL, account, path) if taker else None
            try:
                results.append(order_document(self._place(account, payload, partial)))
            except ApiError as error:
                if not batch:
                    raise
                results.append({"code": error.code, "message": error.message})
        drop = self.faults.take(FaultKind.DROP_AFTER_EXECUTE, account, path)
        if drop is not None:
            logger.info("backpack: dropping the answer to %s for %s", path, account)
            return await self.lose_answer(request, drop)
        return json_response(results if batch else results[0])

    async def _order_execute(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        if not isinstance(params, dict):
            raise parse_error("expected a JSON object")
        return await self._execute_with_faults(request, account, [params], batch=False)

    async def _order_execute_batch(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        if not isinstance(params, list):
            raise parse_error("expected a JSON array of orders")
        if not 1 <= len(params) <= MAX_BATCH:
            raise bad_request(f"A batch holds between 1 and {MAX_BATCH} orders")
        return await self._execute_with_faults(request, account, params, batch=True)

    def _find_resting(self, account: str, params: dict[str, Any]) -> Order:
        symbol = self._rules(optional_text(params.get("symbol"))).symbol
        order_id = params.get("orderId")
        client_id = client_id_param(params.get("clientId"))
        if order_id is None and client_id is None:
            raise bad_request("Must specify exactly one of orderId or clientId")
        for order in self.exchange.resting_orders(symbol, account):
            if (order_id is not None and str(order.order_id) == str(order_id)) or (
                order_id is None and order.client_id == client_id
            ):
                return order
        raise ApiError(404, "RESOURCE_NOT_FOUND", "Order not found")

    async def _order_query(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        return json_response(order_document(self._find_resting(account, params)))

    async def _order_cancel(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        order = self._find_resting(account, params)
        self.exchange.cancel_order(account, order_id=order.order_id)
        return json_response(order_document(order))

    async def _orders_query(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol") or None
        if symbol:
            self._rules(symbol)
        return json_response([order_document(order) for order in self.exchange.resting_orders(symbol, account)])

    async def _orders_cancel(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = self._rules(optional_text(params.get("symbol"))).symbol
        order_type = optional_text(params.get("orderType"))
        if order_type == "ConditionalOrder":
            return json_response([])
        cancelled = self.exchange.cancel_all(account, symbol)
        return json_response([order_document(order) for order in cancelled])

    async def _order_history(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol")
        order_id = params.get("orderId")
        cutoff = self.lag_cutoff_ms(request, account)
        direction = params.get("sortDirection")
        if direction not in (None, "Asc", "Desc"):
            raise bad_request("Invalid sortDirection", "INVALID_CLIENT_REQUEST")
        found = self.exchange.find_orders(account, symbol=symbol or None)
        orders = [
            order for order in (found if direction == "Asc" else reversed(found))
            if (order_id is None or str(order.order_id) == order_id)
            and (cutoff is None or order.created_ms <= cutoff)
        ]
        return json_response([order_document(order) for order in page(orders, params)])

    async def _fill_history(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol")
        order_id = params.get("orderId")
        start = int_param(params, "from", None)
        end = int_param(params, "to", None)
        fill_type = params.get("fillType")
        cutoff = self.lag_cutoff_ms(request, account)
        fills = [
            fill for fill in reversed(self.exchange.fills)
            if fill.account == account
            and (cutoff is None or fill.timestamp_ms <= cutoff)
            and (not symbol or fill.symbol == symbol)
            and (order_id is None or str(fill.order_id) == order_id)
            and (start is None or fill.timestamp_ms >= start)
            and (end is None or fill.timestamp_ms <= end)
            and fill_type_matches(fill, fill_type)
        ]
        return json_response([fill_document(fill) for fill in page(fills, params)])

    # ----- positions and balances -------------------------------------------------------------------------------

    async def _positions(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol")
        positions = self.exchange.account(account).positions
        return json_response([
            position_document(self.exchange, account, name)
            for name, position in positions.items()
            if position.size != 0 and (not symbol or name == symbol)
        ])

    async def _capital(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        collateral = self.exchange.account(account).collateral
        return json_response({"USDC": {"available": decimal_text(collateral), "locked": "0", "staked": "0"}})

    async def _collateral(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        summary = self.exchange.summary(account)
        collateral = decimal_text(summary.collateral)
        imf = summary.initial_margin / summary.notional if summary.notional else Decimal(0)
        mmf = summary.maintenance_margin / summary.notional if summary.notional else Decimal(0)
        margin_fraction = summary.equity / summary.notional if summary.notional else None
        locked = summary.initial_margin + summary.open_order_margin
        return json_response({
            "assetsValue": decimal_text(summary.equity),
            "borrowLiability": "0",
            "collateral": [{
                "symbol": "USDC", "assetMarkPrice": "1", "totalQuantity": collateral, "balanceNotional": collateral,
                "collateralWeight": "1", "collateralValue": collateral, "openOrderQuantity": "0",
                "lendQuantity": "0", "availableQuantity": collateral,
            }],
            "imf": decimal_text(imf.quantize(Decimal("0.000001"))),
            "unsettledEquity": decimal_text(summary.unrealized_pnl),
            "liabilitiesValue": "0",
            "marginFraction": decimal_text(margin_fraction.quantize(Decimal("0.000001"))) if margin_fraction else None,
            "mmf": decimal_text(mmf.quantize(Decimal("0.000001"))),
            "netEquity": decimal_text(summary.equity),
            "netEquityAvailable": decimal_text(summary.available),
            "netEquityLocked": decimal_text(locked),
            "netExposureFutures": decimal_text(summary.notional),
            "pnlUnrealized": decimal_text(summary.unrealized_pnl),
        })

    async def _account(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        leverage = self.exchange.account(account).leverage
        limit = max(leverage.values(), default=DEFAULT_LEVERAGE)
        return json_response({
            "autoBorrowSettlements": True, "autoLend": False, "autoRealizePnl": True, "autoRepayBorrows": True,
            "borrowLimit": "0", "futuresMakerFee": "2", "futuresTakerFee": "5",
            "leverageLimit": decimal_text(limit), "limitOrders": 500, "liquidating": False,
            "positionLimit": "1000000", "spotMakerFee": "8", "spotTakerFee": "10", "triggerOrders": 100,
        })

    async def _account_update(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        leverage = decimal_param(params, "leverageLimit")
        if leverage is not None:
            for symbol in self.exchange.rules:
                try:
                    self.exchange.set_leverage(account, symbol, leverage)
                except ValueError as exc:
                    raise bad_request(f"Invalid leverage limit: {exc}") from None
        return web.Response(status=200)

    async def _max_order_quantity(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        rules = self._rules(optional_text(params.get("symbol")))
        side = choice(params, "side", SIDES, required=True)
        size = self.exchange.account(account).size(rules.symbol)
        reducible = abs(size) if size * side.sign < 0 else Decimal(0)
        if boolean(params, "reduceOnly"):
            maximum = reducible
        else:
            price = decimal_param(params, "price") or self.exchange.mark_price(rules.symbol)
            summary = self.exchange.summary(account)
            imf = self.exchange.initial_margin_fraction(self.exchange.account(account), rules.symbol)
            maximum = reducible + (summary.available / (price * imf)).quantize(rules.step_size, rounding=ROUND_DOWN)
        return json_response({"maxOrderQuantity": decimal_text(maximum), "symbol": rules.symbol,
                              "side": SIDE_NAMES[side]})
