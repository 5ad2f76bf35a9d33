"""Closing a position for sure: reduce-only market orders whose side and size come from the signed position read
just before each order, repeated until the venue reports the market flat (or the attempts run out).

Used by ``hedgectl flatten``, by the hedge's finish and emergency exit, and by ``hedge recover``; the min-order probe
and the smoke test use the same loop to bring a position back to where it stood before they traded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from hedgectl.connectors.base import Connector, Position
from hedgectl.decimals import ZERO, plain
from hedgectl.errors import RateLimited, VenueError, VenueUnavailable
from hedgectl.model.orders import OrderIntent, OrderSnapshot, Side, TransitionListener

logger = logging.getLogger(__name__)

#: Called with each intent before it is sent; returns the listeners to attach (e.g. the journal's).
IntentHook = Callable[[OrderIntent], list[TransitionListener]]


@dataclass
class FlattenResult:
    connector: str
    symbol: str
    before: Decimal | None = None  # signed size read (or pushed) before the first order (None: could not be read)
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


#: How long a venue that cannot be reached (down, rate limiting, timing out) is waited for before a flatten gives the
#: position up as open or unknown: an outage of a few seconds must not leave a leg naked.
DEFAULT_PATIENCE_SECS = 30.0
MAX_RETRY_DELAY_SECS = 1.0


def flatten_attempts(retries: int) -> int:
    """How many close orders a hedge leg may take before its flatten gives it up as open: closing is the last line
    of defence, so refusals, lost answers and partial fills get twice an ordinary order's budget, and at least six."""
    return max(6, 2 * (retries + 1))


async def read_position(
    connector: Connector, symbol: str, *, attempts: int = 4, delay: float = 0.25, patience_secs: float = 0.0
) -> Position:
    """Read the signed position, retrying failures at least ``attempts`` times and for at least ``patience_secs``;
    raise the last VenueError if it stays unknown."""
    deadline = time.monotonic() + patience_secs
    attempt = 0
    while True:
        try:
            return await connector.position(symbol)
        except VenueError as exc:
            attempt += 1
            if attempt >= attempts and time.monotonic() >= deadline:
                raise
            logger.warning("%s: position read failed (%s); attempt %d", connector.name, exc, attempt)
            await asyncio.sleep(min(delay * 2 ** (attempt - 1), MAX_RETRY_DELAY_SECS))


async def flatten_position(
    connector: Connector,
    symbol: str,
    *,
    max_slippage: Decimal | None = None,
    attempts: int = 3,
    order_timeout: float = 15.0,
    on_intent: IntentHook | None = None,
    target: Decimal = ZERO,
    patience_secs: float = DEFAULT_PATIENCE_SECS,
    pushed_size: Decimal | None = None,
) -> FlattenResult:
    """Close ``symbol`` on ``connector`` and verify it is flat; never raises for venue errors (see ``errors``).

    With a non-zero ``target`` the position is brought to that signed size instead; the orders are reduce-only
    unless reaching the target means crossing zero. ``attempts`` bounds the orders the venue works; while the venue
    cannot be reached at all, reads and sends are retried for ``patience_secs`` without using attempts up.

    ``pushed_size`` is the position the venue's account stream last pushed: when closing (target zero) and it is not
    flat, the first order is a reduce-only close sized from it, sent at once instead of after a read (in an
    emergency, the read's round trip is time a leg stays naked). Reduce-only, it can never open or grow a position;
    every later order and the final word come from reads, and a pushed flat position is never taken as flat.
    """
    result = FlattenResult(connector=connector.name, symbol=symbol, target=target)
    deadline = time.monotonic() + patience_secs
    worked = unreachable = 0
    pushed = await _usable_push(connector, symbol, pushed_size) if target == 0 else None
    while True:
        if pushed is None:
            try:
                position = await read_position(connector, symbol,
                                               patience_secs=max(0.0, deadline - time.monotonic()))
            except VenueError as exc:
                result.errors.append(f"position read: {exc}")
                result.after = None
                return result
            if result.before is None:
                result.before = position.signed_size
            result.after = position.signed_size
            if position.signed_size == target or worked == attempts:
                return result
        try:
            if pushed is not None:
                size, pushed = pushed, None
                result.before = size
                intent = await connector.build_intent(symbol, Side.closing(size), abs(size), reduce_only=True)
            else:
                intent = await _next_intent(connector, symbol, position.signed_size, target)
            listeners = on_intent(intent) if on_intent else []
            handle = await connector.submit_order(intent, max_slippage=max_slippage, listeners=listeners)
            worked += 1
            snapshot = await handle.wait_final(order_timeout)
            result.orders.append(snapshot)
            if snapshot.error is not None:
                result.errors.append(str(snapshot.error))
        except (VenueUnavailable, RateLimited) as exc:
            # nothing reached the venue (or nothing more can be learnt now): wait for it while patience lasts
            logger.warning("%s: closing %s: venue unreachable (%s)", connector.name, symbol, exc)
            if time.monotonic() >= deadline:
                result.errors.append(f"close order: {exc}")
                return result
            unreachable += 1
            await asyncio.sleep(min(0.1 * 2**unreachable, MAX_RETRY_DELAY_SECS))
        except VenueError as exc:
            worked += 1
            result.errors.append(f"close order: {exc}")
            logger.warning("%s: closing %s failed: %s", connector.name, symbol, exc)
            await asyncio.sleep(0.2 * worked)


async def _usable_push(connector: Connector, symbol: str, pushed_size: Decimal | None) -> Decimal | None:
    """The pushed size a first reduce-only close may be sized from: not flat, and at least the market's minimum
    (a smaller remainder needs the non-reduce-only order of ``_next_intent``, which only a read may size)."""
    if pushed_size is None or pushed_size == 0:
        return None
    try:
        rules = await connector.market_rules(symbol)
    except VenueError:
        return None
    return pushed_size if abs(pushed_size) >= rules.min_size else None


async def _next_intent(connector: Connector, symbol: str, signed_size: Decimal, target: Decimal) -> OrderIntent:
    """The order that moves the position toward ``target``: reduce-only unless it must cross zero. A remainder below
    the market's minimum is first grown by the minimum (venues refuse smaller orders, reduce-only ones too), so
    that the next order can close it."""
    excess = signed_size - target
    rules = await connector.market_rules(symbol)
    if abs(excess) < rules.min_size:
        return await connector.build_intent(symbol, Side.of_signed(excess), rules.min_size)
    reduce_only = abs(target) < abs(signed_size) and target * signed_size >= 0
    return await connector.build_intent(symbol, Side.closing(excess), abs(excess), reduce_only=reduce_only)
