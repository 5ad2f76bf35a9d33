"""Closing a position for sure: reduce-only market orders whose side and size come from the signed position read
just before each order, repeated until the venue reports the market flat (or the attempts run out).

Used by ``hedgectl flatten``, by the hedge's finish and emergency exit, and by ``hedge recover``; the min-order probe
and the smoke test use the same loop to bring a position back to where it stood before they traded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from hedgectl.connectors.base import Connector, Position
from hedgectl.decimals import ZERO, plain
from hedgectl.errors import VenueError
from hedgectl.execution.orders import OrderIntent, OrderSnapshot, Side, TransitionListener

logger = logging.getLogger(__name__)

#: Called with each intent before it is sent; returns the listeners to attach (e.g. the journal's).
IntentHook = Callable[[OrderIntent], list[TransitionListener]]


@dataclass
class FlattenResult:
    connector: str
    symbol: str
    before: Decimal | None = None  # signed size read before the first order (None: could not be read)
    after: Decimal | None = None  # signed size read at the end (None: unknown)
    orders: list[OrderSnapshot] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    target: Decimal = ZERO  # the signed size asked for (zero: flat)

    @property
    def flat(self) -> bool:
        return self.after is not None and self.after == 0

    @property
    def reached(self) -> bool:
        """The position read at the end is the target."""
        return self.after is not None and self.after == self.target

    def describe(self) -> str:
        if self.after is None:
            return f"{self.connector} {self.symbol}: position UNKNOWN ({'; '.join(self.errors) or 'not read'})"
        if self.reached:
            return f"{self.connector} {self.symbol}: " + ("flat" if self.flat else f"back at {plain(self.target)}")
        if self.target == 0:
            return f"{self.connector} {self.symbol}: still {plain(self.after)} open"
        return f"{self.connector} {self.symbol}: {plain(self.after)} instead of {plain(self.target)}"


async def read_position(
    connector: Connector, symbol: str, *, attempts: int = 4, delay: float = 0.25
) -> Position:
    """Read the signed position, retrying failures; raise the last VenueError if it stays unknown."""
    last: VenueError | None = None
    for attempt in range(attempts):
        try:
            return await connector.position(symbol)
        except VenueError as exc:
            last = exc
            logger.warning("%s: position read failed (%s); attempt %d of %d", connector.name, exc, attempt + 1, attempts)
            await asyncio.sleep(delay * (2**attempt))
    assert last is not None
    raise last


async def flatten_position(
    connector: Connector,
    symbol: str,
    *,
    max_slippage: Decimal | None = None,
    attempts: int = 3,
    order_timeout: float = 15.0,
    on_intent: IntentHook | None = None,
    target: Decimal = ZERO,
) -> FlattenResult:
    """Close ``symbol`` on ``connector`` and verify it is flat; never raises for venue errors (see ``errors``).

    With a non-zero ``target`` the position is brought to that signed size instead; the orders are reduce-only
    unless reaching the target means crossing zero.
    """
    result = FlattenResult(connector=connector.name, symbol=symbol, target=target)
    for attempt in range(attempts + 1):
        try:
            position = await read_position(connector, symbol)
        except VenueError as exc:
            result.errors.append(f"position read: {exc}")
            result.after = None
            return result
        if result.before is None:
            result.before = position.signed_size
        result.after = position.signed_size
        excess = position.signed_size - target
        if excess == 0 or attempt == attempts:
            return result
        side = Side.closing(excess)
        reduce_only = abs(target) < abs(position.signed_size) and target * position.signed_size >= 0
        try:
            intent = await connector.build_intent(symbol, side, abs(excess), reduce_only=reduce_only)
            listeners = on_intent(intent) if on_intent else []
            handle = await connector.submit_order(intent, max_slippage=max_slippage, listeners=listeners)
            snapshot = await handle.wait_final(order_timeout)
            result.orders.append(snapshot)
            if snapshot.error is not None:
                result.errors.append(str(snapshot.error))
        except VenueError as exc:
            result.errors.append(f"close order: {exc}")
            logger.warning("%s: closing %s failed: %s", connector.name, symbol, exc)
            await asyncio.sleep(0.2 * (attempt + 1))
    return result
