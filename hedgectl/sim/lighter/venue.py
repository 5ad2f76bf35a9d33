"""Paper Lighter's HTTP server: the REST paths lighter-sdk and a connector use, with the venue's envelopes and error
bodies, the Lighter side of the fault kinds, and account creation for the runner.

The unmodified lighter-sdk (SignerClient, its Go signer's own key check, AccountApi, OrderApi, TransactionApi)
works against it when pointed at ``url``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import Side
from hedgectl.sim.exchange.state import accounts_snapshot, restore_accounts, state_document
from hedgectl.sim.faults import Fault, FaultError, FaultKind
from hedgectl.sim.lighter.keys import KeyRing
from hedgectl.sim.lighter.ledger import LighterAccount, LighterLedger
from hedgectl.sim.lighter.stream import PATH as STREAM_PATH
from hedgectl.sim.lighter.stream import LighterStreams
from hedgectl.sim.lighter.records import (
    LIQUIDITY_POOL_ACCOUNT_INDEX,
    LighterOrder,
    order_book_document,
    simple_order_document,
    synthetic_order_index,
)
from hedgectl.sim.lighter.wire import (
    CODE_BATCH_NONCES_NOT_CONSECUTIVE,
    CODE_INVALID_NONCE,
    CODE_INVALID_ORDER,
    CODE_INVALID_PARAM,
    CODE_TOO_MANY_REQUESTS,
    CODE_TX_NOT_FOUND,
    ORDER_TYPE_MARKET,
    CreateOrderTx,
    LighterApiError,
    SignedTx,
    parse_tx,
)
from hedgectl.sim.market import LIGHTER_RULES, Market, MarketRules
from hedgectl.sim.server import PaperVenue, json_response

logger = logging.getLogger(__name__)

API = "/api/v1/"
DEFAULT_ACCOUNT_NAMES = ("lighter1", "lighter2")
DEFAULT_COLLATERAL = Decimal("10000")
DEFAULT_API_KEY_INDEX = 3
# Lighter quotes slightly apart from the other venues, so that a hedge between them sees a basis.
LIGHTER_BASIS = {"ETH": Decimal("0.0001"), "BTC": Decimal("-0.0001"), "SOL": Decimal("0.0002")}
MAX_BATCH_SIZE = 50
GTT_DEFAULT_EXPIRY_MS = 28 * 24 * 3600 * 1000
MARKETS_CREATED_AT = "2024-12-01T00:00:00Z"
#: The reason a ``reject_after_accept`` transaction fails with when the fault names none.
DEFAULT_TX_FAILURE = "order price is outside the market's price band"

ReadHandler = Callable[[web.Request], dict[str, Any]]


def new_api_key() -> tuple[str, str]:
    """A fresh Lighter api key pair ``(private_hex, public_hex)``, both without 0x, from the SDK's own generator."""
    import lighter

    private, public, error = lighter.create_api_key()
    if error:
        raise RuntimeError(f"lighter api key generation failed: {error}")
    return _strip_0x(private), _strip_0x(public)


def _strip_0x(text: str) -> str:
    return text[2:] if text.startswith(("0x", "0X")) else text


def _int_param(request: web.Request, name: str, *, default: int | None = None, low: int | None = None,
               high: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name} out of range")
    return value


def _optional_int_param(request: web.Request, name: str) -> int | None:
    if request.query.get(name) in (None, ""):
        return None
    return _int_param(request, name)


class PaperLighter(PaperVenue):
    """Paper Lighter over the shared market, with Lighter's market ids, decimals, nonces and api keys."""

    name = "lighter"

    def __init__(self, market: Market, *, rules: dict[str, MarketRules] | None = None) -> None:
        super().__init__(market)
        self._rng = market.rng("lighter:accounts")
        self.exchange = Exchange(market, self.name, rules or LIGHTER_RULES, basis=LIGHTER_BASIS,
                                 first_order_id=self._rng.randrange(10**8, 10**9), clock_ms=self.now_ms)
        self.keys = KeyRing()
        self.ledger = LighterLedger(self.exchange, self.keys, market.rng("lighter:ledger"))
        self.faults.on_arm(FaultKind.NONCE_SKEW, self._arm_nonce_skew)
        self.faults.on_arm(FaultKind.LIQUIDATE, self._arm_liquidate)
        self.faults.on_arm(FaultKind.PRICE_MOVE, self._arm_price_move)
        self.faults.handles(FaultKind.LAG)
        self.faults.handles(FaultKind.REJECT_AFTER_ACCEPT)
        self.streams = LighterStreams(self)
        # a liquidation by a market move is pushed as it happens, like one by an order
        market.subscribe(self.streams.publish)

    def _lag_cutoff_ms(self, request: web.Request, account: str | None) -> int | None:
        """With a lag fault armed for ``account``, the newest record time a listing may show; None without."""
        return self.lag_cutoff_ms(request, account, self.now_ms())

    # ----- accounts ---------------------------------------------------------------------------------------------

    def create_account(self, name: str, *, collateral: Decimal = DEFAULT_COLLATERAL,
                       api_key_index: int = DEFAULT_API_KEY_INDEX) -> LighterAccount:
        """A funded account ``name`` with a realistic account index and a freshly generated, registered api key."""
        if self.ledger.account_named(name) is not None:
            raise ValueError(f"lighter account {name!r} already exists")
        private, public = new_api_key()
        account_index = self._rng.randrange(100_000, 1_000_000)
        while account_index in self.ledger.accounts:
            account_index = self._rng.randrange(100_000, 1_000_000)
        account = LighterAccount(
            name=name, account_index=account_index, l1_address=f"0x{self._rng.getrandbits(160):040x}",
            api_key_index=api_key_index, api_private_key=private, created_ms=self.now_ms(),
        )
        self.exchange.open_account(name, collateral)
        self.keys.register(account_index, api_key_index, public, transaction_time=account.created_ms * 1000)
        self.ledger.add_account(account)
        logger.info("paper lighter account %s: index %s, api key %s", name, account_index, api_key_index)
        return account

    def create_default_accounts(self) -> None:
        for name in DEFAULT_ACCOUNT_NAMES:
            if self.ledger.account_named(name) is None:
                self.create_account(name)

    def accounts_section(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ws_url": self.ws_url,
            "accounts": [
                {
                    "name": account.name,
                    "account_index": account.account_index,
                    "api_key_index": account.api_key_index,
                    "api_private_key": account.api_private_key,
                }
                for account in self.ledger.accounts.values()
            ],
        }

    @property
    def ws_url(self) -> str:
        """The account stream's URL (what ``wss://mainnet.zklighter.elliot.ai/stream`` is on the live venue)."""
        return "ws" + self.url.removeprefix("http") + STREAM_PATH

    def snapshot(self) -> dict[str, Any]:
        return {
            "accounts": [
                {
                    "name": account.name,
                    "account_index": account.account_index,
                    "l1_address": account.l1_address,
                    "api_key_index": account.api_key_index,
                    "api_private_key": account.api_private_key,
                    "created_ms": account.created_ms,
                    "api_keys": [key.as_wire() for key in self.keys.keys_of(account.account_index)],
                }
                for account in self.ledger.accounts.values()
            ],
            "engine": accounts_snapshot(self.exchange),
        }

    def restore(self, data: dict[str, Any]) -> None:
        restore_accounts(self.exchange, data.get("engine", {}))
        for item in data.get("accounts", []):
            account = LighterAccount(
                name=item["name"], account_index=int(item["account_index"]), l1_address=item["l1_address"],
                api_key_index=int(item["api_key_index"]), api_private_key=item["api_private_key"],
                created_ms=int(item.get("created_ms", 0)),
            )
            self.exchange.open_account(account.name, DEFAULT_COLLATERAL)
            for key in item.get("api_keys", []):
                self.keys.register(account.account_index, int(key["api_key_index"]), key["public_key"],
                                   nonce=int(key["nonce"]), transaction_time=int(key.get("transaction_time", 0)))
            self.ledger.add_account(account)

    def state(self) -> dict[str, Any]:
        document = state_document(self.exchange)
        document["lighter"] = {
            "accounts": [
                {
                    "name": account.name,
                    "account_index": account.account_index,
                    "l1_address": account.l1_address,
                    "api_keys": [
                        {"api_key_index": key.api_key_index, "public_key": key.public_key,
                         "next_nonce": key.next_nonce}
                        for key in self.keys.keys_of(account.account_index)
                    ],
                }
                for account in self.ledger.accounts.values()
            ],
            "orders": [self._order_document(order) for order in self.ledger.orders[-500:]],
        }
        return document

    def _order_document(self, order: LighterOrder) -> dict[str, Any]:
        return order.document(self.ledger.market(order.market_id))

    # ----- faults -----------------------------------------------------------------------------------------------

    def _accounts_for_fault(self, fault: Fault) -> list[LighterAccount]:
        if fault.account is None:
            return list(self.ledger.accounts.values())
        account = self.ledger.account_named(fault.account)
        if account is None:
            raise FaultError(f"no lighter account named {fault.account!r}")
        return [account]

    def _arm_nonce_skew(self, fault: Fault) -> None:
        for account in self._accounts_for_fault(fault):
            for key in self.keys.keys_of(account.account_index, fault.api_key_index):
                self.keys.skew(account.account_index, key.api_key_index, fault.amount)

    def _arm_liquidate(self, fault: Fault) -> None:
        for account in self._accounts_for_fault(fault):
            self.exchange.liquidate(account.name)
        self.streams.publish()

    def _arm_price_move(self, fault: Fault) -> None:
        self.market.shock(fault.percent, fault.symbol)

    async def account_for(self, request: web.Request) -> str | None:
        try:
            if request.method == "POST":
                form = await request.post()
                if "tx_info" in form:
                    info = json.loads(str(form["tx_info"]))
                else:
                    info = json.loads(json.loads(str(form.get("tx_infos", "[]")))[0])
                index = int(info["AccountIndex"])
            elif "account_index" in request.query:
                index = int(request.query["account_index"])
            elif request.query.get("by") == "index":
                index = int(request.query["value"])
            else:
                return None
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        account = self.ledger.accounts.get(index)
        return account.name if account is not None else None

    def error_response(self, fault: Fault) -> web.StreamResponse:
        return json_response({"code": fault.status, "message": "internal server error"}, status=fault.status)

    def rate_limit_response(self, fault: Fault) -> web.StreamResponse:
        return json_response({"code": CODE_TOO_MANY_REQUESTS, "message": "Too Many Requests"}, status=429)

    def gateway_timeout_response(self) -> web.StreamResponse:
        return web.Response(status=504, text="upstream request timeout", content_type="text/plain")

    def not_found_response(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="404 page not found", content_type="text/plain")

    # ----- routes -----------------------------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        reads: dict[str, ReadHandler] = {
            "nextNonce": self._next_nonce,
            "apikeys": self._api_keys,
            "account": self._account,
            "orderBooks": self._order_books,
            "orderBookDetails": self._order_book_details,
            "orderBookOrders": self._order_book_orders,
            "recentTrades": self._recent_trades,
            "trades": self._trades,
            "accountOrders": self._account_orders,
            "accountActiveOrders": self._account_active_orders,
            "accountInactiveOrders": self._account_inactive_orders,
            "tx": self._tx,
        }
        for path, handler in reads.items():
            router.add_get(API + path, self._read(handler))
        router.add_get(STREAM_PATH, self.streams.serve)
        router.add_post(API + "sendTx", self._send_tx)
        router.add_post(API + "sendTxBatch", self._send_tx_batch)

    def _read(self, handler: ReadHandler) -> Callable[[web.Request], Any]:
        async def respond(request: web.Request) -> web.StreamResponse:
            try:
                return json_response(handler(request))
            except LighterApiError as exc:
                return json_response(exc.body(), status=exc.status)

        return respond

    def _authorize(self, request: web.Request, account_index: int) -> None:
        """Reads of an account's orders and trades need the SDK's auth token for that account."""
        self.ledger.account(account_index)
        token = request.headers.get("authorization") or request.query.get("auth")
        self.keys.check_auth_token(token, account_index, self.clock.now())

    # ----- transactions -----------------------------------------------------------------------------------------

    async def _send_tx(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await request.post()
            tx = parse_tx(self._form_int(form, "tx_type"), self._form_text(form, "tx_info"))
            self._check_signer(tx)
            self.keys.check_nonce(tx.account_index, tx.api_key_index, tx.nonce)
            hashes = self._admit_and_execute(request, [tx])
        except LighterApiError as exc:
            return json_response(exc.body(), status=exc.status)
        drop = self.faults.take(FaultKind.DROP_AFTER_EXECUTE, self.ledger.accounts[tx.account_index].name,
                                request.path)
        if drop is not None:
            return await self.lose_answer(request, drop)
        return json_response(self._accepted(hashes[0]))

    async def _send_tx_batch(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await request.post()
            types = self._form_json_list(form, "tx_types")
            infos = self._form_json_list(form, "tx_infos")
            if len(types) != len(infos) or not 1 <= len(types) <= MAX_BATCH_SIZE:
                raise LighterApiError(CODE_INVALID_PARAM, "invalid param: tx_types and tx_infos")
            if not all(isinstance(t, int) and isinstance(i, str) for t, i in zip(types, infos, strict=True)):
                raise LighterApiError(CODE_INVALID_PARAM, "invalid param: tx_types and tx_infos")
            txs = [parse_tx(tx_type, info) for tx_type, info in zip(types, infos, strict=True)]
            expected: dict[tuple[int, int], int] = {}
            for tx in txs:
                self._check_signer(tx)
                key = (tx.account_index, tx.api_key_index)
                first = key not in expected
                nonce = expected.get(key, self.keys.get(*key).next_nonce)
                if tx.nonce != nonce:
                    if first:
                        raise LighterApiError(CODE_INVALID_NONCE, "invalid nonce")
                    raise LighterApiError(CODE_BATCH_NONCES_NOT_CONSECUTIVE, "batch nonces are not consecutive")
                expected[key] = nonce + 1
            hashes = self._admit_and_execute(request, txs)
        except LighterApiError as exc:
            return json_response(exc.body(), status=exc.status)
        drop = self.faults.take(FaultKind.DROP_AFTER_EXECUTE, self.ledger.accounts[txs[0].account_index].name,
                                request.path)
        if drop is not None:
            return await self.lose_answer(request, drop)
        return json_response(self._accepted(hashes))

    def _check_signer(self, tx: SignedTx) -> None:
        self.ledger.account(tx.account_index)
        self.keys.get(tx.account_index, tx.api_key_index)

    def _admit_and_execute(self, request: web.Request, txs: list[SignedTx]) -> list[str]:
        """Admit every transaction, then take order faults, consume nonces and execute, in order."""
        now = self.now_ms()
        for tx in txs:
            self.ledger.admit(tx, now)
        plans = [self._order_faults(request, tx) for tx in txs]
        hashes = []
        for tx, (fill_fraction, margin_reject, failure) in zip(txs, plans, strict=True):
            self.keys.consume(tx.account_index, tx.api_key_index)
            record = self.ledger.execute(tx, now, fill_fraction=fill_fraction, margin_reject=margin_reject,
                                         failure=failure)
            hashes.append(record.tx_hash)
        self.streams.publish()
        return hashes

    def _order_faults(self, request: web.Request, tx: SignedTx) -> tuple[Decimal | None, bool, str | None]:
        """The partial fill, margin refusal and transaction failure that armed faults impose on a create order; a
        reject fault that names a code refuses it at the API instead."""
        if not isinstance(tx, CreateOrderTx):
            return None, False, None
        name = self.ledger.accounts[tx.account_index].name
        failing = self.faults.take(FaultKind.REJECT_AFTER_ACCEPT, name, request.path)
        if failing is not None:
            return None, False, failing.message or DEFAULT_TX_FAILURE
        margin_reject = False
        reject = self.faults.take(FaultKind.REJECT, name, request.path)
        if reject is not None:
            if reject.code is not None:
                try:
                    code = int(reject.code)
                except ValueError:
                    code = CODE_INVALID_ORDER
                raise LighterApiError(code, reject.message or "order rejected")
            margin_reject = True
        fill_fraction = None
        if tx.order_type == ORDER_TYPE_MARKET and not margin_reject:
            partial = self.faults.take(FaultKind.PARTIAL_FILL, name, request.path)
            if partial is not None:
                fill_fraction = partial.fraction
        return fill_fraction, margin_reject, None

    def _accepted(self, tx_hash: str | list[str]) -> dict[str, Any]:
        return {
            "code": 200,
            "message": '{"ratelimit": "didn\'t use volume quota"}',
            "tx_hash": tx_hash,
            "predicted_execution_time_ms": self.now_ms() + 5,
            "volume_quota_remaining": 1000,
        }

    @staticmethod
    def _form_text(form: Any, name: str) -> str:
        value = form.get(name)
        if not isinstance(value, str) or not value:
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name} is required")
        return value

    @classmethod
    def _form_int(cls, form: Any, name: str) -> int:
        try:
            return int(cls._form_text(form, name))
        except ValueError:
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name}") from None

    @classmethod
    def _form_json_list(cls, form: Any, name: str) -> list[Any]:
        try:
            value = json.loads(cls._form_text(form, name))
        except ValueError:
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name}") from None
        if not isinstance(value, list):
            raise LighterApiError(CODE_INVALID_PARAM, f"invalid param: {name}")
        return value

    # ----- reads ------------------------------------------------------------------------------------------------

    def _next_nonce(self, request: web.Request) -> dict[str, Any]:
        account_index = _int_param(request, "account_index")
        self.ledger.account(account_index)
        key = self.keys.get(account_index, _int_param(request, "api_key_index"))
        return {"code": 200, "nonce": key.next_nonce}

    def _api_keys(self, request: web.Request) -> dict[str, Any]:
        account_index = _int_param(request, "account_index")
        self.ledger.account(account_index)
        api_key_index = _optional_int_param(request, "api_key_index")
        # 255 asks for every key, as on the real venue.
        keys = self.keys.keys_of(account_index, None if api_key_index in (None, 255) else api_key_index)
        return {"code": 200, "api_keys": [key.as_wire() for key in keys]}

    def _account(self, request: web.Request) -> dict[str, Any]:
        by = request.query.get("by")
        value = request.query.get("value", "")
        if by == "index":
            try:
                account = self.ledger.account(int(value))
            except ValueError:
                raise LighterApiError(CODE_INVALID_PARAM, "invalid param: value") from None
        elif by == "l1_address":
            account = self.ledger.account_by_l1_address(value)
        else:
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: by")
        return {"code": 200, "total": 1, "accounts": [self.ledger.account_document(account)], "next_cursor": ""}

    def _markets(self, request: web.Request) -> list[MarketRules]:
        market_id = _optional_int_param(request, "market_id")
        if market_id is not None and market_id != 255:
            return [self.ledger.market(market_id)]
        return sorted(self.ledger.markets.values(), key=lambda rules: rules.market_id)

    def _last_trade_price(self, rules: MarketRules) -> Decimal:
        for trade in reversed(self.exchange.trades):
            if trade.symbol == rules.symbol:
                return trade.price
        return self.exchange.mark_price(rules.symbol)

    def _order_books(self, request: web.Request) -> dict[str, Any]:
        books = [
            order_book_document(rules, detailed=False, mark=self.exchange.mark_price(rules.symbol),
                                last_trade=self._last_trade_price(rules), created_at=MARKETS_CREATED_AT)
            for rules in self._markets(request)
        ]
        return {"code": 200, "order_books": books}

    def _order_book_details(self, request: web.Request) -> dict[str, Any]:
        details = [
            order_book_document(rules, detailed=True, mark=self.exchange.mark_price(rules.symbol),
                                last_trade=self._last_trade_price(rules), created_at=MARKETS_CREATED_AT)
            for rules in self._markets(request)
        ]
        return {"code": 200, "order_book_details": details, "spot_order_book_details": []}

    def _order_book_orders(self, request: web.Request) -> dict[str, Any]:
        rules = self.ledger.market(_int_param(request, "market_id"))
        limit = _int_param(request, "limit", low=1, high=250)
        asks = self._book_side(rules, Side.SELL)
        bids = self._book_side(rules, Side.BUY)
        return {"code": 200, "total_asks": len(asks), "asks": asks[:limit], "total_bids": len(bids),
                "bids": bids[:limit]}

    def _book_side(self, rules: MarketRules, side: Side) -> list[dict[str, Any]]:
        """Resting orders on one side, best first; account orders go ahead of pool liquidity at one price."""
        now = self.now_ms()
        is_ask = side is Side.SELL
        entries: list[tuple[Decimal, int, dict[str, Any]]] = []
        for level, (price, quantity) in enumerate(self.exchange.synthetic_levels(rules.symbol, side)):
            entries.append((price, 1, simple_order_document(
                order_index=synthetic_order_index(rules.market_id, is_ask, level),
                owner_account_index=LIQUIDITY_POOL_ACCOUNT_INDEX, initial=quantity, remaining=quantity,
                price=price, order_expiry=now + GTT_DEFAULT_EXPIRY_MS, transaction_time=now * 1000, rules=rules)))
        for engine_order in self.exchange.resting_orders(rules.symbol):
            order = self.ledger.lighter_order_for(engine_order.order_id)
            if engine_order.side is not side or order is None:
                continue
            entries.append((engine_order.price, 0, simple_order_document(
                order_index=order.order_index, owner_account_index=order.account_index,
                initial=engine_order.quantity, remaining=engine_order.remaining, price=engine_order.price,
                order_expiry=order.order_expiry, transaction_time=order.created_ms * 1000, rules=rules)))
        entries.sort(key=lambda entry: (entry[0] if is_ask else -entry[0], entry[1]))
        return [document for _, _, document in entries]

    def _recent_trades(self, request: web.Request) -> dict[str, Any]:
        rules = self.ledger.market(_int_param(request, "market_id"))
        limit = _int_param(request, "limit", low=1, high=100)
        trades = [trade for trade in reversed(self.exchange.trades) if trade.symbol == rules.symbol][:limit]
        return {"code": 200, "trades": [self.ledger.trade_document(trade) for trade in trades]}

    def _trades(self, request: web.Request) -> dict[str, Any]:
        if request.query.get("sort_by") not in ("block_height", "timestamp", "trade_id"):
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: sort_by")
        limit = _int_param(request, "limit", low=1, high=100)
        account_index = _optional_int_param(request, "account_index")
        market_id = _optional_int_param(request, "market_id")
        kind = request.query.get("type")
        trades = list(self.exchange.trades)
        if account_index is not None:
            self._authorize(request, account_index)
            name = self.ledger.account(account_index).name
            trades = [trade for trade in trades if name in (trade.buyer, trade.seller)]
            cutoff = self._lag_cutoff_ms(request, name)
            if cutoff is not None:
                trades = [trade for trade in trades if trade.timestamp_ms <= cutoff]
        if market_id is not None and market_id != 255:
            symbol = self.ledger.market(market_id).symbol
            trades = [trade for trade in trades if trade.symbol == symbol]
        if kind:
            trades = [trade for trade in trades if trade.kind.value == kind]
        if request.query.get("sort_dir", "desc") != "asc":
            trades.reverse()
        return {"code": 200, "trades": [self.ledger.trade_document(trade) for trade in trades[:limit]],
                "next_cursor": ""}

    def _account_orders(self, request: web.Request) -> dict[str, Any]:
        account_index = _int_param(request, "account_index")
        self._authorize(request, account_index)
        try:
            wanted = {int(part) for part in request.query.get("client_order_indexes", "").split(",") if part}
        except ValueError:
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: client_order_indexes") from None
        if not wanted:
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: client_order_indexes is required")
        orders = [order for order in self._visible_orders(request, account_index)
                  if order.client_order_index in wanted]
        return {"code": 200, "orders": [self._order_document(order) for order in reversed(orders)]}

    def _visible_orders(self, request: web.Request, account_index: int) -> list[Any]:
        """The account's orders as its listings show them (without those a lag fault still hides)."""
        orders = self.ledger.orders_of(account_index)
        cutoff = self._lag_cutoff_ms(request, self.ledger.account(account_index).name)
        return orders if cutoff is None else [order for order in orders if order.created_ms <= cutoff]

    def _account_active_orders(self, request: web.Request) -> dict[str, Any]:
        account_index = _int_param(request, "account_index")
        self._authorize(request, account_index)
        market_id = _optional_int_param(request, "market_id")
        orders = [
            order for order in self._visible_orders(request, account_index)
            if order.is_open and (market_id is None or order.market_id == market_id)
        ]
        return {"code": 200, "orders": [self._order_document(order) for order in orders]}

    def _account_inactive_orders(self, request: web.Request) -> dict[str, Any]:
        account_index = _int_param(request, "account_index")
        self._authorize(request, account_index)
        limit = _int_param(request, "limit", low=1, high=100)
        market_id = _optional_int_param(request, "market_id")
        ask_filter = _optional_int_param(request, "ask_filter")
        offset = _int_param(request, "cursor", default=0, low=0)
        orders = [
            order for order in reversed(self._visible_orders(request, account_index))
            if not order.is_open
            and (market_id is None or market_id == 255 or order.market_id == market_id)
            and (ask_filter in (None, -1) or order.is_ask == bool(ask_filter))
        ]
        page = orders[offset:offset + limit]
        next_cursor = str(offset + limit) if offset + limit < len(orders) else ""
        return {"code": 200, "orders": [self._order_document(order) for order in page], "next_cursor": next_cursor}

    def _tx(self, request: web.Request) -> dict[str, Any]:
        by = request.query.get("by")
        value = request.query.get("value", "")
        if by == "hash":
            record = self.ledger.txs.get(value.lower().removeprefix("0x"))
        elif by == "sequence_index":
            record = next((r for r in self.ledger.txs.values() if str(r.sequence_index) == value), None)
        else:
            raise LighterApiError(CODE_INVALID_PARAM, "invalid param: by")
        if record is not None:
            cutoff = self._lag_cutoff_ms(request, self.ledger.accounts[record.tx.account_index].name)
            if cutoff is not None and record.executed_ms > cutoff:
                record = None
        if record is None:
            raise LighterApiError(CODE_TX_NOT_FOUND, "tx not found")
        return record.document()

