"""The paper engine's state as data: the accounts snapshot of the state file and the engine part of
``/_sim/state``."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedgectl.sim.exchange.records import Account, Fill, Order, Position
from hedgectl.sim.market import plain

if TYPE_CHECKING:
    from hedgectl.sim.exchange.engine import Exchange


def accounts_snapshot(exchange: Exchange) -> dict[str, Any]:
    """Collateral, positions and leverage of every account as JSON-able data (for the state file)."""
    return {
        name: {
            "collateral": plain(account.collateral),
            "positions": {
                symbol: {
                    "size": plain(position.size),
                    "entry_price": plain(position.entry_price),
                    "realized_pnl": plain(position.realized_pnl),
                    "fees_paid": plain(position.fees_paid),
                }
                for symbol, position in account.positions.items()
                if position.size or position.realized_pnl or position.fees_paid
            },
            "leverage": {symbol: plain(value) for symbol, value in account.leverage.items()},
            "extra": account.extra,
        }
        for name, account in exchange.accounts.items()
    }


def restore_accounts(exchange: Exchange, snapshot: dict[str, Any]) -> None:
    """Recreate accounts from ``accounts_snapshot()`` output, replacing any of the same name."""
    for name, data in snapshot.items():
        account = Account(name, Decimal(data["collateral"]), extra=dict(data.get("extra", {})))
        for symbol, position in data.get("positions", {}).items():
            account.positions[symbol] = Position(
                symbol,
                size=Decimal(position["size"]),
                entry_price=Decimal(position["entry_price"]),
                realized_pnl=Decimal(position.get("realized_pnl", "0")),
                fees_paid=Decimal(position.get("fees_paid", "0")),
            )
        account.leverage = {symbol: Decimal(value) for symbol, value in data.get("leverage", {}).items()}
        exchange.accounts[name] = account


def state_document(exchange: Exchange, *, history_limit: int = 500) -> dict[str, Any]:
    """The engine part of ``/_sim/state``: marks, accounts with positions, open orders, history, fills, audit."""
    accounts = {}
    for name, account in exchange.accounts.items():
        summary = exchange.summary(name)
        accounts[name] = {
            "collateral": plain(summary.collateral),
            "equity": plain(summary.equity),
            "available": plain(summary.available),
            "unrealized_pnl": plain(summary.unrealized_pnl),
            "initial_margin": plain(summary.initial_margin),
            "maintenance_margin": plain(summary.maintenance_margin),
            "positions": [
                {
                    "symbol": symbol,
                    "signed_size": plain(position.size),
                    "entry_price": plain(position.entry_price),
                    "mark_price": plain(exchange.mark_price(symbol)),
                    "unrealized_pnl": plain(position.unrealized_pnl(exchange.mark_price(symbol))),
                    "realized_pnl": plain(position.realized_pnl),
                    "fees_paid": plain(position.fees_paid),
                    "liquidation_price": plain(exchange.liquidation_price(name, symbol)),
                }
                for symbol, position in account.positions.items()
                if position.size or position.realized_pnl or position.fees_paid
            ],
            "leverage": {symbol: plain(value) for symbol, value in account.leverage.items()},
        }
    return {
        "venue": exchange.venue,
        "mid_prices": {base: plain(mid) for base, mid in exchange.market.mids.items()},
        "mark_prices": {symbol: plain(exchange.mark_price(symbol)) for symbol in exchange.rules},
        "accounts": accounts,
        "open_orders": [order_document(order) for order in exchange.resting_orders()],
        "orders": [order_document(order) for order in exchange.orders[-history_limit:]],
        "fills": [fill_document(fill) for fill in exchange.fills[-history_limit:]],
        "audit": exchange.audit(),
    }


def order_document(order: Order) -> dict[str, Any]:
    """An engine order as JSON-able data (for ``/_sim/state``)."""
    return {
        "order_id": order.order_id,
        "account": order.account,
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.order_type.value,
        "quantity": plain(order.quantity),
        "price": plain(order.price),
        "worst_price": plain(order.worst_price),
        "time_in_force": order.time_in_force.value,
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "status": order.status.value,
        "cancel_reason": order.cancel_reason.value if order.cancel_reason else None,
        "executed_quantity": plain(order.executed_quantity),
        "executed_quote": plain(order.executed_quote),
        "fees": plain(order.fees),
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
        "extra": order.extra,
    }


def fill_document(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_id": fill.client_id,
        "account": fill.account,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "price": plain(fill.price),
        "quantity": plain(fill.quantity),
        "fee": plain(fill.fee),
        "is_maker": fill.is_maker,
        "kind": fill.kind.value,
        "timestamp_ms": fill.timestamp_ms,
    }
