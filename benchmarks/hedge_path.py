"""The hedge's critical path against paper venues that add a fixed latency to every request.

Naked window: from the moment the BP entry's fill is known to the moment the L1 hedge's fill is confirmed, over the
protocol minimum: with the account streams, one round trip L (the order reaches the venue after L/2, its fill is
pushed back in another L/2); without them, two (sending the order and one confirming read). Critical-path overhead:
from the BP fill known to the L1 order reaching the paper venue (signing, journaling and the HTTP write included;
timed at the venue, so loopback delivery and the venue's header parsing are in it too).
"""

from __future__ import annotations

import asyncio
import logging
import time
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from hedgectl.config.starter import paper_config
from hedgectl.connectors.stream import without_streams
from hedgectl.journal import Journal, journal_path
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.sim.runner import ThreadedPaperVenues
from hedgectl.strategies.hedge.cycle import HedgeCycle, legs_from_config, override
from hedgectl.strategies.hedge.phases import Outcome

SEND_PATH = "/api/v1/sendTx"


@dataclass
class HedgePathResult:
    injected_ms: float
    streams: bool = True
    naked_ms: list[float] = field(default_factory=list)
    critical_ms: list[float] = field(default_factory=list)

    @property
    def protocol_minimum_ms(self) -> float:
        return self.injected_ms if self.streams else 2 * self.injected_ms

    def naked_ratios(self) -> list[float]:
        return [value / self.protocol_minimum_ms for value in self.naked_ms]


def measure_hedge_path(cycles: int = 30, injected_ms: float = 50.0, *, streams: bool = True) -> HedgePathResult:
    """Run ``cycles`` complete hedge cycles (alternating direction) with ``injected_ms`` on every request (and half of
    it on every push), with or without the account streams."""
    logging.getLogger("hedgectl").setLevel(logging.WARNING)
    result = HedgePathResult(injected_ms=injected_ms, streams=streams)
    with ThreadedPaperVenues(kinds=("backpack", "lighter"), tick_seconds=0) as venues, \
            tempfile.TemporaryDirectory(prefix="hedgectl-bench-") as temp:
        data_dir = Path(temp)
        config = paper_config(venues.accounts_document(), data_dir=data_dir)
        if not streams:
            config = without_streams(config)
        arrivals = venues.call_sync(venues.venues.venue("lighter").record_arrivals)
        for kind in ("backpack", "lighter"):
            venues.arm(kind, "latency", ms=int(injected_ms))
        params = override(
            config.hedge, size=Decimal("0.2"), wait_min_secs=0.05, wait_max_secs=0.05, monitor_timeout_secs=0.2,
            poll_interval_secs=0.1, order_timeout_secs=5.0, retry_delay_secs=0.05,
        )

        async def run_all() -> None:
            journal = Journal(journal_path(data_dir))
            try:
                async with ConnectorSet(config, data_dir=data_dir) as connectors:
                    built = {name: await connectors.get(name) for name in set(params.roles.values())}
                    legs = legs_from_config(built, params)
                    for index in range(cycles):
                        cycle_params = override(params, direction="long" if index % 2 == 0 else "short")
                        cycle = HedgeCycle(legs, cycle_params, journal=journal, data_dir=data_dir)
                        outcome = await cycle.run()
                        if outcome.outcome is not Outcome.COMPLETED or outcome.naked_window_ms is None:
                            raise RuntimeError(f"cycle {index} ended {outcome.outcome.value}: {outcome.reason}")
                        result.naked_ms.append(outcome.naked_window_ms)
                        seen = venues.call_sync(lambda: list(arrivals))
                        sent = min(at for at, _, path in seen if path == SEND_PATH and at > cycle.bp_filled_at)
                        result.critical_ms.append((sent - cycle.bp_filled_at) * 1000)
            finally:
                journal.close()

        asyncio.run(run_all())
    return result


ORDER_PATHS = frozenset({SEND_PATH, "/api/v1/sendTxBatch", "/api/v1/order", "/api/v1/orders"})


def measure_liquidation_reaction(runs: int = 5, injected_ms: float = 50.0, *, streams: bool = True,
                                 poll_interval_secs: float = 5.0) -> list[float]:
    """Milliseconds from a paper liquidation of L2 (armed while the cycle monitors) to the first emergency order
    reaching a venue, over ``runs`` cycles."""
    logging.getLogger("hedgectl").setLevel(logging.WARNING)
    reactions: list[float] = []
    with ThreadedPaperVenues(kinds=("backpack", "lighter"), tick_seconds=0) as venues, \
            tempfile.TemporaryDirectory(prefix="hedgectl-bench-") as temp:
        data_dir = Path(temp)
        config = paper_config(venues.accounts_document(), data_dir=data_dir)
        if not streams:
            config = without_streams(config)
        arrivals = {kind: venues.call_sync(venues.venues.venue(kind).record_arrivals)
                    for kind in ("backpack", "lighter")}
        for kind in ("backpack", "lighter"):
            venues.arm(kind, "latency", ms=int(injected_ms))
        params = override(
            config.hedge, size=Decimal("0.2"), wait_min_secs=0.05, wait_max_secs=0.05, monitor_timeout_secs=60.0,
            poll_interval_secs=poll_interval_secs, order_timeout_secs=5.0, retry_delay_secs=0.05,
        )

        async def run_all() -> None:
            journal = Journal(journal_path(data_dir))
            try:
                async with ConnectorSet(config, data_dir=data_dir) as connectors:
                    built = {name: await connectors.get(name) for name in set(params.roles.values())}
                    legs = legs_from_config(built, params)
                    for index in range(runs):
                        liquidated_at: list[float] = []

                        def on_event(name: str, data: dict, text: str) -> None:
                            if name == "positions" and not liquidated_at:
                                venues.call_sync(liquidate)  # after the monitor's first reading

                        def liquidate() -> None:
                            liquidated_at.append(time.perf_counter())
                            venues.venues.venue("lighter").exchange.liquidate("lighter2")
                            venues.venues.venue("lighter").streams.publish()

                        cycle_params = override(params, direction="long" if index % 2 == 0 else "short")
                        cycle = HedgeCycle(legs, cycle_params, journal=journal, data_dir=data_dir, on_event=on_event)
                        outcome = await cycle.run()
                        if outcome.outcome is not Outcome.EMERGENCY_EXIT or not liquidated_at:
                            raise RuntimeError(f"cycle {index} ended {outcome.outcome.value}: {outcome.reason}")
                        seen = [at for kind in arrivals for at, method, path in venues.call_sync(
                            lambda kind=kind: list(arrivals[kind])) if path in ORDER_PATHS and at > liquidated_at[0]]
                        reactions.append((min(seen) - liquidated_at[0]) * 1000)
            finally:
                journal.close()

        asyncio.run(run_all())
    return reactions
