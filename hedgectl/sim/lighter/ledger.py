"""Paper Lighter's sequencer: admits signed transactions (the API-level checks), executes them against the shared
engine, and keeps Lighter's own records (accounts by index, orders by order index, transactions by hash).

API-level refusals raise ``LighterApiError`` before anything changes, so they never consume a nonce; an admitted
transaction consumes its nonce even when the sequencer then cancels the order (not enough margin, too much slippage)
or fails it (cancel of an order that is not open).
"""

from __future__ import annotations

import itertools
import json
import logging
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import (
    Account,
    CancelReason,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    RuleViolation,
    Side,
    TimeInForce,
    Trade,
)
from hedgectl.sim.lighter.keys import KeyRing
from hedgectl.sim.lighter.records import (
    LIQUIDITY_POOL_ACCOUNT_INDEX,
    LighterOrder,
    TradeParty,
    percent,
    trade_document,
    tx_hash_for,
    usdc,
)
from hedgectl.sim.lighter.wire import (
    CANCEL_ALL_IMMEDIATE,
    CODE_ACCIDENTAL_PRICE,
    CODE_ACCOUNT_NOT_FOUND,
    CODE_INVALID_ORDER,
    CODE_INVALID_PARAM,
    CODE_MARKET_NOT_FOUND,
    CODE_TX_EXPIRED,
    FIRST_ORDER_INDEX,
    MAX_BASE_AMOUNT,
    MAX_CLIENT_ORDER_INDEX,
    ORDER_TYPE_LIMIT,
    ORDER_TYPE_MARKET,
    TIF_GTT,
    TIF_IOC,
    TIF_POST_ONLY,
    TX_STATUS_EXECUTED,
    TX_STATUS_FAILED,
    CancelAllOrdersTx,
    CancelOrderTx,
    CreateOrderTx,
    LighterApiError,
    ModifyOrderTx,
    SignedTx,
    UpdateLeverageTx,
    fixed,
    from_units,
)
from hedgectl.sim.market import MarketRules

logger = logging.getLogger(__name__)

# A market sell whose worst price is further than this below mark is refused as an accidental price (21733).
ACCIDENTAL_SELL_FRACTION = Decimal("0.5")


@dataclass
class LighterAccount:
    """A paper Lighter account: engine account ``name``, its index and L1 address, and the api key it trades with."""

    name: str
    account_index: int
    l1_address: str
    api_key_index: int
    api_private_key: str = field(repr=False)
    created_ms: int = 0


@dataclass
class TxRecord:
    """An admitted transaction as GET /api/v1/tx reports it."""

    tx: SignedTx
    tx_hash: str
    status: int
    event_info: dict[str, Any]
    l1_address: str
    block_height: int
    sequence_index: int
    queued_ms: int
    executed_ms: int

    def document(self) -> dict[str, Any]:
        return {
            "code": 200,
            "hash": self.tx_hash,
            "type": self.tx.tx_type,
            "info": self.tx.info,
            "event_info": _compact_json(self.event_info),
            "status": self.status,
            "transaction_index": self.sequence_index % 1000,
            "l1_address": self.l1_address,
            "account_index": self.tx.account_index,
            "nonce": self.tx.nonce,
            "expire_at": self.tx.expired_at,
            "block_height": self.block_height,
            "queued_at": self.queued_ms,
            "executed_at": self.executed_ms,
            "sequence_index": self.sequence_index,
            "parent_hash": "",
            "api_key_index": self.tx.api_key_index,
            "transaction_time": self.executed_ms * 1000,
            "committed_at": self.executed_ms,
            "verified_at": self.executed_ms,
        }


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class LighterLedger:
    """Lighter's records over one engine ``Exchange`` whose accounts are named like the ``LighterAccount``s."""

    def __init__(self, exchange: Exchange, keys: KeyRing, rng: random.Random) -> None:
        self.exchange = exchange
        self.keys = keys
        self.rng = rng
        self.markets: dict[int, MarketRules] = {
            rules.market_id: rules for rules in exchange.rules.values() if rules.market_id is not None
        }
        self.accounts: dict[int, LighterAccount] = {}
        self.orders: list[LighterOrder] = []
        self.txs: dict[str, TxRecord] = {}
        self._by_order_index: dict[int, LighterOrder] = {}
        self._by_engine_id: dict[int, LighterOrder] = {}
        self._order_indexes = itertools.count(FIRST_ORDER_INDEX + rng.randrange(10**9, 10**10))
        self.block_height = rng.randrange(10**8, 4 * 10**8)
        self._sequence = itertools.count(self.block_height * 400)
        self._trade_blocks: dict[int, int] = {}

    # ----- accounts ---------------------------------------------------------------------------------------------

    def add_account(self, account: LighterAccount) -> None:
        self.accounts[account.account_index] = account

    def account(self, account_index: int) -> LighterAccount:
        try:
            return self.accounts[account_index]
        except KeyError:
            raise LighterApiError(CODE_ACCOUNT_NOT_FOUND, "account not found") from None

    def account_named(self, name: str) -> LighterAccount | None:
        return next((account for account in self.accounts.values() if account.name == name), None)

    def account_by_l1_address(self, address: str) -> LighterAccount:
        for account in self.accounts.values():
            if account.l1_address.lower() == address.lower():
                return account
        raise LighterApiError(CODE_ACCOUNT_NOT_FOUND, "account not found")

    def market(self, market_id: int) -> MarketRules:
        try:
            return self.markets[market_id]
        except KeyError:
            raise LighterApiError(CODE_MARKET_NOT_FOUND, "market not found") from None

    # ----- admission (API-level checks; nothing changes) -------------------------------------------------------

    def admit(self, tx: SignedTx, now_ms: int) -> None:
        """Refuse what the API refuses; the caller has checked the account, the api key and the nonce."""
        if tx.expired_at <= now_ms:
            raise LighterApiError(CODE_TX_EXPIRED, "transaction expired")
        if isinstance(tx, CreateOrderTx):
            self._admit_create(tx, now_ms)
        elif isinstance(tx, CancelOrderTx):
            self.market(tx.market_index)
            if not 0 < tx.index < 2**63:
                raise LighterApiError(CODE_INVALID_ORDER, "invalid order index")
        elif isinstance(tx, CancelAllOrdersTx):
            if tx.time_in_force != CANCEL_ALL_IMMEDIATE:
                raise LighterApiError(CODE_INVALID_PARAM, "scheduled cancel-all is not modelled by the paper venue")
            if tx.market_index is not None:
                self.market(tx.market_index)
        elif isinstance(tx, ModifyOrderTx):
            rules = self.market(tx.market_index)
            self._check_amounts(rules, tx.base_amount, tx.price)
        elif isinstance(tx, UpdateLeverageTx):
            rules = self.market(tx.market_index)
            if tx.margin_mode != 0:
                raise LighterApiError(CODE_INVALID_PARAM, "isolated margin is not modelled by the paper venue")
            lowest = int(rules.initial_margin_fraction * 10_000)
            if not lowest <= tx.initial_margin_fraction <= 10_000:
                raise LighterApiError(CODE_INVALID_PARAM, "invalid initial margin fraction")

    def _admit_create(self, tx: CreateOrderTx, now_ms: int) -> None:
        rules = self.market(tx.market_index)
        if not 1 <= tx.client_order_index <= MAX_CLIENT_ORDER_INDEX:
            raise LighterApiError(CODE_INVALID_ORDER, "invalid client order index")
        if tx.order_type not in (ORDER_TYPE_LIMIT, ORDER_TYPE_MARKET):
            raise LighterApiError(CODE_INVALID_ORDER, "order type is not modelled by the paper venue")
        if tx.time_in_force not in (TIF_IOC, TIF_GTT, TIF_POST_ONLY):
            raise LighterApiError(CODE_INVALID_ORDER, "invalid time in force")
        if tx.order_type == ORDER_TYPE_MARKET and tx.time_in_force != TIF_IOC:
            raise LighterApiError(CODE_INVALID_ORDER, "market orders must be immediate-or-cancel")
        if tx.time_in_force == TIF_IOC and tx.order_expiry != 0:
            raise LighterApiError(CODE_INVALID_ORDER, "invalid order expiry")
        if tx.time_in_force != TIF_IOC and tx.order_expiry <= now_ms:
            raise LighterApiError(CODE_INVALID_ORDER, "invalid order expiry")
        self._check_amounts(rules, tx.base_amount, tx.price)
        if tx.order_type == ORDER_TYPE_MARKET and tx.is_ask:
            floor = self.exchange.mark_price(rules.symbol) * (1 - ACCIDENTAL_SELL_FRACTION)
            if from_units(tx.price, rules.price_decimals) < floor:
                raise LighterApiError(CODE_ACCIDENTAL_PRICE, "accidental price")
        account = self.account(tx.account_index)
        if any(order.is_open and order.client_order_index == tx.client_order_index
               for order in self.orders if order.account_index == account.account_index):
            raise LighterApiError(CODE_INVALID_ORDER, "client order index already used by an open order")

    def _check_amounts(self, rules: MarketRules, base_amount: int, price: int) -> None:
        if not 1 <= base_amount <= MAX_BASE_AMOUNT:
            raise LighterApiError(CODE_INVALID_ORDER, "invalid base amount")
        if price < 1:
            raise LighterApiError(CODE_INVALID_ORDER, "invalid price")
        try:
            self.exchange.check_rules(rules.symbol, from_units(base_amount, rules.size_decimals),
                                      from_units(price, rules.price_decimals))
        except OrderRejected as exc:
            message = {
                RuleViolation.QUANTITY_BELOW_MINIMUM: "order base amount is below the market minimum",
                RuleViolation.PRICE_TOO_HIGH: "order price is too high",
            }.get(exc.violation, f"invalid order: {exc.violation.value}")
            raise LighterApiError(CODE_INVALID_ORDER, message) from None

    # ----- execution (the nonce is already consumed) -----------------------------------------------------------

    def execute(self, tx: SignedTx, now_ms: int, *, fill_fraction: Decimal | None = None,
                margin_reject: bool = False, failure: str | None = None) -> TxRecord:
        """Run an admitted transaction; ``fill_fraction``, ``margin_reject`` and ``failure`` (the transaction fails
        with this reason and leaves no order) carry order faults."""
        self.block_height += 1
        tx_hash = tx_hash_for(tx.account_index, tx.api_key_index, tx.nonce, tx.info)
        if failure is not None:
            status, event = TX_STATUS_FAILED, {"error": failure}
            logger.info("lighter %s: transaction with nonce %s failed: %s", self.account(tx.account_index).name,
                        tx.nonce, failure)
        elif isinstance(tx, CreateOrderTx):
            status, event = self._create(tx, tx_hash, now_ms, fill_fraction, margin_reject)
        elif isinstance(tx, CancelOrderTx):
            status, event = self._cancel(tx)
        elif isinstance(tx, CancelAllOrdersTx):
            status, event = self._cancel_all(tx)
        elif isinstance(tx, ModifyOrderTx):
            status, event = self._modify(tx, now_ms)
        else:
            assert isinstance(tx, UpdateLeverageTx)
            status, event = self._update_leverage(tx)
        record = TxRecord(
            tx=tx, tx_hash=tx_hash, status=status, event_info=event,
            l1_address=self.account(tx.account_index).l1_address, block_height=self.block_height,
            sequence_index=next(self._sequence), queued_ms=now_ms, executed_ms=now_ms,
        )
        self.txs[tx_hash] = record
        return record

    def _create(self, tx: CreateOrderTx, tx_hash: str, now_ms: int, fill_fraction: Decimal | None,
                margin_reject: bool) -> tuple[int, dict[str, Any]]:
        rules = self.market(tx.market_index)
        account = self.account(tx.account_index)
        quantity = from_units(tx.base_amount, rules.size_decimals)
        price = from_units(tx.price, rules.price_decimals)
        order_index = next(self._order_indexes)
        order = LighterOrder(
            order_index=order_index, client_order_index=tx.client_order_index, account_index=tx.account_index,
            market_id=tx.market_index, is_ask=tx.is_ask, order_type=tx.order_type, time_in_force=tx.time_in_force,
            reduce_only=tx.reduce_only, trigger_price=tx.trigger_price, order_expiry=tx.order_expiry,
            nonce=tx.nonce, api_key_index=tx.api_key_index, initial_base_amount=quantity, price=price,
            created_ms=now_ms, tx_hash=tx_hash, block_height=self.block_height,
        )
        side = Side.SELL if tx.is_ask else Side.BUY
        if margin_reject:
            engine_order = self._refused_order(order, account.name, rules, side, now_ms)
        else:
            engine_order = self._submit(order, account.name, rules, side, quantity, price, tx.client_order_index,
                                        fill_fraction)
        self._track(order, engine_order)
        self.orders.append(order)
        self._by_order_index[order_index] = order
        logger.info("lighter %s: order %s coi %s %s %s %s @ %s -> %s", account.name, order_index,
                    tx.client_order_index, side.value, fixed(quantity, rules.size_decimals), rules.symbol,
                    fixed(price, rules.price_decimals), order.status)
        return TX_STATUS_EXECUTED, {"order_index": order_index, "status": order.status}

    def _submit(self, order: LighterOrder, account_name: str, rules: MarketRules, side: Side, quantity: Decimal,
                price: Decimal, client_id: int | None, fill_fraction: Decimal | None) -> Order:
        market = order.order_type == ORDER_TYPE_MARKET
        extra = {"order_index": order.order_index, "nonce": order.nonce, "api_key_index": order.api_key_index,
                 "tx_hash": order.tx_hash}
        return self.exchange.submit_order(
            account_name, rules.symbol, side, quantity,
            order_type=OrderType.MARKET if market else OrderType.LIMIT,
            price=None if market else price,
            worst_price=price if market else None,
            time_in_force=TimeInForce.IOC if order.time_in_force == TIF_IOC else TimeInForce.GTC,
            post_only=order.time_in_force == TIF_POST_ONLY,
            reduce_only=order.reduce_only,
            client_id=client_id,
            fill_fraction=fill_fraction,
            extra=extra,
        )

    def _refused_order(self, order: LighterOrder, account_name: str, rules: MarketRules, side: Side,
                       now_ms: int) -> Order:
        """The record of an order the sequencer refused for margin without it reaching the engine's book."""
        return Order(
            order_id=order.order_index, account=account_name, symbol=rules.symbol, side=side,
            order_type=OrderType.MARKET if order.order_type == ORDER_TYPE_MARKET else OrderType.LIMIT,
            quantity=order.initial_base_amount, price=order.price, time_in_force=TimeInForce.IOC,
            post_only=False, reduce_only=order.reduce_only, client_id=order.client_order_index, created_ms=now_ms,
            status=OrderStatus.CANCELLED, cancel_reason=CancelReason.INSUFFICIENT_MARGIN, updated_ms=now_ms,
        )

    def _track(self, order: LighterOrder, engine_order: Order) -> None:
        order.segments.append(engine_order)
        self._by_engine_id[engine_order.order_id] = order

    def find_open(self, account_index: int, market_id: int, index: int) -> LighterOrder | None:
        """The account's open order on the market named by order index or, below 2^48, by client order index."""
        if index >= FIRST_ORDER_INDEX:
            order = self._by_order_index.get(index)
            if order is not None and order.account_index == account_index and order.market_id == market_id \
                    and order.is_open:
                return order
            return None
        for order in reversed(self.orders):
            if order.account_index == account_index and order.market_id == market_id \
                    and order.client_order_index == index and order.is_open:
                return order
        return None

    def _cancel(self, tx: CancelOrderTx) -> tuple[int, dict[str, Any]]:
        account = self.account(tx.account_index)
        order = self.find_open(tx.account_index, tx.market_index, tx.index)
        if order is None:
            return TX_STATUS_FAILED, {"error": "order not found"}
        self.exchange.cancel_order(account.name, order_id=order.live.order_id)
        return TX_STATUS_EXECUTED, {"order_index": order.order_index, "status": order.status}

    def _cancel_all(self, tx: CancelAllOrdersTx) -> tuple[int, dict[str, Any]]:
        account = self.account(tx.account_index)
        symbol = self.market(tx.market_index).symbol if tx.market_index is not None else None
        cancelled = self.exchange.cancel_all(account.name, symbol)
        return TX_STATUS_EXECUTED, {"canceled": len(cancelled)}

    def _modify(self, tx: ModifyOrderTx, now_ms: int) -> tuple[int, dict[str, Any]]:
        account = self.account(tx.account_index)
        rules = self.market(tx.market_index)
        order = self.find_open(tx.account_index, tx.market_index, tx.index)
        if order is None:
            return TX_STATUS_FAILED, {"error": "order not found"}
        self.exchange.cancel_order(account.name, order_id=order.live.order_id)
        price = from_units(tx.price, rules.price_decimals)
        order.price = price
        side = Side.SELL if order.is_ask else Side.BUY
        # Later engine orders carry no client id: the engine's audit counts executions per client id, and a
        # modified order is still one order.
        replacement = self._submit(order, account.name, rules, side, from_units(tx.base_amount, rules.size_decimals),
                                   price, None, None)
        self._track(order, replacement)
        return TX_STATUS_EXECUTED, {"order_index": order.order_index, "status": order.status}

    def _update_leverage(self, tx: UpdateLeverageTx) -> tuple[int, dict[str, Any]]:
        account = self.account(tx.account_index)
        rules = self.market(tx.market_index)
        leverage = Decimal(10_000) / Decimal(tx.initial_margin_fraction)
        self.exchange.set_leverage(account.name, rules.symbol, leverage)
        return TX_STATUS_EXECUTED, {"market_index": tx.market_index,
                                    "initial_margin_fraction": tx.initial_margin_fraction}

    # ----- reads ------------------------------------------------------------------------------------------------

    def orders_of(self, account_index: int) -> list[LighterOrder]:
        return [order for order in self.orders if order.account_index == account_index]

    def lighter_order_for(self, engine_order_id: int | None) -> LighterOrder | None:
        return self._by_engine_id.get(engine_order_id) if engine_order_id is not None else None

    def _party(self, account_name: str | None, engine_order_id: int | None) -> TradeParty:
        order = self.lighter_order_for(engine_order_id)
        if order is not None:
            return TradeParty(order.account_index, order.order_index, order.client_order_index)
        account = self.account_named(account_name) if account_name is not None else None
        if account is not None:
            return TradeParty(account.account_index, 0, 0)
        return TradeParty(LIQUIDITY_POOL_ACCOUNT_INDEX, 0, 0)

    def trade_document(self, trade: Trade) -> dict[str, Any]:
        rules = self.exchange.rules[trade.symbol]
        taker_id = trade.buy_order_id if trade.taker_side is Side.BUY else trade.sell_order_id
        taker = self.lighter_order_for(taker_id)
        tx_hash = taker.tx_hash if taker is not None else tx_hash_for(trade.kind.value, trade.trade_id)
        block = self._trade_blocks.setdefault(trade.trade_id, taker.block_height if taker else self.block_height)
        return trade_document(
            trade, rules,
            ask=self._party(trade.seller, trade.sell_order_id),
            bid=self._party(trade.buyer, trade.buy_order_id),
            tx_hash=tx_hash, block_height=block,
        )

    def account_document(self, account: LighterAccount) -> dict[str, Any]:
        """The DetailedAccount of GET /api/v1/account."""
        summary = self.exchange.summary(account.name)
        engine_account = self.exchange.account(account.name)
        open_orders = [order for order in self.orders_of(account.account_index) if order.is_open]
        positions = [self._position_document(engine_account, rules, open_orders)
                     for rules in sorted(self.markets.values(), key=lambda rules: rules.market_id)
                     if self._shows_position(engine_account, rules, open_orders)]
        return {
            "code": 0,
            "account_type": 0,
            "index": account.account_index,
            "account_index": account.account_index,
            "l1_address": account.l1_address,
            "cancel_all_time": 0,
            "total_order_count": len(open_orders),
            "total_isolated_order_count": 0,
            "pending_order_count": 0,
            "available_balance": usdc(summary.available),
            "status": 1,
            "collateral": usdc(summary.collateral),
            "name": "",
            "description": "",
            "can_invite": True,
            "referral_points_percentage": "",
            "positions": positions,
            "assets": [],
            "total_asset_value": usdc(summary.equity),
            "cross_asset_value": usdc(summary.equity),
            "shares": [],
            "created_at": account.created_ms,
            "transaction_time": account.created_ms * 1000,
            "can_rfq": False,
            "cross_initial_margin_requirement": usdc(summary.initial_margin),
            "cross_maintenance_margin_requirement": usdc(summary.maintenance_margin),
            "can_rfq_market_ids": [],
            "agent_enabled": False,
        }

    @staticmethod
    def _shows_position(account: Account, rules: MarketRules, open_orders: list[LighterOrder]) -> bool:
        position = account.positions.get(rules.symbol)
        if position is not None and (position.size or position.realized_pnl or position.fees_paid):
            return True
        return any(order.market_id == rules.market_id for order in open_orders)

    def _position_document(self, account: Account, rules: MarketRules,
                           open_orders: list[LighterOrder]) -> dict[str, Any]:
        position = account.position(rules.symbol)
        mark = self.exchange.mark_price(rules.symbol)
        liquidation = self.exchange.liquidation_price(account.name, rules.symbol)
        return {
            "market_id": rules.market_id,
            "symbol": rules.symbol,
            "initial_margin_fraction": percent(self.exchange.initial_margin_fraction(account, rules.symbol)),
            "open_order_count": sum(1 for order in open_orders if order.market_id == rules.market_id),
            "pending_order_count": 0,
            "position_tied_order_count": 0,
            "sign": -1 if position.size < 0 else 1,
            "position": fixed(abs(position.size), rules.size_decimals),
            "avg_entry_price": fixed(position.entry_price, rules.price_decimals),
            "position_value": usdc(abs(position.size) * mark),
            "unrealized_pnl": usdc(position.unrealized_pnl(mark)),
            "realized_pnl": usdc(position.realized_pnl),
            "liquidation_price": fixed(liquidation or Decimal(0), rules.price_decimals),
            "total_funding_paid_out": usdc(Decimal(0)),
            "margin_mode": 0,
            "allocated_margin": usdc(Decimal(0)),
            "total_discount": "0",
            "margin_set_flag": 0,
        }
