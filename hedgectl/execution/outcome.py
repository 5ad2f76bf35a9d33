"""Sending one order and waiting for what the venue made of it, keeping a refusal or a lost answer as the outcome
instead of raising it, so that diagnostics and manual orders can report every case in one shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import Connector
from hedgectl.decimals import ZERO, plain
from hedgectl.errors import AmbiguousOutcome, VenueError
from hedgectl.model.orders import IN_FLIGHT_STATES, OrderIntent, OrderSnapshot, OrderState, Transition

#: When the wait for an order ends: ``is_final`` (filled, cancelled or failed) or ``is_acknowledged`` (also resting).
SettledTest = Callable[[OrderSnapshot], bool]

UNKNOWN = OrderState.UNKNOWN.value


def is_final(snapshot: OrderSnapshot) -> bool:
    return snapshot.is_final


def is_acknowledged(snapshot: OrderSnapshot) -> bool:
    """The venue has the order (resting or final); enough to report a limit order."""
    return snapshot.state not in IN_FLIGHT_STATES and snapshot.state is not OrderState.NEW


@dataclass(frozen=True)
class OrderOutcome:
    """The last thing known of one order: its snapshot, the error that ended it, and the time it took."""

    intent: OrderIntent
    snapshot: OrderSnapshot | None
    error: VenueError | None
    latency_ms: float
    settled: bool  # the wait ended because the order settled, not because time ran out

    @property
    def state(self) -> str:
        """The order's state; "unknown" while the venue's answer is missing, "refused" when nothing was sent."""
        if self.snapshot is None:
            return UNKNOWN if isinstance(self.error, AmbiguousOutcome) else "refused"
        if self.snapshot.state in IN_FLIGHT_STATES:
            return UNKNOWN
        return self.snapshot.state.value

    @property
    def known(self) -> bool:
        return self.state != UNKNOWN

    @property
    def filled_size(self) -> Decimal:
        return self.snapshot.filled_size if self.snapshot else ZERO

    @property
    def reason(self) -> str | None:
        """Why the order did not (fully) fill, as the venue or the connector put it; None for a filled order."""
        if self.error is not None:
            return str(self.error)
        if self.snapshot is None or self.snapshot.state is OrderState.FILLED:
            return None
        return self.snapshot.reason

    @property
    def info(self) -> dict[str, Any]:
        return dict(self.snapshot.info) if self.snapshot else {}

    def as_dict(self) -> dict[str, Any]:
        intent, snapshot = self.intent, self.snapshot
        return {
            "connector": intent.connector,
            "symbol": intent.symbol,
            "side": intent.side.value,
            "order_type": intent.order_type.value,
            "size": plain(intent.size),
            "price": None if intent.price is None else plain(intent.price),
            "reduce_only": intent.reduce_only,
            "client_order_index": intent.client_order_index,
            "venue_order_id": snapshot.venue_order_id if snapshot else None,
            "state": self.state,
            "filled_size": plain(self.filled_size),
            "average_price": None if not snapshot or snapshot.average_price is None else plain(snapshot.average_price),
            "reason": self.reason,
            "error_type": type(self.error).__name__ if self.error is not None else None,
            "latency_ms": round(self.latency_ms, 1),
        }


async def send_and_wait(
    connector: Connector,
    intent: OrderIntent,
    *,
    timeout: float,
    max_slippage: Decimal | None = None,
    settled: SettledTest = is_final,
) -> OrderOutcome:
    """Submit ``intent`` and wait up to ``timeout`` seconds until ``settled`` holds; never raises a VenueError."""
    seen: list[OrderSnapshot] = []

    def remember(snapshot: OrderSnapshot, _transition: Transition) -> None:
        seen.append(snapshot)

    started = time.monotonic()
    error: VenueError | None = None
    try:
        handle = await connector.submit_order(intent, max_slippage=max_slippage, listeners=[remember])
        await _wait(handle, settled, timeout)
        snapshot = handle.snapshot()
    except VenueError as exc:
        error = exc
        snapshot = seen[-1] if seen else None
    if error is None and snapshot is not None:
        error = snapshot.error
    return OrderOutcome(
        intent=intent,
        snapshot=snapshot,
        error=error,
        latency_ms=(time.monotonic() - started) * 1000,
        settled=snapshot is not None and settled(snapshot),
    )


async def _wait(handle, settled: SettledTest, timeout: float) -> None:
    if settled is is_final:
        await handle.wait_final(timeout)  # raises the confirming task's error, if it failed
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not settled(handle.snapshot()):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await handle.next_update(remaining)
