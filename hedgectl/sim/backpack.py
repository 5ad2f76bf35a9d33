"""Paper Backpack: the public and signed REST endpoints of Backpack's perpetuals API over the shared paper market.

Signed requests are verified as the venue does it: the signing string is rebuilt from the parsed JSON body (POST,
DELETE, PATCH) or query string (GET), so it does not depend on whitespace or key order; the window defaults to 5000 ms
and may not exceed 60000; a request older than its window has expired.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from hedgectl.sim.exchange import (
    CancelReason,
    Exchange,
    Fill,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    RuleViolation,
    Side,
    TimeInForce,
    TradeKind,
)
from hedgectl.sim.faults import Fault, FaultKind
from hedgectl.sim.market import BACKPACK_RULES, Market, MarketRules, plain
from hedgectl.sim.server import PaperVenue, json_response

logger = logging.getLogger(__name__)

ACCOUNT_NAME = "backpack"
DEFAULT_COLLATERAL = Decimal("10000")
DEFAULT_LEVERAGE = Decimal("10")
DEFAULT_WINDOW_MS = 5000
MAX_WINDOW_MS = 60000
MAX_BATCH = 20
UINT32_MAX = 2**32 - 1

SIDES = {"Bid": Side.BUY, "Ask": Side.SELL}
SIDE_NAMES = {Side.BUY: "Bid", Side.SELL: "Ask"}
ORDER_TYPES = {"Market": OrderType.MARKET, "Limit": OrderType.LIMIT}
TIME_IN_FORCE = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
TIME_IN_FORCE_NAMES = {value: key for key, value in TIME_IN_FORCE.items()}
STATUS_NAMES = {
    OrderStatus.NEW: "New",
    OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
    OrderStatus.FILLED: "Filled",
}
EXPIRY_REASONS = {
    CancelReason.INSUFFICIENT_MARGIN: "InsufficientMargin",
    CancelReason.INSUFFICIENT_LIQUIDITY: "InsufficientLiquidity",
    CancelReason.REDUCE_ONLY: "ReduceOnlyNotReduced",
    CancelReason.POST_ONLY_TAKER: "PostOnlyTaker",
    CancelReason.IMMEDIATE_OR_CANCEL: "ImmediateOrCancel",
    CancelReason.SLIPPAGE: "SlippageToleranceExceeded",
    CancelReason.FILL_OR_KILL: "FillOrKill",
    CancelReason.LIQUIDATION: "Liquidation",
}
# What an order that could not execute at all answers, instead of an order document.
REFUSALS = {
    CancelReason.INSUFFICIENT_MARGIN: ("INSUFFICIENT_MARGIN", "Insufficient margin"),
    CancelReason.REDUCE_ONLY: ("INVALID_ORDER", "Reduce only order not reduced"),
    CancelReason.POST_ONLY_TAKER: ("INVALID_ORDER", "Order would immediately match and take"),
    CancelReason.INSUFFICIENT_LIQUIDITY: ("INVALID_ORDER", "No liquidity for market order"),
    CancelReason.FILL_OR_KILL: ("INVALID_ORDER", "Fill or kill order would not fill completely"),
}
RULE_MESSAGES = {
    RuleViolation.UNKNOWN_SYMBOL: ("INVALID_SYMBOL", "Invalid symbol"),
    RuleViolation.QUANTITY_NOT_POSITIVE: ("INVALID_CLIENT_REQUEST", "Quantity must be positive"),
    RuleViolation.QUANTITY_PRECISION: ("INVALID_CLIENT_REQUEST", "Quantity decimal too long"),
    RuleViolation.QUANTITY_BELOW_MINIMUM: ("INVALID_CLIENT_REQUEST", "Quantity is below the minimum allowed value"),
    RuleViolation.NOTIONAL_BELOW_MINIMUM: ("INVALID_CLIENT_REQUEST", "Quantity is below the minimum allowed value"),
    RuleViolation.PRICE_MISSING: ("INVALID_CLIENT_REQUEST", "Price is required for a limit order"),
    RuleViolation.PRICE_NOT_POSITIVE: ("INVALID_PRICE", "Price must be positive"),
    RuleViolation.PRICE_PRECISION: ("INVALID_CLIENT_REQUEST", "Price decimal too long"),
    RuleViolation.PRICE_TOO_HIGH: ("INVALID_PRICE", "Price is too far from the last active price"),
}

# (method, path) -> instruction of the signing string.
SIGNED_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/order"): "orderExecute",
    ("GET", "/api/v1/order"): "orderQuery",
    ("DELETE", "/api/v1/order"): "orderCancel",
    ("POST", "/api/v1/orders"): "orderExecute",
    ("GET", "/api/v1/orders"): "orderQueryAll",
    ("DELETE", "/api/v1/orders"): "orderCancelAll",
    ("GET", "/wapi/v1/history/orders"): "orderHistoryQueryAll",
    ("GET", "/wapi/v1/history/fills"): "fillHistoryQueryAll",
    ("GET", "/api/v1/position"): "positionQuery",
    ("GET", "/api/v1/capital"): "balanceQuery",
    ("GET", "/api/v1/capital/collateral"): "collateralQuery",
    ("GET", "/api/v1/account"): "accountQuery",
    ("PATCH", "/api/v1/account"): "accountUpdate",
    ("GET", "/api/v1/account/limits/order"): "maxOrderQuantity",
}

ASSETS = {
    "USDC": ("USD Coin", "usd-coin", "Solana"),
    "ETH": ("Ethereum", "ethereum", "Ethereum"),
    "BTC": ("Bitcoin", "bitcoin", "Bitcoin"),
    "SOL": ("Solana", "solana", "Solana"),
}


class RawNumber(str):
    """A JSON number kept as the text it was sent as, so that the signing string matches what the client signed."""


class ApiError(Exception):
    """An error answer: Backpack's ``{"code", "message"}`` JSON body, or plain text when ``code`` is None."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        if self.code is None:
            return web.Response(status=self.status, text=self.message)
        return json_response({"code": self.code, "message": self.message}, status=self.status)


def _bad_request(message: str, code: str = "INVALID_CLIENT_REQUEST") -> ApiError:
    return ApiError(400, code, message)


def _parse_error(message: str) -> ApiError:
    # The venue answers body deserialisation failures in plain text.
    return ApiError(400, None, f"Failed to deserialize the JSON body into the target type: {message}")


def signing_value(value: Any) -> str:
    """A parameter value as it appears in the signing string: booleans ``true``/``false``, the rest as text."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def signing_string(instruction: str, params: dict[str, Any] | list[dict[str, Any]], timestamp: str,
                   window: str) -> str:
    """Backpack's signed message for ``params`` (a dict, or a list of orders for a batch); null values are omitted."""
    items = params if isinstance(params, list) else [params]
    pieces = []
    for item in items:
        fields = "&".join(f"{key}={signing_value(value)}" for key, value in sorted(item.items()) if value is not None)
        if isinstance(params, list):
            pieces.append(f"instruction={instruction}" + (f"&{fields}" if fields else ""))
        elif fields:
            pieces.append(fields)
    if isinstance(params, list):
        body = "&".join(pieces)
    else:
        body = f"instruction={instruction}" + ("&" + pieces[0] if pieces else "")
    return f"{body}&timestamp={timestamp}&window={window}"


@dataclass
class ApiKey:
    """A Backpack API key pair; ``secret`` is the base64 Ed25519 seed (never logged)."""

    account: str
    public: str
    secret: str

    def __repr__(self) -> str:
        return f"ApiKey(account={self.account!r}, public={self.public!r})"


def _decimal_text(value: Decimal | None) -> str | None:
    """A Decimal without trailing zeros, in plain notation."""
    if value is None:
        return None
    return plain(value.normalize()) if value != 0 else "0"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


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
        from hedgectl.sim.backpack_stream import BackpackStreams

        self.streams = BackpackStreams(self)

    # ----- accounts ---------------------------------------------------------------------------------------------

    def create_account(self, name: str, collateral: Decimal = DEFAULT_COLLATERAL) -> ApiKey:
        """A funded account with a fresh Ed25519 API key."""
        signing_key = SigningKey.generate()
        key = ApiKey(
            name,
            base64.b64encode(bytes(signing_key.verify_key)).decode(),
            base64.b64encode(bytes(signing_key)).decode(),
        )
        self.exchange.open_account(name, collateral)
        self._register(key)
        return key

    def _register(self, key: ApiKey) -> None:
        self.api_keys[key.public] = key
        self._verify_keys[key.public] = VerifyKey(base64.b64decode(key.public))

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
            "accounts": self.exchange.accounts_snapshot(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.exchange.restore_accounts(data.get("accounts", {}))
        for item in data.get("api_keys", []):
            self._register(ApiKey(item["account"], item["public"], item["secret"]))
        self.create_default_accounts()

    def state(self) -> dict[str, Any]:
        document = self.exchange.state_document()
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
                account = self._authenticate(request, instruction, params)
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
            raise _parse_error(f"invalid JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
        if isinstance(params, dict):
            return params
        if isinstance(params, list) and all(isinstance(item, dict) for item in params):
            return params
        raise _parse_error("expected a JSON object")

    def _authenticate(self, request: web.Request, instruction: str, params: Any) -> str:
        headers = request.headers
        api_key = headers.get("X-API-Key")
        signature_text = headers.get("X-Signature")
        timestamp_text = headers.get("X-Timestamp")
        window_text = headers.get("X-Window")
        if not api_key:
            raise _bad_request("Invalid X-API-Key header")
        if not signature_text:
            raise _bad_request("Invalid X-Signature header")
        if not timestamp_text or not timestamp_text.isdigit():
            raise _bad_request("Invalid X-Timestamp header")
        if window_text is None:
            window_text = str(DEFAULT_WINDOW_MS)
        if not window_text.isdigit():
            raise _bad_request("Invalid X-Window header")
        if int(window_text) > MAX_WINDOW_MS:
            raise _bad_request(f"Invalid X-Window header: window must not exceed {MAX_WINDOW_MS}")
        now_ms = self.now_ms()
        if now_ms > int(timestamp_text) + int(window_text):
            raise ApiError(401, "INVALID_CLIENT_REQUEST", "Request has expired")
        try:
            signature = base64.b64decode(signature_text, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_request("Invalid X-Signature header") from None
        if len(signature) != 64:
            raise _bad_request("Invalid X-Signature header")
        verify_key = self._verify_keys.get(api_key)
        message = signing_string(instruction, params, timestamp_text, window_text).encode()
        try:
            if verify_key is None:
                raise BadSignatureError("unknown key")
            verify_key.verify(message, signature)
        except BadSignatureError:
            raise ApiError(401, "INVALID_CLIENT_REQUEST", "Invalid signature") from None
        return self.api_keys[api_key].account

    # ----- public endpoints -------------------------------------------------------------------------------------

    async def _assets(self, request: web.Request) -> web.StreamResponse:
        return json_response([
            {
                "symbol": symbol,
                "displayName": display,
                "coingeckoId": coingecko,
                "tokens": [{
                    "displayName": display, "blockchain": chain, "contractAddress": None, "depositEnabled": True,
                    "minimumDeposit": "0.0001", "withdrawEnabled": True, "minimumWithdrawal": "0.001",
                    "maximumWithdrawal": None, "withdrawalFee": "0.001",
                }],
            }
            for symbol, (display, coingecko, chain) in ASSETS.items()
        ])

    def _market_document(self, rules: MarketRules) -> dict[str, Any]:
        return {
            "symbol": rules.symbol,
            "baseSymbol": rules.base,
            "quoteSymbol": "USDC",
            "marketType": "PERP",
            "orderBookState": "Open",
            "filters": {
                "price": {"minPrice": _decimal_text(rules.tick_size), "maxPrice": _decimal_text(rules.max_price),
                          "tickSize": _decimal_text(rules.tick_size)},
                "quantity": {"minQuantity": _decimal_text(rules.min_quantity), "maxQuantity": None,
                             "stepSize": _decimal_text(rules.step_size)},
            },
            "imfFunction": {"type": "sqrt", "base": _decimal_text(rules.initial_margin_fraction), "factor": "0"},
            "mmfFunction": {"type": "sqrt", "base": _decimal_text(rules.maintenance_margin_fraction), "factor": "0"},
            "fundingInterval": 3600000,
            "createdAt": "2024-01-01T00:00:00",
        }

    def _rules(self, symbol: str | None) -> MarketRules:
        if not symbol:
            raise _bad_request("Missing symbol")
        rules = self.exchange.rules.get(symbol)
        if rules is None:
            raise _bad_request("Invalid symbol", "INVALID_SYMBOL")
        return rules

    async def _markets(self, request: web.Request) -> web.StreamResponse:
        # marketType may be repeated or comma-separated; every paper market is a perpetual
        wanted = {part.strip().upper() for value in request.query.getall("marketType", [])
                  for part in value.split(",") if part.strip()}
        documents = [self._market_document(rules) for rules in self.exchange.rules.values()]
        return json_response([doc for doc in documents if not wanted or doc["marketType"] in wanted])

    async def _securities(self, request: web.Request) -> web.StreamResponse:
        # tokenized-stock RFQ metadata: a perps-only venue lists none
        return json_response([])

    async def _market(self, request: web.Request) -> web.StreamResponse:
        return json_response(self._market_document(self._rules(request.query.get("symbol"))))

    def _ticker_document(self, symbol: str) -> dict[str, Any]:
        trades = [trade for trade in self.exchange.trades if trade.symbol == symbol]
        last = trades[-1].price if trades else self.exchange.mark_price(symbol)
        first = trades[0].price if trades else last
        volume = sum((trade.quantity for trade in trades), Decimal(0))
        quote_volume = sum((trade.quantity * trade.price for trade in trades), Decimal(0))
        change = last - first
        return {
            "symbol": symbol,
            "firstPrice": _decimal_text(first),
            "lastPrice": _decimal_text(last),
            "priceChange": _decimal_text(change),
            "priceChangePercent": _decimal_text((change / first).quantize(Decimal("0.000001")) if first else Decimal(0)),
            "high": _decimal_text(max((trade.price for trade in trades), default=last)),
            "low": _decimal_text(min((trade.price for trade in trades), default=last)),
            "volume": _decimal_text(volume),
            "quoteVolume": _decimal_text(quote_volume.quantize(Decimal("0.01"))),
            "trades": str(len(trades)),
        }

    async def _ticker(self, request: web.Request) -> web.StreamResponse:
        return json_response(self._ticker_document(self._rules(request.query.get("symbol")).symbol))

    async def _tickers(self, request: web.Request) -> web.StreamResponse:
        return json_response([self._ticker_document(symbol) for symbol in self.exchange.rules])

    async def _depth(self, request: web.Request) -> web.StreamResponse:
        rules = self._rules(request.query.get("symbol"))
        limit = _int_param(request.query, "limit", 100, maximum=1000)
        bids, asks = self.exchange.book(rules.symbol, depth=limit)
        return json_response({
            "asks": [[_decimal_text(price), _decimal_text(size)] for price, size in asks],
            # The venue lists bids ascending, best bid last.
            "bids": [[_decimal_text(price), _decimal_text(size)] for price, size in reversed(bids)],
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
                "markPrice": _decimal_text(self.exchange.mark_price(name)),
                "indexPrice": _decimal_text(self.market.mid(self.exchange.rules[name].base).quantize(
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

    def order_document(self, order: Order) -> dict[str, Any]:
        """An engine order in Backpack's order shape."""
        status = STATUS_NAMES.get(order.status)
        if status is None:
            status = "Cancelled" if order.cancel_reason is CancelReason.USER else "Expired"
        document = {
            "id": str(order.order_id),
            "clientId": order.client_id,
            "symbol": order.symbol,
            "side": SIDE_NAMES[order.side],
            "orderType": "Market" if order.order_type is OrderType.MARKET else "Limit",
            "quantity": _decimal_text(order.quantity) if order.quote_quantity is None else None,
            "quoteQuantity": _decimal_text(order.quote_quantity),
            "executedQuantity": _decimal_text(order.executed_quantity),
            "executedQuoteQuantity": _decimal_text(order.executed_quote),
            "status": status,
            "timeInForce": TIME_IN_FORCE_NAMES[order.time_in_force],
            "selfTradePrevention": order.extra.get("selfTradePrevention", "RejectTaker"),
            "reduceOnly": order.reduce_only,
            "createdAt": order.created_ms,
            "triggerPrice": None,
            "relatedOrderId": None,
        }
        if order.order_type is OrderType.LIMIT:
            document["price"] = _decimal_text(order.price)
            document["postOnly"] = order.post_only
        if order.status is OrderStatus.CANCELLED and order.cancel_reason is not CancelReason.USER:
            document["expiryReason"] = EXPIRY_REASONS.get(order.cancel_reason)
        return document

    def _place(self, account: str, params: dict[str, Any], fault: Fault | None) -> Order:
        """Validate one orderExecute payload and submit it; raises ApiError for what the venue refuses."""
        rules = self._rules(_text(params.get("symbol")))
        side = _enum(params, "side", SIDES, required=True)
        order_type = _enum(params, "orderType", ORDER_TYPES, required=True)
        tif = _enum(params, "timeInForce", TIME_IN_FORCE)
        post_only = _boolean(params, "postOnly")
        reduce_only = _boolean(params, "reduceOnly")
        client_id = _client_id(params.get("clientId"))
        quantity = _decimal(params, "quantity")
        quote_quantity = _decimal(params, "quoteQuantity")
        price = _decimal(params, "price")
        if order_type is OrderType.MARKET:
            if (quantity is None) == (quote_quantity is None):
                raise _bad_request("Market order must specify exactly one of quantity or quoteQuantity")
            if post_only:
                raise _bad_request("Post only is not allowed for market orders")
        elif quantity is None:
            raise _bad_request("Limit order must specify quantity")
        if quote_quantity is not None and (quote_quantity <= 0):
            raise _bad_request("Quote quantity must be positive")
        worst_price = self._slippage_bound(rules, side, params) if order_type is OrderType.MARKET else None
        fill_fraction = fault.fraction if fault is not None else None
        try:
            order = self.exchange.submit_order(
                account, rules.symbol, side, quantity,
                order_type=order_type, price=price, time_in_force=tif, post_only=post_only,
                reduce_only=reduce_only, client_id=client_id, worst_price=worst_price,
                quote_quantity=quote_quantity, fill_fraction=fill_fraction,
                extra={"selfTradePrevention": _text(params.get("selfTradePrevention")) or "RejectTaker"},
            )
        except OrderRejected as rejected:
            code, message = RULE_MESSAGES[rejected.violation]
            raise _bad_request(message, code) from None
        if order.executed_quantity == 0 and order.cancel_reason in REFUSALS:
            code, message = REFUSALS[order.cancel_reason]
            raise _bad_request(message, code)
        return order

    def _slippage_bound(self, rules: MarketRules, side: Side, params: dict[str, Any]) -> Decimal | None:
        # slippageTolerance is measured from the best opposite price, in percent unless slippageToleranceType is
        # TickSize (a number of ticks); both readings are unverified on the live venue.
        tolerance = _decimal(params, "slippageTolerance")
        if tolerance is None:
            return None
        if tolerance < 0:
            raise _bad_request("Slippage tolerance must not be negative")
        best_bid, best_ask = self.exchange.best_bid_ask(rules.symbol)
        best = best_ask if side is Side.BUY else best_bid
        if _text(params.get("slippageToleranceType")) == "TickSize":
            distance = tolerance * rules.tick_size
        else:
            distance = best * tolerance / 100
        return best + side.sign * distance

    async def _execute_with_faults(self, request: web.Request, account: str,
                                   payloads: list[dict[str, Any]], batch: bool) -> web.StreamResponse:
        path = request.path
        reject = self.faults.take(FaultKind.REJECT, account, path)
        if reject is not None:
            return _bad_request(reject.message or "Insufficient margin", reject.code or "INSUFFICIENT_MARGIN").response()
        results: list[Any] = []
        for payload in payloads:
            # as on paper GRVT, a partial fill is what happens to the next taker order: a market order, or an
            # immediate-or-cancel (fill-or-kill) limit order, which is how a bounded market order goes out
            taker = isinstance(payload, dict) and (
                payload.get("orderType") == "Market" or payload.get("timeInForce") in ("IOC", "FOK"))
            partial = self.faults.take(FaultKind.PARTIAL_FILL, account, path) if taker else None
            try:
                results.append(self.order_document(self._place(account, payload, partial)))
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
            raise _parse_error("expected a JSON object")
        return await self._execute_with_faults(request, account, [params], batch=False)

    async def _order_execute_batch(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        if not isinstance(params, list):
            raise _parse_error("expected a JSON array of orders")
        if not 1 <= len(params) <= MAX_BATCH:
            raise _bad_request(f"A batch holds between 1 and {MAX_BATCH} orders")
        return await self._execute_with_faults(request, account, params, batch=True)

    def _find_resting(self, account: str, params: dict[str, Any]) -> Order:
        symbol = self._rules(_text(params.get("symbol"))).symbol
        order_id = params.get("orderId")
        client_id = _client_id(params.get("clientId"))
        if order_id is None and client_id is None:
            raise _bad_request("Must specify exactly one of orderId or clientId")
        for order in self.exchange.resting_orders(symbol, account):
            if (order_id is not None and str(order.order_id) == str(order_id)) or (
                order_id is None and order.client_id == client_id
            ):
                return order
        raise ApiError(404, "RESOURCE_NOT_FOUND", "Order not found")

    async def _order_query(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        return json_response(self.order_document(self._find_resting(account, params)))

    async def _order_cancel(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        order = self._find_resting(account, params)
        self.exchange.cancel_order(account, order_id=order.order_id)
        return json_response(self.order_document(order))

    async def _orders_query(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol") or None
        if symbol:
            self._rules(symbol)
        return json_response([self.order_document(order) for order in self.exchange.resting_orders(symbol, account)])

    async def _orders_cancel(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = self._rules(_text(params.get("symbol"))).symbol
        order_type = _text(params.get("orderType"))
        if order_type == "ConditionalOrder":
            return json_response([])
        cancelled = self.exchange.cancel_all(account, symbol)
        return json_response([self.order_document(order) for order in cancelled])

    async def _order_history(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol")
        order_id = params.get("orderId")
        cutoff = self.lag_cutoff_ms(request, account)
        direction = params.get("sortDirection")
        if direction not in (None, "Asc", "Desc"):
            raise _bad_request("Invalid sortDirection", "INVALID_CLIENT_REQUEST")
        found = self.exchange.find_orders(account, symbol=symbol or None)
        orders = [
            order for order in (found if direction == "Asc" else reversed(found))
            if (order_id is None or str(order.order_id) == order_id)
            and (cutoff is None or order.created_ms <= cutoff)
        ]
        return json_response([self.order_document(order) for order in _page(orders, params)])

    def fill_document(self, fill: Fill) -> dict[str, Any]:
        return {
            "tradeId": fill.trade_id,
            "orderId": str(fill.order_id) if fill.order_id is not None else None,
            "clientId": str(fill.client_id) if fill.client_id is not None else None,
            "symbol": fill.symbol,
            "side": SIDE_NAMES[fill.side],
            "price": _decimal_text(fill.price),
            "quantity": _decimal_text(fill.quantity),
            "fee": _decimal_text(fill.fee),
            "feeSymbol": "USDC",
            "isMaker": fill.is_maker,
            "systemOrderType": "LiquidatePositionOnBook" if fill.kind is TradeKind.LIQUIDATION else None,
            "timestamp": _iso(fill.timestamp_ms),
        }

    async def _fill_history(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol")
        order_id = params.get("orderId")
        start = _int_param(params, "from", None)
        end = _int_param(params, "to", None)
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
            and _fill_type_matches(fill, fill_type)
        ]
        return json_response([self.fill_document(fill) for fill in _page(fills, params)])

    # ----- positions and balances -------------------------------------------------------------------------------

    def position_document(self, account: str, symbol: str) -> dict[str, Any]:
        position = self.exchange.account(account).positions[symbol]
        rules = self.exchange.rules[symbol]
        mark = self.exchange.mark_price(symbol)
        size = position.size
        entry = position.entry_price.quantize(rules.tick_size) if size else Decimal(0)
        break_even = (position.entry_price + position.fees_paid / size).quantize(rules.tick_size) if size else Decimal(0)
        liquidation = self.exchange.liquidation_price(account, symbol)
        return {
            "positionId": str(zlib.crc32(f"{account}:{symbol}".encode())),
            "subaccountId": None,
            "symbol": symbol,
            "netQuantity": _decimal_text(size),
            "netExposureQuantity": _decimal_text(abs(size)),
            "netExposureNotional": _decimal_text((abs(size) * mark).quantize(Decimal("0.01"))),
            "netCost": _decimal_text((size * position.entry_price).quantize(Decimal("0.0001"))),
            "entryPrice": _decimal_text(entry),
            "breakEvenPrice": _decimal_text(break_even),
            "markPrice": _decimal_text(mark),
            "estLiquidationPrice": _decimal_text(liquidation if liquidation is not None else Decimal(0)),
            "pnlRealized": _decimal_text(position.realized_pnl.quantize(Decimal("0.0001"))),
            "pnlUnrealized": _decimal_text(position.unrealized_pnl(mark).quantize(Decimal("0.0001"))),
            "cumulativeFundingPayment": "0",
            "cumulativeInterest": "0",
            "imf": _decimal_text(self.exchange.initial_margin_fraction(self.exchange.account(account), symbol)),
            "mmf": _decimal_text(rules.maintenance_margin_fraction),
        }

    async def _positions(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        symbol = params.get("symbol")
        positions = self.exchange.account(account).positions
        return json_response([
            self.position_document(account, name)
            for name, position in positions.items()
            if position.size != 0 and (not symbol or name == symbol)
        ])

    async def _capital(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        collateral = self.exchange.account(account).collateral
        return json_response({"USDC": {"available": _decimal_text(collateral), "locked": "0", "staked": "0"}})

    async def _collateral(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        summary = self.exchange.summary(account)
        collateral = _decimal_text(summary.collateral)
        imf = summary.initial_margin / summary.notional if summary.notional else Decimal(0)
        mmf = summary.maintenance_margin / summary.notional if summary.notional else Decimal(0)
        margin_fraction = summary.equity / summary.notional if summary.notional else None
        locked = summary.initial_margin + summary.open_order_margin
        return json_response({
            "assetsValue": _decimal_text(summary.equity),
            "borrowLiability": "0",
            "collateral": [{
                "symbol": "USDC", "assetMarkPrice": "1", "totalQuantity": collateral, "balanceNotional": collateral,
                "collateralWeight": "1", "collateralValue": collateral, "openOrderQuantity": "0",
                "lendQuantity": "0", "availableQuantity": collateral,
            }],
            "imf": _decimal_text(imf.quantize(Decimal("0.000001"))),
            "unsettledEquity": _decimal_text(summary.unrealized_pnl),
            "liabilitiesValue": "0",
            "marginFraction": _decimal_text(margin_fraction.quantize(Decimal("0.000001"))) if margin_fraction else None,
            "mmf": _decimal_text(mmf.quantize(Decimal("0.000001"))),
            "netEquity": _decimal_text(summary.equity),
            "netEquityAvailable": _decimal_text(summary.available),
            "netEquityLocked": _decimal_text(locked),
            "netExposureFutures": _decimal_text(summary.notional),
            "pnlUnrealized": _decimal_text(summary.unrealized_pnl),
        })

    async def _account(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        leverage = self.exchange.account(account).leverage
        limit = max(leverage.values(), default=DEFAULT_LEVERAGE)
        return json_response({
            "autoBorrowSettlements": True, "autoLend": False, "autoRealizePnl": True, "autoRepayBorrows": True,
            "borrowLimit": "0", "futuresMakerFee": "2", "futuresTakerFee": "5",
            "leverageLimit": _decimal_text(limit), "limitOrders": 500, "liquidating": False,
            "positionLimit": "1000000", "spotMakerFee": "8", "spotTakerFee": "10", "triggerOrders": 100,
        })

    async def _account_update(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        leverage = _decimal(params, "leverageLimit")
        if leverage is not None:
            for symbol in self.exchange.rules:
                try:
                    self.exchange.set_leverage(account, symbol, leverage)
                except ValueError as exc:
                    raise _bad_request(f"Invalid leverage limit: {exc}") from None
        return web.Response(status=200)

    async def _max_order_quantity(self, request: web.Request, account: str, params: Any) -> web.StreamResponse:
        rules = self._rules(_text(params.get("symbol")))
        side = _enum(params, "side", SIDES, required=True)
        size = self.exchange.account(account).size(rules.symbol)
        reducible = abs(size) if size * side.sign < 0 else Decimal(0)
        if _boolean(params, "reduceOnly"):
            maximum = reducible
        else:
            price = _decimal(params, "price") or self.exchange.mark_price(rules.symbol)
            summary = self.exchange.summary(account)
            imf = self.exchange.initial_margin_fraction(self.exchange.account(account), rules.symbol)
            maximum = reducible + (summary.available / (price * imf)).quantize(rules.step_size, rounding=ROUND_DOWN)
        return json_response({"maxOrderQuantity": _decimal_text(maximum), "symbol": rules.symbol,
                              "side": SIDE_NAMES[side]})


# ----- parameter parsing ----------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _enum(params: dict[str, Any], name: str, choices: dict[str, Any], *, required: bool = False) -> Any:
    value = params.get(name)
    if value is None:
        if required:
            raise _parse_error(f"missing field `{name}`")
        return None
    if isinstance(value, RawNumber) or str(value) not in choices:
        raise _parse_error(f"{name}: unknown variant `{value}`, expected one of {', '.join(choices)}")
    return choices[str(value)]


def _boolean(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise _parse_error(f"{name}: invalid type, expected a boolean")


def _decimal(params: dict[str, Any], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _parse_error(f"{name}: invalid type, expected a decimal")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _parse_error(f"{name}: invalid decimal `{value}`") from None
    if not number.is_finite():
        raise _parse_error(f"{name}: invalid decimal `{value}`")
    return number


def _client_id(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value)
    if isinstance(value, bool) or not text.isdigit():
        raise _parse_error(f"clientId: invalid value `{text}`, expected u32")
    number = int(text)
    if number > UINT32_MAX:
        raise _parse_error(f"clientId: invalid value `{text}`, expected u32")
    return number


def _int_param(params: Any, name: str, default: int | None, *, maximum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    text = str(value)
    if not text.lstrip("-").isdigit():
        raise _bad_request(f"Invalid {name}")
    number = int(text)
    if maximum is not None and number > maximum:
        raise _bad_request(f"{name} must not exceed {maximum}")
    return number


def _page(items: list[Any], params: Any) -> list[Any]:
    limit = _int_param(params, "limit", 100, maximum=1000)
    offset = _int_param(params, "offset", 0)
    return items[offset:offset + limit]


def _fill_type_matches(fill: Fill, fill_type: str | None) -> bool:
    if not fill_type:
        return True
    if fill_type == "User":
        return fill.kind is TradeKind.TRADE
    if "Liquidation" in fill_type:
        return fill.kind is TradeKind.LIQUIDATION
    return False
