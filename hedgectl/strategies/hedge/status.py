"""What a hedge cycle looks like from outside, while it runs: legs, net exposure, countdown, recent events.

The cycle updates one ``CycleStatus``; the live view, JSON events and heartbeats read it. A position a leg's account
stream pushes is shown at once (source "stream") until the next REST read replaces it; the cycle's decisions never
read the status, so a pushed position is display only.
"""

from __future__ import annotations

import asyncio
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
    position: Decimal | None = None  # last signed size known; None = unknown
    position_error: str | None = None  # why the last read failed (the position shown is then stale)
    position_source: str | None = None  # "venue" (read), "fills" (this cycle's confirmed fills) or "stream" (pushed)
    position_at: float | None = None  # when ``position`` was read or computed
    mark_price: Decimal | None = None
    liquidation_price: Decimal | None = None
    balance: Decimal | None = None

    def set_position(self, signed_size: Decimal, *, source: str, at: float | None = None) -> None:
        self.position = signed_size
        self.position_source = source
        self.position_at = time.time() if at is None else at
        self.position_error = None

    def position_age(self, now: float | None = None) -> float | None:
        if self.position_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.position_at)

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
            "position_source": self.position_source,
            "position_age_secs": None if self.position_at is None else round(self.position_age(), 1),
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
    #: set whenever a leg's account stream pushed a position into the status (heartbeats then go out sooner)
    pushed: asyncio.Event = field(default_factory=asyncio.Event)

    def show_pushed(self, role: str, signed_size: Decimal, *, at: float | None = None) -> bool:
        """Show the position a leg's stream pushed (display only); whether the shown position changed. A leg whose last
        read failed keeps showing that failure (and posts no heartbeat) until a read succeeds: only REST clears it."""
        leg = self.legs[role]
        if leg.position == signed_size or leg.position_error is not None:
            return False
        leg.set_position(signed_size, source="stream", at=at)
        self.pushed.set()
        return True

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


def status_from_journal(cycle, events: list[dict]) -> CycleStatus:
    """The live status of a cycle another process runs, as its journal tells it (a ``CycleRecord`` and its events):
    legs with their last order, positions by the journal's fills, the phase, the wait's countdown, recent events."""
    legs = {}
    for role, leg in cycle.params.get("legs", {}).items():
        status = LegStatus(role=role, connector=leg.get("connector", "?"), venue=leg.get("venue", "?"),
                           symbol=leg.get("symbol", "?"))
        orders = cycle.orders_for(role)
        if orders:
            last = orders[-1]
            status.side = last.intent.side.value
            status.target = last.intent.size
            status.filled = last.filled_size
            status.average_price = last.average_price
            status.state = last.state.value
        at = max((order.updated_at for order in orders), default=cycle.created_at)
        status.set_position(cycle.position_by_journal(role), source="journal", at=at)
        legs[role] = status
    plan = cycle.params.get("plan", {})
    view = CycleStatus(direction=cycle.direction, legs=legs, cycle_id=cycle.id, phase=cycle.phase,
                       size=Decimal(plan["size"]) if plan.get("size") else None, started_at=cycle.created_at,
                       outcome=cycle.outcome)
    lines = [(event["at"], _event_text(event)) for event in events]
    lines += [(order.created_at, f"{order.role} {order.purpose}: {order.intent.side.value} {plain(order.intent.size)}"
               f" -> {order.state.value} ({plain(order.filled_size)} filled)") for order in cycle.orders]
    for at, text in sorted(lines, key=lambda line: line[0]):
        view.events.append((at, text))
    waits = [event for event in events if event["kind"] == "phase:wait" and "seconds" in event]
    if cycle.phase == "wait" and waits:
        view.countdown_until = waits[-1]["at"] + float(waits[-1]["seconds"])
        view.countdown_label = "L2 enters in"
    return view


def _event_text(event: dict) -> str:
    kind = str(event.get("kind", "?"))
    detail = event.get("reason")
    if kind.startswith("phase:"):
        return f"phase: {kind[6:]}" + (f" ({detail})" if detail else "")
    return kind + (f": {detail}" if detail else "")
