"""What the parts of the hedge cycle share: the roles, a leg, the result, the notifier it reports to, and the
signal that sends it to the emergency exit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from hedgectl.config.model import HedgeConfig
from hedgectl.connectors.base import Connector
from hedgectl.decimals import plain
from hedgectl.errors import AuthError, InsufficientMargin, InvalidOrder
from hedgectl.model.pnl import LegPnl
from hedgectl.registry import ROLES, VENUES
from hedgectl.strategies.hedge.phases import Outcome
from hedgectl.strategies.hedge.plan import HedgePlan
from hedgectl.strategies.hedge.status import CycleStatus, LegStatus

#: Refusals that repeating the same order cannot fix.
FINAL_REFUSALS = (InsufficientMargin, InvalidOrder, AuthError)


class HedgeNotifier(Protocol):
    """Where the cycle reports start, finish, emergencies and liquidation warnings (Telegram in practice)."""

    async def hedge_started(self, status: CycleStatus) -> None: ...

    async def hedge_finished(self, result: HedgeResult) -> None: ...

    async def liquidation_warning(self, leg: LegStatus, distance: Decimal) -> None: ...


EventSink = Callable[[str, dict[str, Any], str], None]
#: Waits until the given roles' venues may take an order that can wait (spacing between the loops of one machine).
VenueSpacing = Callable[[tuple[str, ...]], Awaitable[None]]


@dataclass
class HedgeLeg:
    role: str
    connector: Connector
    symbol: str
    slippage: Decimal
    retries: int


@dataclass
class HedgeResult:
    outcome: Outcome
    reason: str
    cycle_id: str | None = None
    plan: HedgePlan | None = None
    positions: dict[str, Decimal | None] = field(default_factory=dict)
    pnl: dict[str, Decimal] = field(default_factory=dict)  # realised: what was closed, fees included
    open_legs: dict[str, LegPnl] = field(default_factory=dict)  # what is still open, valued at the mark
    #: per leg, what the PnL was counted from: connector, venue, volume, fees, fills, and whether the venue's own
    #: fills ("venue") or the journal's orders ("journal", when the venue could not be read) were the source
    traded: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_positions: list[str] = field(default_factory=list)
    duration_secs: float = 0.0
    naked_window_ms: float | None = None
    interrupted: bool = False  # the operator stopped it
    flattened: dict[str, Decimal] = field(default_factory=dict)  # signed size each leg held when it was closed

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "reason": self.reason,
            "cycle_id": self.cycle_id,
            "plan": None if self.plan is None else self.plan.as_dict(),
            "positions": {role: None if size is None else plain(size) for role, size in self.positions.items()},
            "pnl": {key: plain(value) for key, value in self.pnl.items()},
            "open": self.open_positions,
            "open_legs": {role: leg.open_dict() for role, leg in self.open_legs.items()},
            "traded": self.traded,
            "duration_secs": round(self.duration_secs, 3),
            "naked_window_ms": None if self.naked_window_ms is None else round(self.naked_window_ms, 3),
            "flattened": {role: plain(size) for role, size in self.flattened.items()},
        }


class EmergencyExit(Exception):
    """Internal: a safety trigger fired; every leg is flattened."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def legs_from_config(connectors: dict[str, Connector], params: HedgeConfig) -> dict[str, HedgeLeg]:
    """Bind the roles of ``params.roles`` to started connectors, with each venue's symbol, slippage and retries."""
    legs = {}
    for role in ROLES:
        name = params.roles[role]
        connector = connectors[name]
        venue = connector.venue
        legs[role] = HedgeLeg(
            role=role,
            connector=connector,
            symbol=params.symbols[venue],
            slippage=params.slippage.get(venue, VENUES[venue].default_slippage),
            retries=params.retries.get(venue, VENUES[venue].default_retries),
        )
    return legs


def override(params: HedgeConfig, **changes: Any) -> HedgeConfig:
    """The config's hedge parameters with the command line's non-None values on top."""
    return replace(params, **{k: v for k, v in changes.items() if v is not None})
