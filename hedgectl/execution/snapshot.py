"""Every connector's positions and collateral read at once, each venue on its own, with the hedge group's net.

Used by ``hedgectl positions`` (one shot and ``--watch``), ``flatten`` and the recipes. A venue that fails keeps its
error in its reading; it is never shown as flat, and the net of a group with an unknown leg is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.config.model import Config
from hedgectl.connectors.base import Balance, Position
from hedgectl.decimals import ZERO, plain
from hedgectl.errors import VenueError
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.registry import ROLES

logger = logging.getLogger(__name__)

#: Called with each reading as soon as it arrives (before the slower venues answer).
ReadingListener = Callable[["Reading"], None]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


@dataclass(frozen=True)
class Reading:
    """What one connector answered: its positions (the default symbol always listed, flat or not) and collateral.

    ``positions`` is None when the positions could not be read (unknown, not flat); ``error`` says what failed.
    """

    connector: str
    venue: str
    role: str | None
    symbol: str
    positions: tuple[Position, ...] | None
    balance: Balance | None
    error: str | None
    latency_ms: float
    at: float

    @property
    def ok(self) -> bool:
        return self.error is None

    def signed_size(self, symbol: str | None = None) -> Decimal | None:
        """The signed size held in ``symbol`` (default: the connector's default symbol); None when unknown."""
        if self.positions is None:
            return None
        wanted = symbol or self.symbol
        return next((p.signed_size for p in self.positions if p.symbol == wanted), ZERO)

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions or () if p.signed_size != 0]

    def rows(self) -> list[dict[str, Any]]:
        """The JSON rows of this reading: one per position (none when the positions are unknown)."""
        balance = self.balance
        return [
            {
                "connector": self.connector,
                "venue": self.venue,
                "role": self.role,
                "symbol": p.symbol,
                "signed_size": plain(p.signed_size),
                "entry_price": _text(p.entry_price),
                "mark_price": _text(p.mark_price),
                "unrealized_pnl": _text(p.unrealized_pnl),
                "liquidation_price": _text(p.liquidation_price),
                "equity": _text(balance.equity) if balance else None,
                "available": _text(balance.available) if balance else None,
                "collateral": _text(balance.collateral) if balance else None,
                "latency_ms": round(self.latency_ms, 1),
                "at": round(p.at, 3),
            }
            for p in self.positions or ()
        ]


@dataclass(frozen=True)
class HedgeNet:
    """The sum of the hedge legs' signed positions (BP + L1 + L2) in their default symbols."""

    group: str
    legs: tuple[tuple[str, str, str, Decimal | None], ...]  # (role, connector, symbol, signed size or None)
    tolerance: Decimal = ZERO

    @property
    def signed_size(self) -> Decimal | None:
        sizes = [size for _, _, _, size in self.legs]
        if any(size is None for size in sizes):
            return None
        return sum(sizes, ZERO)

    @property
    def flat(self) -> bool:
        net = self.signed_size
        return net is not None and abs(net) <= self.tolerance

    @property
    def status(self) -> str:
        if self.signed_size is None:
            return "unknown"
        return "flat" if self.flat else "not flat"

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "legs": [
                {"role": role, "connector": connector, "symbol": symbol, "signed_size": _text(size)}
                for role, connector, symbol, size in self.legs
            ],
            "signed_size": _text(self.signed_size),
            "tolerance": plain(self.tolerance),
            "flat": self.flat,
            "status": self.status,
        }


def hedge_net(config: Config, readings: dict[str, Reading]) -> HedgeNet | None:
    """The hedge group's net from the readings by connector name; None unless every role's connector was read, and
    None for a config with ``[groups]`` read without choosing one (its ``[hedge]`` table is no group of its own)."""
    if config.groups and config.group is None:
        return None
    legs = []
    for role in ROLES:
        name = config.hedge.roles.get(role)
        reading = readings.get(name) if name else None
        if reading is None:
            return None
        legs.append((role, name, reading.symbol, reading.signed_size()))
    return HedgeNet(
        group=config.telemetry.group or "hedge",
        legs=tuple(legs),
        tolerance=config.hedge.net_tolerance or ZERO,
    )


@dataclass(frozen=True)
class PositionsSnapshot:
    """The readings of the requested connectors, in the order asked, and the hedge group's net."""

    readings: tuple[Reading, ...]
    net: HedgeNet | None

    @property
    def ok(self) -> bool:
        return all(reading.ok for reading in self.readings)

    def failed(self) -> list[Reading]:
        return [reading for reading in self.readings if not reading.ok]

    def as_dict(self) -> dict[str, Any]:
        """``{"positions": [...], "errors": [{"connector", "venue", "error"}], "net": {...} or None}``."""
        return {
            "positions": [row for reading in self.readings for row in reading.rows()],
            "errors": [
                {"connector": r.connector, "venue": r.venue, "error": r.error} for r in self.readings if not r.ok
            ],
            "net": self.net.as_dict() if self.net else None,
        }


async def read_connector(connectors: ConnectorSet, name: str, *, timeout: float | None = None) -> Reading:
    """Read one connector's positions and balance concurrently; every failure ends up in the reading's error."""
    config = connectors.config
    connector_config = config.connector(name)
    symbol = config.symbol_for(name)
    started = time.monotonic()
    positions: tuple[Position, ...] | None = None
    balance: Balance | None = None
    errors: list[str] = []
    try:
        connector = await connectors.get(name)
        async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel on Python 3.11
            position_result, balance_result = await asyncio.gather(
                connector.positions(), connector.balance(), return_exceptions=True
            )
    except TimeoutError:
        errors.append(f"no answer within {timeout:g}s")
    except VenueError as exc:
        errors.append(str(exc))
    else:
        if isinstance(position_result, BaseException):
            errors.append(f"positions: {_describe(name, position_result)}")
        else:
            positions = _with_default_symbol(position_result, name, connector_config.venue, symbol)
        if isinstance(balance_result, BaseException):
            errors.append(f"balance: {_describe(name, balance_result)}")
        else:
            balance = balance_result
    return Reading(
        connector=name,
        venue=connector_config.venue,
        role=config.role_of(name),
        symbol=symbol,
        positions=positions,
        balance=balance,
        error="; ".join(errors) or None,
        latency_ms=(time.monotonic() - started) * 1000,
        at=time.time(),
    )


def _describe(name: str, error: BaseException) -> str:
    if isinstance(error, VenueError):
        return str(error)
    if isinstance(error, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
        raise error
    # a connector bug must not hide the other venues' rows; it is logged in full and shown in one line
    logger.error("%s: read failed unexpectedly", name, exc_info=error)
    return f"internal error: {type(error).__name__}: {error}"


def _with_default_symbol(positions: list[Position], name: str, venue: str, symbol: str) -> tuple[Position, ...]:
    # the venue answered, so a default symbol it does not list is known to be flat: show it as an explicit zero
    listed = tuple(p for p in positions if p.signed_size != 0 or p.symbol == symbol)
    if any(p.symbol == symbol for p in listed):
        return listed
    return (Position(connector=name, venue=venue, symbol=symbol, signed_size=ZERO), *listed)


async def read_positions(
    connectors: ConnectorSet,
    names: Sequence[str],
    *,
    timeout: float | None = None,
    on_reading: ReadingListener | None = None,
) -> PositionsSnapshot:
    """Read ``names`` concurrently (the whole read takes as long as the slowest venue, not the sum)."""

    async def one(name: str) -> Reading:
        reading = await read_connector(connectors, name, timeout=timeout)
        if on_reading is not None:
            on_reading(reading)
        return reading

    readings = await asyncio.gather(*(one(name) for name in names))
    by_name = {reading.connector: reading for reading in readings}
    return PositionsSnapshot(readings=tuple(readings), net=hedge_net(connectors.config, by_name))


async def watch_positions(
    connectors: ConnectorSet,
    names: Sequence[str],
    on_reading: ReadingListener,
    *,
    interval: float,
    timeout: float | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Read each connector again every ``interval`` seconds, each on its own schedule, until ``stop`` is set (or
    the watch is cancelled). A connector with an account stream opens it, and a change the stream pushes brings its
    next read forward (at most one every ``PUSHED_READ_GAP_SECS``): the rows show a fill or a liquidation one push
    and one read after it, and what they show is still read by REST, the fallback whenever the stream is down.

    A slow or failing venue delays only its own row. A stop cancels reads in flight: their rows keep the last
    reading.
    """

    async def loop(name: str) -> None:
        stream = None
        while True:
            if stream is not None:
                stream.changed.clear()  # what changes from here on is in this read or wakes the next
            on_reading(await read_connector(connectors, name, timeout=timeout))
            if stream is None:
                stream = await _account_stream(connectors, name)
            await _until_next_read(stream, interval)

    watchers = asyncio.gather(*(loop(name) for name in names))
    if stop is None:
        await watchers
        return
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({watchers, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watchers, stopped):
            task.cancel()
        await asyncio.gather(watchers, stopped, return_exceptions=True)
    if watchers in done:  # a watcher failed on its own (not stopped): its error is not hidden
        watchers.result()


#: The shortest time between two reads of one connector that its stream's pushes brought forward.
PUSHED_READ_GAP_SECS = 0.25


async def _account_stream(connectors: ConnectorSet, name: str) -> Any:
    """The connector's account stream, opened now (None: the venue has none, or ``streams = false``)."""
    try:
        connector = await connectors.get(name)
    except VenueError:
        return None
    opener = getattr(connector, "open_stream", None)
    if opener is None:
        return None
    opener()
    return getattr(connector, "stream", None)


async def _until_next_read(stream: Any, interval: float) -> None:
    if stream is None:
        await asyncio.sleep(interval)
        return
    try:
        async with asyncio.timeout(interval):
            await stream.changed.wait()
    except TimeoutError:
        return
    await asyncio.sleep(PUSHED_READ_GAP_SECS)  # a burst of frames (order, trade, position) makes one read


class PositionsWatch:
    """``watch_positions`` as a strategy for ``hedgectl.runtime.run_strategy``: it ends cleanly on the first SIGINT
    or SIGTERM, and keeps the latest reading of each connector."""

    name = "positions watch"

    def __init__(self, connectors: ConnectorSet, names: Sequence[str], on_reading: ReadingListener, *,
                 interval: float, timeout: float | None = None):
        self.connectors = connectors
        self.names = list(names)
        self.interval = interval
        self.timeout = timeout
        self.latest: dict[str, Reading] = {}
        self._listener = on_reading

    def _on_reading(self, reading: Reading) -> None:
        self.latest[reading.connector] = reading
        self._listener(reading)

    async def run(self, stop: asyncio.Event) -> dict[str, Reading]:
        await watch_positions(self.connectors, self.names, self._on_reading, interval=self.interval,
                              timeout=self.timeout, stop=stop)
        return self.latest

    def failing(self) -> dict[str, str]:
        """The connectors whose latest reading failed, with the error (the watch's exit status)."""
        return {name: reading.error for name, reading in self.latest.items() if reading.error is not None}
