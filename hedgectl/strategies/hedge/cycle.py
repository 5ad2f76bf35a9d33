"""The tri-venue hedge cycle: the phase sequence from the preflight to the result.

BP enters in the chosen direction; L1 hedges exactly what BP filled; after a random wait L2 enters; BP is rebalanced
to -(L1 + L2) as read from the venues; the legs are monitored; at the end, or on any safety trigger, every leg is
flattened with reduce-only orders sized from the position read just before, and flatness is verified.

Rules it keeps: an order is filled only when the venue says so; a read error is "unknown", never zero; a leg is
liquidated only when the venue's trades say so; after a partial fill only the remainder is re-sent; every intent
is journaled before it is sent; nothing is fetched between the BP fill and the L1 send.

The parts live beside it: ``preflight`` (the plan), ``legs`` (entering and confirming a leg), ``exposure`` (rebalance
and monitor), ``closing`` (flatten, emergency exit, result), over ``state`` (what a cycle carries) and ``base``.
"""

from __future__ import annotations

import asyncio
import logging
import os

from hedgectl import locks
from hedgectl.decimals import plain
from hedgectl.errors import UnresolvedCycle, VenueError
from hedgectl.strategies.hedge.base import EmergencyExit, HedgeLeg, HedgeResult, legs_from_config, override
from hedgectl.strategies.hedge.closing import Closing
from hedgectl.strategies.hedge.exposure import ExposureWatch
from hedgectl.strategies.hedge.phases import Outcome, Phase
from hedgectl.strategies.hedge.plan import HedgePlan
from hedgectl.strategies.hedge.preflight import Preflight

logger = logging.getLogger(__name__)


class HedgeCycle(Preflight, ExposureWatch, Closing):
    """One hedge cycle over three legs. ``await run(stop)`` returns a HedgeResult; it raises only for refusals
    before trading (PreflightFailed, LockHeld, UnresolvedCycle, VenueError in preflight) and for bugs."""

    name = "hedge"

    # --- the cycle -------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> HedgeResult:
        self._stop = stop or asyncio.Event()
        held = locks.acquire_all(self.data_dir, self._account_keys(), purpose="hedge run")
        try:
            self._refuse_unresolved()
            self.plan = await self._preflight_unless_stopped()
            if self.plan is None:
                self._enter(Phase.DONE)
                return HedgeResult(Outcome.ABORTED, "interrupted before trading", interrupted=True)
            if self.dry_run:
                self._enter(Phase.DONE)
                return HedgeResult(Outcome.ABORTED, "dry run: nothing traded", plan=self.plan)
            if self._stop.is_set():
                self._enter(Phase.DONE)
                return HedgeResult(Outcome.ABORTED, "interrupted before trading", plan=self.plan, interrupted=True)
            stop_showing = self._show_pushed_positions()
            try:
                return await self._trade()
            finally:
                stop_showing()
        finally:
            for lock in held:
                lock.release()

    def _refuse_unresolved(self) -> None:
        mine = set(self._account_keys())
        for cycle in self.journal.unresolved_cycles():
            if mine & set(cycle.accounts.values()):
                raise UnresolvedCycle(
                    f"cycle {cycle.id} (phase {cycle.phase}) on these accounts was never resolved; "
                    "run 'hedgectl hedge recover' first"
                )

    async def _trade(self) -> HedgeResult:
        plan = self.plan
        assert plan is not None
        self.cycle_id = self.journal.start_cycle(
            direction=plan.direction,
            accounts={role: leg.connector.account_id() for role, leg in self.legs.items()},
            params={
                "plan": plan.as_dict(),
                "legs": {
                    role: {"connector": leg.connector.name, "venue": leg.connector.venue, "symbol": leg.symbol,
                           "tick_size": plain(plan.rules[role].tick_size)}
                    for role, leg in self.legs.items()
                },
                "baseline": {role: plain(size) for role, size in self._baseline.items()},
            },
            pid=os.getpid(),
        )
        self.status.cycle_id = self.cycle_id
        self.status.size = plan.size
        self._started_at = self.clock.now()
        self._liquidations_seen = self._liquidation_counts()
        self.status.started_at = self._started_at
        self._emit("cycle", f"cycle {self.cycle_id}: {plan.direction} {plain(plan.size)}", cycle_id=self.cycle_id)
        await self._notify("hedge_started", self.status)
        reason = "monitor time limit reached"
        emergency = False
        try:
            self._enter(Phase.BP_ENTRY)
            bp_filled = await self._bp_entry(plan)
            if bp_filled == 0:
                return await self._finish_without_exposure("BP entry filled nothing")
            self._enter(Phase.L1_HEDGE, bp_filled=plain(bp_filled))
            await self._l1_hedge(plan, bp_filled)
            self._enter(Phase.WAIT, seconds=round(plan.wait_secs, 3))
            await self._wait(plan.wait_secs)
            self._enter(Phase.L2_ENTRY)
            await self._l2_entry(plan, bp_filled)
            self._enter(Phase.REBALANCE)
            await self._rebalance(plan, from_fills=True)
            self._enter(Phase.MONITOR)
            await self._monitor(plan)
            self._enter(Phase.FLATTEN, reason=reason)
        except EmergencyExit as exit_:
            emergency, reason = True, exit_.reason
        except VenueError as exc:
            emergency, reason = True, f"venue error: {exc}"
        except asyncio.CancelledError:
            # a second interrupt: abort now; the journal keeps the cycle unresolved for 'hedge recover'
            self.journal.record_event(self.cycle_id, "aborted", reason="cancelled by a second interrupt")
            raise
        except Exception as exc:  # a bug must not leave positions open: flatten, then let the error surface
            logger.exception("hedge cycle failed unexpectedly; flattening every leg")
            await self._emergency(f"internal error: {type(exc).__name__}: {exc}")
            raise
        if emergency:
            return await self._emergency(reason)
        return await self._close(reason, emergency=False)

    async def _wait(self, seconds: float) -> None:
        deadline = self.clock.now() + seconds
        self.status.countdown_until = deadline
        self.status.countdown_label = "L2 enters in"
        try:
            while True:
                remaining = deadline - self.clock.now()
                if remaining <= 0:
                    return
                self._emit("countdown", f"L2 enters in {remaining:.0f}s", seconds_left=round(remaining, 1))
                if await self._stopped_within(min(1.0, remaining)):
                    raise EmergencyExit("interrupted by the operator during the wait")
        finally:
            self.status.countdown_until = None


__all__ = [
    "EmergencyExit",
    "HedgeCycle",
    "HedgeLeg",
    "HedgePlan",
    "HedgeResult",
    "legs_from_config",
    "override",
]
