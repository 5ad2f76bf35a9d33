"""What a hedge cycle looks like from outside, while it runs: legs, net exposure, countdown, recent events.

The cycle updates one ``CycleStatus``; the live view, JSON events and heartbeats read it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from hedgectl.decimals import plain


@dataclass
class LegStatus:
    role: str
    connector: str
    venue: str
    symbol: str
    side: str | None = None
    target: Decimal | None = None
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    state: str = "idle"
    latency_ms: float | None = None
    position: Decimal | None = None  # last signed size read; None = unknown
    position_error: str | None = None
    mark_price: Decimal | None = None
    liquidation_price: Decimal | None = None
    balance: Decimal | None = None

    def liquidation_distance(self) -> Decimal | None:
        if not self.mark_price or not self.liquidation_price or not self.position:
            return None
        return abs(self.mark_price - self.liquidation_price) / self.mark_price

    def as_dict(self) -> dict:
        distance = self.liquidation_distance()
        return {
            "role": self.role,
            "connector": self.connector,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side,
            "target": None if self.target is None else plain(self.target),
            "filled": plain(self.filled),
            "average_price": None if self.average_price is None else plain(self.average_price),
            "state": self.state,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "position": None if self.position is None else plain(self.position),
            "position_error": self.position_error,
            "liquidation_distance": None if distance is None else plain(distance.quantize(Decimal("0.0001"))),
        }


@dataclass
class CycleStatus:
    direction: str
    legs: dict[str, LegStatus]
    cycle_id: str | None = None
    phase: str = "preflight"
    size: Decimal | None = None
    started_at: float = field(default_factory=time.time)
    countdown_until: float | None = None
    countdown_label: str | None = None
    outcome: str | None = None
    events: deque = field(default_factory=lambda: deque(maxlen=12))

    def net_exposure(self) -> Decimal | None:
        """Sum of the legs' signed positions; None while any leg is unknown."""
        positions = [leg.position for leg in self.legs.values()]
        if any(p is None for p in positions):
            return None
        return sum(positions, Decimal(0))

    def countdown_remaining(self) -> float | None:
        if self.countdown_until is None:
            return None
        return max(0.0, self.countdown_until - time.time())

    def log(self, text: str) -> None:
        self.events.append((time.time(), text))
