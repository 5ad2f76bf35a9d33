"""A connector's own view of its position per market, for proving that an order whose answer was lost never
executed: the position read while none of its orders there was in flight, moved by the fills of its orders since.

An order takes the market's mark before it is sent (its baseline: the position just before the send, or None when
unknown) and gives it back once final. While any order of ours is in flight in a market, a position reading there
may or may not include its fills, so it does not update the mark. When the venue's records of a lost order are
missing, the position still reading exactly the baseline is what vouches that the order never ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from hedgectl.decimals import plain
from hedgectl.errors import VenueError


@dataclass
class _Mark:
    """One market's last position reading and how many of our orders are under way in it."""

    size: Decimal | None = None
    busy: int = 0  # orders of ours in this market not yet final (in flight or resting)
    epoch: int = 0  # bumped whenever one of our orders is sent in this market


@dataclass(frozen=True)
class Baseline:
    """What an order took from its market's mark when it was sent."""

    symbol: str
    size: Decimal | None  # the position just before the send; None when the connector did not know it
    epoch: int


class PositionMarks:
    """Per market, the connector's view of its position (see the module's doc)."""

    def __init__(self) -> None:
        self._marks: dict[str, _Mark] = {}

    def before_read(self) -> dict[str, tuple[int, int]]:
        """Call just before a position read; pass the result to ``observe``."""
        return {symbol: (mark.epoch, mark.busy) for symbol, mark in self._marks.items()}

    def observe(self, before: dict[str, tuple[int, int]], sizes: dict[str, Decimal], symbols: Iterable[str]) -> None:
        """Record a position reading (``sizes`` by symbol; symbols missing from it are flat) for ``symbols`` and the
        ones read, in every market where no order of ours was sent or in flight during the read."""
        for symbol in set(symbols) | set(sizes):
            mark = self._marks.setdefault(symbol, _Mark())
            if mark.busy == 0 and before.get(symbol, (0, 0)) == (mark.epoch, 0):
                mark.size = sizes.get(symbol, Decimal(0))

    def take(self, symbol: str) -> Baseline:
        """Take the mark of ``symbol`` for an order about to be sent; the mark is unknown until it is released."""
        mark = self._marks.setdefault(symbol, _Mark())
        baseline = Baseline(symbol, mark.size if mark.busy == 0 else None, mark.epoch + 1)
        mark.busy += 1
        mark.epoch += 1
        mark.size = None
        return baseline

    def release(self, baseline: Baseline, *, final: bool, signed_fill: Decimal) -> None:
        """Give the mark back once the order is final (the position moved by ``signed_fill``) or abandoned."""
        mark = self._marks[baseline.symbol]
        mark.busy -= 1
        if final and baseline.size is not None and mark.busy == 0 and mark.epoch == baseline.epoch:
            mark.size = baseline.size + signed_fill


async def moved_since(connector, baseline: Baseline) -> str:
    """Why ``connector``'s position cannot vouch that an order sent from ``baseline`` never executed; empty when it
    can (the position still reads exactly as it did just before the send)."""
    if baseline.size is None:
        return "there is no position reading from before the send"
    try:
        position = await connector.position(baseline.symbol)
    except VenueError as exc:
        return f"the position cannot be read ({exc})"
    if position.signed_size != baseline.size:
        return f"the position moved from {plain(baseline.size)} to {plain(position.signed_size)} since the send"
    return ""


__all__ = ["Baseline", "PositionMarks", "moved_since"]
