"""Lighter's view of engine orders and trades: order indexes, client order indexes, status names, and the JSON
documents (Order, SimpleOrder, Trade, AccountPosition, order book details) the SDK's models read.

Sizes and prices are written with exactly the market's size_decimals / price_decimals, because the SDK turns
"3500.12" into 350012 by deleting the dot; USDC amounts carry six decimals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedgectl.sim.exchange.records import CancelReason, Order, OrderStatus, OrderType, Trade, TradeKind
from hedgectl.sim.lighter.wire import ORDER_TYPE_NAMES, TIME_IN_FORCE_NAMES, fixed
from hedgectl.sim.market import MarketRules

USDC_DECIMALS = 6
# The venue's liquidity pool account: the counterparty of synthetic liquidity and of liquidations.
LIQUIDITY_POOL_ACCOUNT_INDEX = 2**48 - 2
# Synthetic book levels get order indexes in a range no account order reaches.
SYNTHETIC_ORDER_INDEX_BASE = 2**56

_CANCEL_STATUS = {
    CancelReason.USER: "canceled",
    CancelReason.IMMEDIATE_OR_CANCEL: "canceled",
    CancelReason.INSUFFICIENT_LIQUIDITY: "canceled-not-enough-liquidity",
    CancelReason.SLIPPAGE: "canceled-too-much-slippage",
    CancelReason.POST_ONLY_TAKER: "canceled-post-only",
    CancelReason.REDUCE_ONLY: "canceled-reduce-only",
    CancelReason.INSUFFICIENT_MARGIN: "canceled-margin-not-allowed",
    CancelReason.FILL_OR_KILL: "canceled",
    CancelReason.LIQUIDATION: "canceled-liquidation",
}


def usdc(value: Decimal) -> str:
    return fixed(value, USDC_DECIMALS)


def percent(fraction: Decimal) -> str:
    """A fraction (0.05) as the venue's percentage string ("5.00")."""
    return fixed(fraction * 100, 2)


def basis_points(fraction: Decimal) -> int:
    """A fraction (0.05) as the venue's integer margin fraction in hundredths of a percent (500)."""
    return int((fraction * 10_000).to_integral_value())


def tx_hash_for(*parts: object) -> str:
    """An 80-hex-digit transaction hash, as long as the venue's, derived from what identifies the transaction."""
    return hashlib.blake2b(":".join(str(part) for part in parts).encode(), digest_size=40).hexdigest()


def synthetic_order_index(market_id: int, is_ask: bool, level: int) -> int:
    return SYNTHETIC_ORDER_INDEX_BASE + market_id * 10_000 + (5_000 if is_ask else 0) + level


@dataclass
class LighterOrder:
    """One Lighter order. A modify replaces the engine order behind it, so it keeps every engine order it had
    (``segments``, the live one last); sizes filled add up over all of them."""

    order_index: int
    client_order_index: int
    account_index: int
    market_id: int
    is_ask: bool
    order_type: int
    time_in_force: int
    reduce_only: bool
    trigger_price: int
    order_expiry: int
    nonce: int
    api_key_index: int
    initial_base_amount: Decimal
    price: Decimal
    created_ms: int
    tx_hash: str
    block_height: int
    segments: list[Order] = field(default_factory=list)

    @property
    def live(self) -> Order:
        return self.segments[-1]

    @property
    def is_open(self) -> bool:
        return self.live.is_open

    @property
    def filled_base(self) -> Decimal:
        return sum((segment.executed_quantity for segment in self.segments), Decimal(0))

    @property
    def filled_quote(self) -> Decimal:
        return sum((segment.executed_quote for segment in self.segments), Decimal(0))

    @property
    def status(self) -> str:
        live = self.live
        if live.is_open:
            return "open"
        if live.status is OrderStatus.FILLED:
            return "filled"
        reason = live.cancel_reason or CancelReason.USER
        if reason is CancelReason.IMMEDIATE_OR_CANCEL and live.order_type is OrderType.MARKET:
            # A market order cut short without reaching its price bound ran out of what it could take.
            return "canceled-not-enough-liquidity"
        return _CANCEL_STATUS[reason]

    @property
    def updated_ms(self) -> int:
        return max(segment.updated_ms for segment in self.segments)

    def document(self, rules: MarketRules) -> dict[str, Any]:
        """The order as GET accountOrders / accountActiveOrders / accountInactiveOrders list it."""
        size_decimals, price_decimals = rules.size_decimals, rules.price_decimals
        return {
            "order_index": self.order_index,
            "client_order_index": self.client_order_index,
            "order_id": str(self.order_index),
            "client_order_id": str(self.client_order_index),
            "market_index": self.market_id,
            "owner_account_index": self.account_index,
            "initial_base_amount": fixed(self.initial_base_amount, size_decimals),
            "price": fixed(self.price, price_decimals),
            "nonce": self.nonce,
            "remaining_base_amount": fixed(self.live.remaining, size_decimals),
            "is_ask": self.is_ask,
            "base_size": int(self.initial_base_amount.scaleb(size_decimals)),
            "base_price": int(self.price.scaleb(price_decimals)),
            "filled_base_amount": fixed(self.filled_base, size_decimals),
            "filled_quote_amount": usdc(self.filled_quote),
            "side": "sell" if self.is_ask else "buy",
            "type": ORDER_TYPE_NAMES.get(self.order_type, "limit"),
            "time_in_force": TIME_IN_FORCE_NAMES.get(self.time_in_force, "good-till-time"),
            "reduce_only": self.reduce_only,
            "trigger_price": fixed(Decimal(self.trigger_price).scaleb(-price_decimals), price_decimals),
            "order_expiry": self.order_expiry,
            "status": self.status,
            "trigger_status": "na",
            "trigger_time": 0,
            "parent_order_index": 0,
            "parent_order_id": "0",
            "to_trigger_order_id_0": "0",
            "to_trigger_order_id_1": "0",
            "to_cancel_order_id_0": "0",
            "block_height": self.block_height,
            "timestamp": self.created_ms // 1000,
            "created_at": self.created_ms,
            "updated_at": self.updated_ms,
            "transaction_time": self.created_ms * 1000,
            "integrator_fee_collector_index": "0",
            "integrator_maker_fee": "0",
            "integrator_taker_fee": "0",
            "order_flags": 0,
            "order_version": len(self.segments) - 1,
            "market_symbol": rules.symbol,
            "market_kind": "perp",
        }


@dataclass(frozen=True)
class TradeParty:
    """One side of a trade as Lighter names it: account index, order index and client order index."""

    account_index: int
    order_index: int
    client_order_index: int


def trade_document(trade: Trade, rules: MarketRules, *, ask: TradeParty, bid: TradeParty, tx_hash: str,
                   block_height: int) -> dict[str, Any]:
    """A trade as GET trades / recentTrades list it; liquidations carry type "liquidation"."""
    size_decimals, price_decimals = rules.size_decimals, rules.price_decimals
    is_maker_ask = trade.taker_side.value == "buy"
    return {
        "trade_id": trade.trade_id,
        "trade_id_str": str(trade.trade_id),
        "tx_hash": tx_hash,
        "type": "liquidation" if trade.kind is TradeKind.LIQUIDATION else "trade",
        "market_id": rules.market_id,
        "size": fixed(trade.quantity, size_decimals),
        "price": fixed(trade.price, price_decimals),
        "usd_amount": usdc(trade.quantity * trade.price),
        "ask_id": ask.order_index,
        "bid_id": bid.order_index,
        "ask_id_str": str(ask.order_index),
        "bid_id_str": str(bid.order_index),
        "ask_account_id": ask.account_index,
        "bid_account_id": bid.account_index,
        "ask_client_id": ask.client_order_index,
        "bid_client_id": bid.client_order_index,
        "ask_client_id_str": str(ask.client_order_index),
        "bid_client_id_str": str(bid.client_order_index),
        "is_maker_ask": is_maker_ask,
        "block_height": block_height,
        "timestamp": trade.timestamp_ms,
        "transaction_time": trade.timestamp_ms * 1000,
        "taker_fee": 0,
        "maker_fee": 0,
        "taker_position_size_before": "0",
        "taker_entry_quote_before": "0",
        "taker_initial_margin_fraction_before": 0,
        "taker_position_sign_changed": False,
        "maker_position_size_before": "0",
        "maker_entry_quote_before": "0",
        "maker_initial_margin_fraction_before": 0,
        "maker_position_sign_changed": False,
        "bid_account_pnl": "0",
        "ask_account_pnl": "0",
        "integrator_maker_fee": 0,
        "integrator_maker_fee_collector_index": 0,
        "integrator_taker_fee": 0,
        "integrator_taker_fee_collector_index": 0,
        "taker_allocated_margin_usdc_before": 0,
        "taker_allocated_margin_usdc_after": 0,
        "maker_allocated_margin_usdc_before": 0,
        "maker_allocated_margin_usdc_after": 0,
        "bid_order_version": 0,
        "ask_order_version": 0,
        "market_symbol": rules.symbol,
        "market_kind": "perp",
    }


def simple_order_document(*, order_index: int, owner_account_index: int, initial: Decimal, remaining: Decimal,
                          price: Decimal, order_expiry: int, transaction_time: int,
                          rules: MarketRules) -> dict[str, Any]:
    """One resting order as GET orderBookOrders lists it."""
    return {
        "order_index": order_index,
        "order_id": str(order_index),
        "owner_account_index": owner_account_index,
        "initial_base_amount": fixed(initial, rules.size_decimals),
        "remaining_base_amount": fixed(remaining, rules.size_decimals),
        "price": fixed(price, rules.price_decimals),
        "order_expiry": order_expiry,
        "transaction_time": transaction_time,
    }


def order_book_document(rules: MarketRules, *, detailed: bool, mark: Decimal, last_trade: Decimal,
                        created_at: str) -> dict[str, Any]:
    """A market as GET orderBooks (``detailed`` False) or orderBookDetails (True) describes it."""
    document: dict[str, Any] = {
        "symbol": rules.symbol,
        "market_id": rules.market_id,
        "market_type": "perp",
        "base_asset_id": 0,
        "quote_asset_id": 3,
        "status": "active",
        "taker_fee": fixed(rules.taker_fee * 100, 4),
        "maker_fee": fixed(rules.maker_fee * 100, 4),
        "liquidation_fee": "1.0000",
        "min_base_amount": fixed(rules.min_quantity, rules.size_decimals),
        "min_quote_amount": usdc(rules.min_notional),
        "supported_size_decimals": rules.size_decimals,
        "supported_price_decimals": rules.price_decimals,
        "supported_quote_decimals": USDC_DECIMALS,
        "order_quote_limit": "",
        "is_maker_fee_enabled": rules.maker_fee > 0,
        "is_taker_fee_enabled": rules.taker_fee > 0,
        "created_at": created_at,
        "multiplier": "1",
        "start_timestamp": 0,
        "end_timestamp": 0,
        "settlement_type": 0,
        "settlement_price": 0,
        "settlement_cap": 0,
        "outcome": 0,
        "default_price": 0,
        "operator_account_index": 0,
        "is_frozen": False,
        "open_interest": "0",
    }
    if detailed:
        document.update({
            "size_decimals": rules.size_decimals,
            "price_decimals": rules.price_decimals,
            "quote_multiplier": 1,
            "default_initial_margin_fraction": basis_points(rules.initial_margin_fraction),
            "min_initial_margin_fraction": basis_points(rules.initial_margin_fraction),
            "maintenance_margin_fraction": basis_points(rules.maintenance_margin_fraction),
            "closeout_margin_fraction": basis_points(rules.maintenance_margin_fraction) * 2 // 3,
            # The venue sends these statistics as JSON numbers; nothing in hedgectl computes with them.
            "last_trade_price": float(last_trade),
            "daily_trades_count": 0,
            "daily_base_token_volume": 0,
            "daily_quote_token_volume": 0,
            "daily_price_low": float(last_trade),
            "daily_price_high": float(last_trade),
            "daily_price_change": 0,
            "open_interest": 0,
            "daily_chart": {},
            "market_config": {},
            "strategy_index": 0,
            "funding_clamp_small": "0.0500",
            "funding_clamp_big": "4.0000",
            "base_interest_rate": "0.0100",
            "mark_price": fixed(mark, rules.price_decimals),
            "index_price": fixed(mark, rules.price_decimals),
            "market_flags": 0,
            "funding_premium_multiplier": 0,
        })
    return document
