"""Entering and confirming a leg: every intent journaled before it is sent, each order waited on until the venue
says what it did, partial fills re-sent as their remainder; the BP entry, the L1 hedge prepared ahead of it, and the
L2 entry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from hedgectl.decimals import ZERO, plain, quantize_down, significant
from hedgectl.errors import BelowMinimumSize, VenueError
from hedgectl.model.orders import OrderIntent, OrderSnapshot, OrderState, Side, TransitionListener
from hedgectl.registry import ROLES
from hedgectl.strategies.hedge.base import FINAL_REFUSALS, EmergencyExit
from hedgectl.strategies.hedge.phases import Phase
from hedgectl.strategies.hedge.plan import HedgePlan
from hedgectl.strategies.hedge.state import CycleState

logger = logging.getLogger(__name__)

#: How long an order whose answer was lost may take to be resolved by the connector before the cycle stops waiting
#: and exits: no further order is sent on that leg while an earlier one could still execute.
RESOLVE_BUDGET_SECS = 60.0


class LegOrders(CycleState):
    """Sending a leg's orders and waiting for their outcome."""

    def _leg_listener(self, role: str) -> TransitionListener:
        leg_status = self.status.legs[role]

        def listener(snapshot: OrderSnapshot, transition) -> None:
            if role == "BP" and self.phase is Phase.BP_ENTRY and snapshot.is_final:
                self.bp_filled_at = time.perf_counter()  # the moment the fill is known: the L1 hedge races from here
            leg_status.state = snapshot.state.value
            leg_status.side = snapshot.intent.side.value
            leg_status.target = snapshot.intent.size
            leg_status.filled = snapshot.filled_size
            leg_status.average_price = snapshot.average_price
            if snapshot.submitted_at and snapshot.final_at:
                leg_status.latency_ms = (snapshot.final_at - snapshot.submitted_at) * 1000

        return listener

    def _journal_hook(self, role: str, purpose: str) -> Callable[[OrderIntent], list[TransitionListener]]:
        def hook(intent: OrderIntent) -> list[TransitionListener]:
            try:
                order_id = self.journal.record_intent(self.cycle_id, role=role, purpose=purpose, intent=intent)
            except Exception as exc:
                if purpose != "flatten":
                    raise  # nothing is sent that the journal does not know
                # closing a position matters more than journaling it: the venues will be flat either way
                logger.error("journal: flatten order on %s not recorded: %s", role, exc)
                return [self._leg_listener(role)]
            self._emit(
                "intent",
                f"{role} {purpose}: sending {intent.side.value} {plain(intent.size)}",
                role=role,
                purpose=purpose,
                side=intent.side.value,
                size=plain(intent.size),
                client_order_index=intent.client_order_index,
                reduce_only=intent.reduce_only,
            )
            return [self.journal.order_listener(order_id), self._leg_listener(role)]

        return hook

    async def _send(self, role: str, purpose: str, intent: OrderIntent) -> OrderSnapshot:
        """Journal the intent, send it, wait for its final state. Never raises for venue refusals."""
        leg = self.legs[role]
        listeners = self._journal_hook(role, purpose)(intent)
        try:
            handle = await leg.connector.submit_order(intent, max_slippage=leg.slippage, listeners=listeners)
        except VenueError as exc:
            self._emit("order", f"{role} {purpose} refused: {exc}", role=role, purpose=purpose, error=str(exc))
            return OrderSnapshot(intent=intent, state=OrderState.FAILED, error=exc, reason=str(exc))
        snapshot = await self._await_final(role, handle)
        self._emit(
            "order",
            f"{role} {purpose}: {intent.side.value} {plain(intent.size)} -> {snapshot.state.value}"
            + (f" ({plain(snapshot.filled_size)} filled)" if snapshot.state is not OrderState.FILLED else "")
            + (f" @ {plain(significant(snapshot.average_price))}" if snapshot.average_price else ""),
            role=role,
            purpose=purpose,
            client_order_index=intent.client_order_index,
            side=intent.side.value,
            size=plain(intent.size),
            state=snapshot.state.value,
            filled=plain(snapshot.filled_size),
            average_price=None if snapshot.average_price is None else plain(significant(snapshot.average_price)),
            reason=snapshot.reason,
        )
        return snapshot

    async def _await_final(self, role: str, handle) -> OrderSnapshot:
        """The order's final state: within the order timeout, or, while the connector is still resolving a lost
        answer, within the resolve budget. A snapshot that is still not final means nobody knows what it did."""
        try:
            snapshot = await handle.wait_final(self.params.order_timeout_secs)
            if not snapshot.is_final:
                self._emit(
                    "resolving",
                    f"{role}: order {snapshot.intent.client_order_index} is {snapshot.state.value}; waiting for the"
                    " venue to say what became of it",
                    role=role,
                    client_order_index=snapshot.intent.client_order_index,
                )
                snapshot = await handle.wait_final(RESOLVE_BUDGET_SECS)
        except VenueError as exc:
            snapshot = replace(handle.snapshot(), error=exc, reason=str(exc))
        return snapshot

    @staticmethod
    def _require_final(role: str, purpose: str, snapshot: OrderSnapshot) -> None:
        """Refuse to go on (and so to send anything more on the leg) while an order's outcome is unknown."""
        if not snapshot.is_final:
            raise EmergencyExit(
                f"{role} {purpose} order {snapshot.intent.client_order_index} outcome unknown"
                f" ({snapshot.reason or snapshot.state.value}); nothing more is sent on it"
            )

    async def _work(
        self,
        role: str,
        purpose: str,
        side: Side,
        size: Decimal,
        *,
        first_intent: OrderIntent | None = None,
        chase_remainder: bool = True,
    ) -> Decimal:
        """Fill ``size`` on ``role`` within the leg's retries: after a partial fill only the remainder is re-sent
        (or, without ``chase_remainder``, the partial fill is accepted). Returns the size filled in total.
        """
        leg = self.legs[role]
        rules = leg.connector.cached_market_rules(leg.symbol)
        assert rules is not None
        remaining = size
        filled_total = ZERO
        for attempt in range(leg.retries + 1):
            if remaining < rules.min_size or remaining <= 0:
                break
            if attempt == 0 and first_intent is not None:
                intent = first_intent
            else:
                try:
                    intent = await leg.connector.build_intent(leg.symbol, side, remaining)
                except BelowMinimumSize:
                    break
            snapshot = await self._send(role, purpose, intent)
            self._require_final(role, purpose, snapshot)
            filled_total += snapshot.filled_size
            self._add_fill(role, snapshot.filled_size * side.sign)
            remaining = quantize_down(size - filled_total, rules.step_size)
            if remaining <= 0 or (filled_total > 0 and not chase_remainder):
                break
            if isinstance(snapshot.error, FINAL_REFUSALS):
                break
            await self.clock.sleep(self.params.retry_delay_secs)
        return filled_total

    # --- phases ----------------------------------------------------------------------------------------------

    async def _bp_entry(self, plan: HedgePlan) -> Decimal:
        if self.spacing is not None:
            # nothing is open yet: the cycle's opening orders (BP's entry, then L1's hedge) may wait
            await self.spacing(ROLES)
        await self._prepare_l1_hedge(plan)
        # a partial entry is hedged as it is: chasing the rest would keep the filled part naked for longer
        filled = await self._work("BP", "entry", plan.bp_side, plan.size, chase_remainder=False)
        if not self.bp_filled_at:  # the fill came from the position, not from a final order report
            self.bp_filled_at = time.perf_counter()
        if filled:
            self._expected_nonzero.add("BP")
        self._emit("fill", f"BP filled {plain(filled)} of {plain(plan.size)}", role="BP", filled=plain(filled))
        return filled

    async def _prepare_l1_hedge(self, plan: HedgePlan) -> None:
        """Before the BP entry: the L1 hedge's client order index and, for a full BP fill, its intent signed ahead,
        so that between the BP fill and the L1 send there is nothing to build or sign."""
        leg = self.legs["L1"]
        self._l1_client_order_index = leg.connector.client_ids.next()
        try:
            self._l1_intent = await leg.connector.build_intent(
                leg.symbol, plan.bp_side.opposite, quantize_down(plan.size, plan.rules["L1"].step_size),
                client_order_index=self._l1_client_order_index,
            )
            await leg.connector.presign(self._l1_intent, max_slippage=leg.slippage)
        except VenueError as exc:  # only speed is lost: the hedge is built and signed after the fill instead
            logger.warning("L1 hedge not prepared ahead: %s", exc)

    async def _l1_hedge(self, plan: HedgePlan, bp_filled: Decimal) -> None:
        leg = self.legs["L1"]
        rules = plan.rules["L1"]
        target = quantize_down(bp_filled, rules.step_size)
        side = plan.bp_side.opposite
        if target < rules.min_size:
            raise EmergencyExit(f"BP filled {plain(bp_filled)}, below what L1 can hedge; unwinding BP")
        first = self._l1_intent
        if first is None or first.size != target:
            first = await leg.connector.build_intent(
                leg.symbol, side, target, client_order_index=self._l1_client_order_index
            )
        filled = await self._work("L1", "hedge", side, target, first_intent=first)
        self.naked_window_ms = (time.perf_counter() - self.bp_filled_at) * 1000
        if filled:
            self._expected_nonzero.add("L1")
        if target - filled >= rules.step_size:
            raise EmergencyExit(f"L1 hedged {plain(filled)} of {plain(target)}; unwinding")
        self._emit(
            "fill",
            f"L1 hedged {plain(filled)} (naked window {self.naked_window_ms:.1f} ms)",
            role="L1",
            filled=plain(filled),
            naked_window_ms=round(self.naked_window_ms, 3),
        )
    async def _l2_entry(self, plan: HedgePlan, bp_filled: Decimal) -> None:
        rules = plan.rules["L2"]
        size = plan.l2_size if plan.l2_size is not None else quantize_down(bp_filled, rules.step_size)
        if self.spacing is not None:
            # BP and L1 hold each other: L2's entry may wait for another loop's order on its venue
            await self.spacing(("L2",))
        filled = await self._work("L2", "entry", plan.l2_side, size)
        if filled == 0:
            raise EmergencyExit("L2 entry filled nothing")
        self._expected_nonzero.add("L2")
        self._emit("fill", f"L2 filled {plain(filled)} of {plain(size)}", role="L2", filled=plain(filled))
