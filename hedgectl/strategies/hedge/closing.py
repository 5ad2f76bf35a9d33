"""The end of a cycle: flatten every leg with reduce-only orders, settle orders whose outcome is still unknown,
journal the outcome, count the PnL from the venues' own fills, and report the result."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import Fill
from hedgectl.decimals import ZERO
from hedgectl.errors import VenueError
from hedgectl.execution.flatten import FlattenResult, flatten_attempts, flatten_position
from hedgectl.model.pnl import Execution, LegPnl, leg_pnl, traded
from hedgectl.journal import OrderRecord
from hedgectl.registry import ROLES
from hedgectl.strategies.hedge.base import HedgeResult
from hedgectl.strategies.hedge.legs import LegOrders
from hedgectl.strategies.hedge.phases import Outcome, Phase
from hedgectl.strategies.hedge.recovery import reconcile_orders


def _of_cycle(fill: Fill, orders: list[OrderRecord]) -> bool:
    """Whether a fill read from the cycle's time window is the cycle's: one of its orders', or a liquidation or
    deleveraging of the leg. The window reaches back before the cycle's start (for clock skew), where the fills of
    the cycle before it lie when cycles follow each other closely."""
    if fill.kind != "trade":
        return True
    if fill.client_order_index is not None and any(
            o.intent.client_order_index == fill.client_order_index for o in orders):
        return True
    return fill.order_id is not None and any(o.venue_order_id == fill.order_id for o in orders)


class Closing(LegOrders):
    """Flattening, the emergency exit, and the result."""

    async def _emergency(self, reason: str) -> HedgeResult:
        self._emit("emergency", f"EMERGENCY EXIT: {reason}", reason=reason)
        if self.phase is not Phase.EMERGENCY_EXIT:
            self._enter(Phase.EMERGENCY_EXIT, reason=reason)
        return await self._close(reason, emergency=True)

    async def _finish_without_exposure(self, reason: str) -> HedgeResult:
        flat = await self._flatten_all()
        unknown = await self._settle_orders()
        open_ = [r.describe() for r in flat.values() if not r.flat] + unknown
        outcome = Outcome.ABORTED if not open_ else Outcome.FAILED
        if open_:
            self._enter(Phase.EMERGENCY_EXIT, reason=reason)
        self._enter(Phase.DONE)
        return await self._result(outcome, reason, flat, unknown)

    async def _close(self, reason: str, *, emergency: bool) -> HedgeResult:
        if self.spacing is not None and not emergency:
            # the legs hold each other at a planned end: the close may wait; an emergency exit never does
            await self.spacing(ROLES)
        flat = await self._flatten_all(from_push=emergency)
        unknown = await self._settle_orders()
        open_ = [r.describe() for r in flat.values() if not r.flat] + unknown
        if open_ and not emergency:
            self._enter(Phase.EMERGENCY_EXIT, reason="flatten incomplete")
            emergency = True
        self._enter(Phase.DONE)
        if open_:
            outcome = Outcome.FAILED
        else:
            outcome = Outcome.EMERGENCY_EXIT if emergency else Outcome.COMPLETED
        return await self._result(outcome, reason, flat, unknown)

    async def _flatten_all(self, *, from_push: bool = False) -> dict[str, FlattenResult]:
        """Flatten every leg; with ``from_push`` (an emergency) a leg whose stream is up sends its first reduce-only
        close sized from the pushed position, without waiting for a read."""

        async def one(role: str) -> tuple[str, FlattenResult]:
            leg = self.legs[role]
            result = await flatten_position(
                leg.connector,
                leg.symbol,
                max_slippage=leg.slippage,
                attempts=flatten_attempts(leg.retries),
                order_timeout=self.params.order_timeout_secs,
                on_intent=self._journal_hook(role, "flatten"),
                pushed_size=self._pushed_size(role) if from_push else None,
            )
            if result.after is None:
                self.status.legs[role].position_error = "unknown after the flatten"
            else:
                self.status.legs[role].set_position(result.after, source="venue")
            return role, result

        results = dict(await asyncio.gather(*(one(role) for role in self.legs)))
        for role, result in results.items():
            self._emit("flatten", f"{role}: {result.describe()}", role=role, flat=result.flat)
        return results

    async def _settle_orders(self) -> list[str]:
        """Ask the venues about every order of this cycle whose outcome is still unknown (an answer lost for good)
        and journal what they say; returns the orders that stay unknown, which leave the cycle unresolved."""
        cycle = self.journal.cycle(self.cycle_id)
        if cycle is None or all(order.is_final for order in cycle.orders):
            return []
        connected = {role: (leg.connector, leg.symbol) for role, leg in self.legs.items()}
        changed, problems = await reconcile_orders(self.journal, cycle, connected, clock=self.clock)
        for order in changed:
            self._emit(
                "reconcile",
                f"order {order['client_order_index']} on {order['connector']}: {order['was']} -> {order['now']}"
                f" (filled {order['filled']}, by the venue)",
                **order,
            )
        return [f"outcome unknown: {problem}" for problem in problems]

    async def _result(self, outcome: Outcome, reason: str, flat: dict[str, FlattenResult],
                      unknown: list[str]) -> HedgeResult:
        result = HedgeResult(
            outcome=outcome,
            reason=reason,
            cycle_id=self.cycle_id,
            plan=self.plan,
            positions={role: flat[role].after for role in ROLES},
            open_positions=[r.describe() for r in flat.values() if not r.flat] + unknown,
            duration_secs=self.clock.now() - self._started_at,
            naked_window_ms=self.naked_window_ms,
            flattened={role: r.before for role, r in flat.items() if r.before and r.flat},
        )
        self.status.outcome = outcome.value
        resolved = not result.open_positions
        # the outcome is journaled before the PnL is read: those reads take time, and a stop or an error during
        # them must not leave a cycle that ended flat unresolved
        self.journal.finish_cycle(self.cycle_id, outcome=outcome.value, result=result.as_dict(), resolved=resolved)
        result.pnl, result.open_legs, result.traded = await self._pnl()
        self.journal.finish_cycle(self.cycle_id, outcome=outcome.value, result=result.as_dict(), resolved=resolved)
        self._emit("result", f"{outcome.value}: {reason}", **result.as_dict())
        await self._notify("hedge_finished", result)
        await self._drain_notifications()
        return result

    async def _pnl(self) -> tuple[dict[str, Decimal], dict[str, LegPnl], dict[str, dict[str, Any]]]:
        """Realised PnL per leg and in total, fees included, from the venues' own fills of this cycle (the journal's
        when a venue cannot be read); each leg still open, valued at its mark rather than counted as PnL; and what
        each leg traded, from the same fills."""
        pnl: dict[str, Decimal] = {}
        open_legs: dict[str, LegPnl] = {}
        volumes: dict[str, dict[str, Any]] = {}
        cycle = self.journal.cycle(self.cycle_id)
        for role in ROLES:
            leg = self.legs[role]
            orders = cycle.orders_for(role) if cycle else []
            try:
                fills = await leg.connector.fills(leg.symbol, since=self._started_at - 1)
                executions = [Execution(f.size * f.side.sign, f.price, f.fee) for f in fills if _of_cycle(f, orders)]
                source = "venue"
            except VenueError:
                executions = [Execution(o.signed_filled, o.average_price or ZERO, o.fee or ZERO)
                              for o in orders if o.filled_size]
                source = "journal"
            volumes[role] = {"connector": leg.connector.name, "venue": leg.connector.venue,
                             **traded(executions).as_dict(), "source": source}
            opening = self._baseline.get(role, ZERO)
            result = leg_pnl(executions, opening_size=opening,
                             opening_price=self._baseline_price.get(role) or (self.plan.price if self.plan else None))
            if result.open_size != 0:
                result = replace(result, mark_price=await self._mark(role))
                open_legs[role] = result
            pnl[role] = result.realised
        pnl["total"] = sum(pnl.values(), ZERO)
        return pnl, open_legs, volumes

    async def _mark(self, role: str) -> Decimal | None:
        """The leg's mark price for valuing what is left open (the book's mid when the venue gives no mark)."""
        leg = self.legs[role]
        try:
            position = await leg.connector.position(leg.symbol)
            if position.mark_price:
                return position.mark_price
            book = await leg.connector.top_of_book(leg.symbol)
        except VenueError:
            return self.status.legs[role].mark_price
        return book.mark or book.mid
