"""A journaled cycle as plain data for people and scripts (``hedge status``, its ``--watch``): its legs with their
orders and fills, the net exposure by the journal, its age, and whether a live process is still running it."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from hedgectl import locks
from hedgectl.decimals import ZERO, plain, quantize, significant
from hedgectl.errors import LockHeld


def cycle_record(cycle, *, data_dir) -> dict[str, Any]:
    """A cycle from the journal as plain data: legs with their fills, net exposure by the journal, age."""
    legs = {}
    net = ZERO
    for role, leg in cycle.params.get("legs", {}).items():
        orders = cycle.orders_for(role)
        position = cycle.position_by_journal(role)
        net += position
        legs[role] = {
            **leg,
            "position_by_journal": plain(position),
            "orders": [
                {
                    "purpose": o.purpose,
                    "side": o.intent.side.value,
                    "size": plain(o.intent.size),
                    "client_order_index": o.intent.client_order_index,
                    "state": o.state.value,
                    "filled": plain(o.filled_size),
                    "average_price": _price(o.average_price, leg.get("tick_size")),
                    "reason": o.reason,
                }
                for o in orders
            ],
        }
    return {
        "id": cycle.id,
        "phase": cycle.phase,
        "outcome": cycle.outcome,
        "resolved": cycle.resolved,
        "running": not cycle.resolved and _accounts_in_use(data_dir, list(cycle.accounts.values())),
        "direction": cycle.direction,
        "size": cycle.params.get("plan", {}).get("size"),
        "started_at": cycle.created_at,
        "age_secs": round(time.time() - cycle.created_at, 1),
        "legs": legs,
        "net_by_journal": plain(net),
        "result": cycle.result,
    }


def _price(value, tick: str | None) -> str | None:
    """An average fill price for people: to the market's tick (journals from before ticks were kept: 10 digits)."""
    if value is None:
        return None
    if tick:
        try:
            return plain(quantize(value, Decimal(tick)))
        except (ArithmeticError, ValueError):
            pass
    return plain(significant(value, 10))


def _accounts_in_use(data_dir, accounts: list[str]) -> bool:
    """Whether a live process holds the cycle's account locks (a pid alone could have been reused)."""
    try:
        held = locks.acquire_all(data_dir, accounts, purpose="hedge status")
    except LockHeld:
        return True
    for lock in held:
        lock.release()
    return False
