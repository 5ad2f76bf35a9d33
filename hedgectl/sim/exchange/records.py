"""The paper engine's records: sides, order types and states, orders, fills, trades, positions and accounts.

Venue-neutral: the HTTP venues translate their wire formats to and from these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


ZERO = Decimal(0)
USD_QUANTUM = Decimal("0.000001")


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, enum.Enum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(str, enum.Enum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(str, enum.Enum):
    """Engine order states; ``OPEN_STATUSES`` rest on the book, the others are final."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


class CancelReason(str, enum.Enum):
    """Why an order ended without filling completely; venues map these to their own status names."""

    USER = "user"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
    INSUFFICIENT_LIQUIDITY = "insufficient_liquidity"
    SLIPPAGE = "slippage"
    POST_ONLY_TAKER = "post_only_taker"
    REDUCE_ONLY = "reduce_only"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    FILL_OR_KILL = "fill_or_kill"
    LIQUIDATION = "liquidation"


class RuleViolation(str, enum.Enum):
    """Why an order breaks a market rule before it reaches the book (venues answer these as API errors)."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    QUANTITY_NOT_POSITIVE = "quantity_not_positive"
    QUANTITY_PRECISION = "quantity_precision"
    QUANTITY_BELOW_MINIMUM = "quantity_below_minimum"
    NOTIONAL_BELOW_MINIMUM = "notional_below_minimum"
    PRICE_MISSING = "price_missing"
    PRICE_NOT_POSITIVE = "price_not_positive"
    PRICE_PRECISION = "price_precision"
    PRICE_TOO_HIGH = "price_too_high"


class OrderRejected(Exception):
    """Raised by ``Exchange.submit_order`` for an order that breaks a market rule; no order record is created."""

    def __init__(self, violation: RuleViolation, detail: str = "") -> None:
        super().__init__(f"{violation.value}: {detail}" if detail else violation.value)
        self.violation = violation


class TradeKind(str, enum.Enum):
    TRADE = "trade"
    LIQUIDATION = "liquidation"


@dataclass
class Fill:
    """One account's side of one trade."""

    trade_id: int
    order_id: int | None
    client_id: int | None
    account: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    is_maker: bool
    kind: TradeKind
    timestamp_ms: int


@dataclass
class Trade:
    """A public trade; ``buyer``/``seller`` are account names, None for the venue's synthetic liquidity."""

    trade_id: int
    symbol: str
    price: Decimal
    quantity: Decimal
    taker_side: Side
    kind: TradeKind
    buyer: str | None
    seller: str | None
    buy_order_id: int | None
    sell_order_id: int | None
    timestamp_ms: int


@dataclass
class Order:
    """An order as the engine keeps it. ``extra`` is free for the venue (e.g. Lighter's nonce and api key index)."""

    order_id: int
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    client_id: int | None
    created_ms: int
    worst_price: Decimal | None = None
    quote_quantity: Decimal | None = None
    status: OrderStatus = OrderStatus.NEW
    cancel_reason: CancelReason | None = None
    executed_quantity: Decimal = ZERO
    executed_quote: Decimal = ZERO
    fees: Decimal = ZERO
    updated_ms: int = 0
    trade_ids: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_quantity

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def average_price(self) -> Decimal | None:
        if self.executed_quantity == 0:
            return None
        return self.executed_quote / self.executed_quantity


@dataclass
class Position:
    """A signed position (positive long, negative short) with its average entry and realised PnL."""

    symbol: str
    size: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (self.size * (mark - self.entry_price)).quantize(USD_QUANTUM)

    def apply(self, signed_quantity: Decimal, price: Decimal) -> Decimal:
        """Add a trade of ``signed_quantity`` at ``price``; returns the PnL it realised."""
        size = self.size
        if size == 0 or (size > 0) == (signed_quantity > 0):
            total = abs(size) + abs(signed_quantity)
            self.entry_price = (abs(size) * self.entry_price + abs(signed_quantity) * price) / total
            self.size = size + signed_quantity
            return ZERO
        closed = min(abs(signed_quantity), abs(size))
        realized = (closed * (price - self.entry_price) * (1 if size > 0 else -1)).quantize(USD_QUANTUM)
        self.realized_pnl += realized
        self.size = size + signed_quantity
        if self.size == 0:
            self.entry_price = ZERO
        elif (self.size > 0) != (size > 0):
            self.entry_price = price
        return realized


@dataclass
class Account:
    """A venue account: collateral in the quote currency (USDC), positions by symbol, leverage by symbol."""

    name: str
    collateral: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def position(self, symbol: str) -> Position:
        position = self.positions.get(symbol)
        if position is None:
            position = self.positions[symbol] = Position(symbol)
        return position

    def size(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.size if position is not None else ZERO


@dataclass
class AccountSummary:
    """An account's margin picture at current marks."""

    collateral: Decimal
    unrealized_pnl: Decimal
    equity: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    open_order_margin: Decimal
    available: Decimal
    notional: Decimal
