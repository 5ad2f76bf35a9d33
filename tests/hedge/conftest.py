"""Running hedge cycles against paper venues from a test, with faults armed at chosen phases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.starter import paper_config
from hedgectl.journal import Journal, journal_path
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.connectors.stream import without_streams
from hedgectl.strategies.hedge.cycle import HedgeCycle, HedgeResult, legs_from_config, override

FAST = dict(
    size=Decimal("0.5"),
    wait_min_secs=0.2,
    wait_max_secs=0.4,
    monitor_timeout_secs=1.5,
    poll_interval_secs=0.25,
    order_timeout_secs=5.0,
    retry_delay_secs=0.05,
)


@dataclass
class HedgeRun:
    result: HedgeResult
    venues: Any
    journal: Journal
    events: list[tuple[str, dict]]

    def positions(self) -> dict[str, list]:
        """Every paper account's positions, from the venues' own state (not from hedgectl)."""
        out = {}
        for kind in ("backpack", "lighter"):
            for name, account in self.venues.state(kind)["accounts"].items():
                out[name] = [p for p in account["positions"] if Decimal(str(p.get("signed_size", p.get("size", 0)))) != 0]
        return out

    def all_flat(self) -> bool:
        return all(not positions for positions in self.positions().values())

    def orders(self, role: str, purpose: str | None = None):
        cycle = self.journal.cycle(self.result.cycle_id)
        return [o for o in cycle.orders_for(role) if purpose is None or o.purpose == purpose]


@pytest.fixture
def hedge_run(paper_venues_factory, tmp_path: Path):
    """Run one cycle: ``hedge_run(at_phase={"monitor": lambda venues: venues.arm(...)}, **param_overrides)``;
    ``at_phase_status={"wait": lambda status: ...}`` looks at the cycle's live status as each phase begins;
    ``at_event={"positions": lambda venues: ...}`` runs at every event of that name (in the cycle's own loop);
    ``clock=SimulatedClock()`` runs venues, connectors and cycle on simulated time (windows pass without waiting)."""
    journals: list[Journal] = []

    def run(
        *,
        at_phase: dict[str, Callable[[Any], Any]] | None = None,
        before: Callable[[Any], Any] | None = None,
        venues: Any = None,
        stop_at_phase: str | None = None,
        notifier: Any = None,
        at_phase_status: dict[str, Callable[[Any], Any]] | None = None,
        at_event: dict[str, Callable[[Any], Any]] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        streams: bool = True,
        **overrides: Any,
    ) -> HedgeRun:
        venues = venues or paper_venues_factory(clock=clock)
        config = paper_config(venues.accounts_document(), data_dir=tmp_path)
        if not streams:
            config = without_streams(config)
        params = override(config.hedge, **{**FAST, **overrides})
        journal = Journal(journal_path(tmp_path))
        journals.append(journal)
        events: list[tuple[str, dict]] = []
        if before is not None:
            before(venues)

        async def main() -> HedgeResult:
            stop = asyncio.Event()
            async with ConnectorSet(config, data_dir=tmp_path, clock=clock) as connectors:
                built = {name: await connectors.get(name) for name in set(params.roles.values())}
                legs = legs_from_config(built, params)

                def on_event(name: str, data: dict, text: str) -> None:
                    events.append((name, data))
                    event_hook = (at_event or {}).get(name)
                    if event_hook is not None:
                        event_hook(venues)
                    if name == "phase":
                        hook = (at_phase or {}).get(data["phase"])
                        if hook is not None:
                            hook(venues)
                        looker = (at_phase_status or {}).get(data["phase"])
                        if looker is not None:
                            looker(cycle.status)
                        if data["phase"] == stop_at_phase:
                            stop.set()

                cycle = HedgeCycle(
                    legs, params, journal=journal, data_dir=tmp_path, on_event=on_event, notifier=notifier, clock=clock
                )
                return await cycle.run(stop)

        result = asyncio.run(main())
        return HedgeRun(result, venues, journal, events)

    yield run
    for journal in journals:
        journal.close()
