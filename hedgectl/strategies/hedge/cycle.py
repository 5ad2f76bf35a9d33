"""The tri-venue hedge cycle (the old LiquidationHedgeStrategy, with its known faults fixed).

BP enters in the chosen direction; L1 hedges exactly what BP filled; after a random wait L2 enters; BP is rebalanced
to -(L1 + L2) as read from the venues; the legs are monitored; at the end, or on any safety trigger, every leg is
flattened with reduce-only orders sized from the position read just before, and flatness is verified.

Rules it keeps: an order is filled only when the venue says so; a read error is "unknown", never zero; a leg is
liquidated only when the venue's trades say so; after a partial fill only the remainder is re-sent; every intent
is journaled before it is sent; nothing is fetched between the BP fill and the L1 send.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from hedgectl import locks
from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.model import HedgeConfig
from hedgectl.connectors.base import Connector, Fill, Position
from hedgectl.decimals import ZERO, plain, quantize_down, significant
from hedgectl.errors import (
    AuthError,
    BelowMinimumSize,
    InsufficientMargin,
    InvalidOrder,
    PreflightFailed,
    UnresolvedCycle,
    VenueError,
)
from hedgectl.execution.flatten import FlattenResult, flatten_attempts, flatten_position
from hedgectl.execution.orders import OrderIntent, OrderSnapshot, OrderState, Side, TransitionListener
from hedgectl.execution.pnl import Execution, LegPnl, leg_pnl, traded
from hedgectl.journal import Journal, OrderRecord
from hedgectl.strategies.hedge.phases import Outcome, Phase, check_move
from hedgectl.strategies.hedge.plan import HedgePlan, LegPlan, check_leverage, check_min_notional, worst_price
from hedgectl.strategies.hedge.recovery import reconcile_orders
from hedgectl.strategies.hedge.sizing import common_size, common_step, size_from_collateral
from hedgectl.strategies.hedge.status import CycleStatus, LegStatus

logger = logging.getLogger(__name__)

ROLE_ORDER = ("BP", "L1", "L2")
#: Refusals that repeating the same order cannot fix.
FINAL_REFUSALS = (InsufficientMargin, InvalidOrder, AuthError)
#: How long an order whose answer was lost may take to be resolved by the connector before the cycle stops waiting
#: and exits: no further order is sent on that leg while an earlier one could still execute.
RESOLVE_BUDGET_SECS = 60.0
#: How long the end of a cycle waits for its notifications to be delivered.
NOTIFY_DRAIN_SECS = 20.0


class HedgeNotifier(Protocol):
    """Where the cycle reports start, finish, emergencies and liquidation warnings (Telegram in practice)."""

    async def hedge_started(self, status: CycleStatus) -> None: ...

    async def hedge_finished(self, result: HedgeResult) -> None: ...

    async def liquidation_warning(self, leg: LegStatus, distance: Decimal) -> None: ...


EventSink = Callable[[str, dict[str, Any], str], None]


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


class EmergencyExit(Exception):
    """Internal: a safety trigger fired; every leg is flattened."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class HedgeCycle:
    """One hedge cycle over three legs. ``await run(stop)`` returns a HedgeResult; it raises only for refusals
    before trading (PreflightFailed, LockHeld, UnresolvedCycle, VenueError in preflight) and for bugs."""

    name = "hedge"

    def __init__(
        self,
        legs: dict[str, HedgeLeg],
        params: HedgeConfig,
        *,
        journal: Journal,
        data_dir: Path,
        notifier: HedgeNotifier | None = None,
        on_event: EventSink | None = None,
        on_readings: Callable[[CycleStatus], Any] | None = None,
        rng: random.Random | None = None,
        dry_run: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ):
        missing = [role for role in ROLE_ORDER if role not in legs]
        if missing:
            raise PreflightFailed(f"hedge roles without a connector: {', '.join(missing)}")
        self.legs = legs
        self.params = params
        self.journal = journal
        self.data_dir = data_dir
        self.notifier = notifier
        self.on_event = on_event
        self.on_readings = on_readings
        self.rng = rng or random.Random()
        self.dry_run = dry_run
        self.clock = clock
        self.status = CycleStatus(
            direction=params.direction,
            legs={
                role: LegStatus(role=role, connector=leg.connector.name, venue=leg.connector.venue, symbol=leg.symbol)
                for role, leg in legs.items()
            },
        )
        self.phase = Phase.PREFLIGHT
        self.cycle_id: str | None = None
        self.plan: HedgePlan | None = None
        self._baseline: dict[str, Decimal] = {}
        self._baseline_price: dict[str, Decimal | None] = {}
        #: each leg's position as this cycle's own confirmed fills say (baseline plus fills); reads verify it
        self._expected: dict[str, Decimal] = {}
        self._expected_nonzero: set[str] = set()
        self._warned_liquidation: set[str] = set()
        self._started_at = self.clock.now()
        self._stop = asyncio.Event()
        self._l1_client_order_index: int | None = None
        self._l1_intent: OrderIntent | None = None
        #: when the BP entry's fill became known (time.perf_counter()): where the naked window starts
        self.bp_filled_at = 0.0
        self.naked_window_ms: float | None = None
        self._notifications: set[asyncio.Task] = set()

    # --- plumbing --------------------------------------------------------------------------------------------

    def _emit(self, name: str, text: str, **data: Any) -> None:
        """Report an event to the status, the log and the event sink; reporting never breaks trading."""
        self.status.log(text)
        logger.info("%s", text)
        if self.on_event is not None:
            try:
                self.on_event(name, data, text)
            except Exception as exc:  # a closed pipe or a broken view must not stop a flatten
                logger.warning("event output failed (%s: %s); events go to the log only", type(exc).__name__, exc)
                self.on_event = None

    def _enter(self, phase: Phase, **data: Any) -> None:
        check_move(self.phase, phase)
        self.phase = phase
        self.status.phase = phase.value
        if self.cycle_id is not None:
            try:
                self.journal.set_phase(self.cycle_id, phase.value, **data)
            except Exception as exc:  # the phase is a report; the orders' intents are what recovery needs
                logger.error("journal: phase %s not recorded: %s", phase.value, exc)
        self._emit("phase", f"phase: {phase.value}", phase=phase.value, **data)

    def _account_keys(self) -> list[str]:
        return [leg.connector.account_id() for leg in self.legs.values()]

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
            return await self._trade()
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

    async def _emergency(self, reason: str) -> HedgeResult:
        self._emit("emergency", f"EMERGENCY EXIT: {reason}", reason=reason)
        if self.phase is not Phase.EMERGENCY_EXIT:
            self._enter(Phase.EMERGENCY_EXIT, reason=reason)
        return await self._close(reason, emergency=True)

    # --- preflight -------------------------------------------------------------------------------------------

    async def _preflight_unless_stopped(self) -> HedgePlan | None:
        """The preflight, given up (None) the moment the operator stops: nothing is traded yet, so nothing has to
        be unwound, and a hung venue must not hold an interrupted process in its retries."""
        preflight = asyncio.ensure_future(self._preflight())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({preflight, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not preflight.done():
                preflight.cancel()
                await asyncio.gather(preflight, return_exceptions=True)
        if preflight.cancelled():
            return None
        return preflight.result()

    async def _preflight(self) -> HedgePlan:
        params = self.params
        self._emit("preflight", "preflight: checking venues, markets, positions and margin")

        async def inspect(role: str, leg: HedgeLeg):
            await leg.connector.check()
            rules = await leg.connector.prepare(leg.symbol)
            position, balance, book, fee = await asyncio.gather(
                leg.connector.position(leg.symbol), leg.connector.balance(), leg.connector.top_of_book(leg.symbol),
                self._fee_rate(leg),
            )
            return role, rules, position, balance, book, fee

        results = await asyncio.gather(*(inspect(role, leg) for role, leg in self.legs.items()))
        rules = {r[0]: r[1] for r in results}
        positions = {r[0]: r[2] for r in results}
        balances = {r[0]: r[3] for r in results}
        books = {r[0]: r[4] for r in results}
        fees = {r[0]: r[5] for r in results}
        checks = [f"{leg.connector.name} answers an authenticated read; {leg.symbol} is listed"
                  for leg in self.legs.values()]
        checks.append(check_leverage(
            params.leverage, {role: (leg.connector.name, rules[role]) for role, leg in self.legs.items()}
        ))

        for role, position in positions.items():
            self.status.legs[role].set_position(position.signed_size, source="venue")
            self._baseline[role] = position.signed_size
            self._expected[role] = position.signed_size
            self._baseline_price[role] = position.entry_price
        existing = [f"{self.legs[r].connector.name} holds {plain(p.signed_size)} {p.symbol}"
                    for r, p in positions.items() if p.signed_size != 0]
        if existing and not params.allow_existing:
            raise PreflightFailed("; ".join(existing) + " (flatten first, or pass --allow-existing)")
        checks.append("existing positions join the cycle: " + "; ".join(existing) if existing
                      else "no leg holds a position")

        price = books["L1"].mid or books["BP"].mid
        if price is None:
            raise PreflightFailed("no price: the L1 and BP books are both empty")
        if params.size is not None:
            raw_size = params.size
        else:
            raw_size = size_from_collateral(balances["L1"].available, params.leverage, params.size_safety_factor, price)
        size = common_size(raw_size, list(rules.values()))
        l2_size = None if params.l2_size is None else common_size(params.l2_size, [rules["L2"]])
        checks.append(
            f"size {plain(size)} is a multiple of every step and at or above every minimum ("
            + ", ".join(f"{self.legs[r].connector.name} step {plain(x.step_size)} min {plain(x.min_size)}"
                        for r, x in rules.items()) + ")"
        )

        bp_side = Side.BUY if params.direction == "long" else Side.SELL
        l2_side = bp_side if params.l2_side == "same" else bp_side.opposite
        sides = {"BP": bp_side, "L1": bp_side.opposite, "L2": l2_side}
        legs: list[LegPlan] = []
        for role in ROLE_ORDER:
            leg = self.legs[role]
            leg_size = l2_size if role == "L2" and l2_size is not None else size
            fee_rate, fee_source = fees[role]
            legs.append(LegPlan(
                role=role, connector=leg.connector.name, venue=leg.connector.venue, symbol=leg.symbol,
                side=sides[role], size=leg_size, reference_price=books[role].mid or price, slippage=leg.slippage,
                worst_price=worst_price(books[role], sides[role], leg.slippage, rules[role]),
                leverage=params.leverage, max_leverage=rules[role].max_leverage,
                fee_rate=fee_rate, fee_source=fee_source,
            ))
        check_min_notional(legs, rules)

        for leg_plan in legs:
            available = balances[leg_plan.role].available
            if leg_plan.margin > available:
                raise PreflightFailed(
                    f"{leg_plan.connector}: {plain(leg_plan.size)} at {plain(leg_plan.reference_price)} needs "
                    f"{plain(leg_plan.margin.quantize(Decimal('0.01')))} USDC of margin at {plain(params.leverage)}x, "
                    f"{plain(available)} available"
                )
            self.status.legs[leg_plan.role].balance = balances[leg_plan.role].equity
        checks.append("margin suffices on every leg (" + ", ".join(
            f"{p.connector} {plain(p.margin.quantize(Decimal('0.01')))} of {plain(balances[p.role].available)}"
            for p in legs) + ")")

        for role in ("L1", "L2"):
            connector = self.legs[role].connector
            update_leverage = getattr(connector, "update_leverage", None)
            if update_leverage is not None and not self.dry_run:
                await update_leverage(self.legs[role].symbol, params.leverage)

        tolerance = params.net_tolerance
        if tolerance is None:
            tolerance = max(r.step_size for r in rules.values())
        plan = HedgePlan(
            direction=params.direction,
            bp_side=bp_side,
            size=size,
            l2_side=l2_side,
            l2_size=l2_size,
            wait_secs=self.rng.uniform(params.wait_min_secs, params.wait_max_secs),
            tolerance=tolerance,
            leverage=params.leverage,
            rules=rules,
            price=price,
            legs=legs,
            checks=checks,
        )
        self._emit(
            "plan",
            f"plan: BP {bp_side.value} {plain(size)}, L1 {bp_side.opposite.value}, then L2 {plan.l2_side.value}"
            f" after {plan.wait_secs:.1f}s (common step {plain(common_step([r.step_size for r in rules.values()]))})",
            **plan.as_dict(),
        )
        return plan

    @staticmethod
    async def _fee_rate(leg: HedgeLeg) -> tuple[Decimal | None, str]:
        """The leg's taker fee rate for the plan's estimate, and where it came from; a failed read costs only that."""
        try:
            rate = await leg.connector.taker_fee_rate(leg.symbol)
        except VenueError as exc:
            return None, f"unavailable: {exc}"
        return rate, "published by the venue" if rate is not None else "not published by the venue"

    # --- orders ----------------------------------------------------------------------------------------------

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

    def _add_fill(self, role: str, signed_size: Decimal) -> None:
        """Count a confirmed fill in the leg's expected position; the view shows it until the next read."""
        self._expected[role] += signed_size
        if signed_size:
            self.status.legs[role].set_position(self._expected[role], source="fills")

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

    async def _l2_entry(self, plan: HedgePlan, bp_filled: Decimal) -> None:
        rules = plan.rules["L2"]
        size = plan.l2_size if plan.l2_size is not None else quantize_down(bp_filled, rules.step_size)
        filled = await self._work("L2", "entry", plan.l2_side, size)
        if filled == 0:
            raise EmergencyExit("L2 entry filled nothing")
        self._expected_nonzero.add("L2")
        self._emit("fill", f"L2 filled {plain(filled)} of {plain(size)}", role="L2", filled=plain(filled))

    async def _read_all(self) -> dict[str, Position | VenueError]:
        """One concurrent read of every leg; a failure is kept as the error (unknown), never as zero."""

        async def one(role: str) -> tuple[str, Position | VenueError]:
            leg = self.legs[role]
            try:
                return role, await leg.connector.position(leg.symbol)
            except VenueError as exc:
                return role, exc

        results = dict(await asyncio.gather(*(one(role) for role in self.legs)))
        for role, value in results.items():
            leg_status = self.status.legs[role]
            if isinstance(value, VenueError):
                leg_status.position_error = str(value)
            else:
                leg_status.set_position(value.signed_size, source="venue")
                leg_status.mark_price = value.mark_price
                leg_status.liquidation_price = value.liquidation_price
                leg_status.latency_ms = self.legs[role].connector.last_latency_ms
        if self.on_readings is not None:
            self.on_readings(self.status)
        return results

    async def _read_all_known(self) -> dict[str, Decimal]:
        """Every leg's signed size, retrying unknown legs; EmergencyExit if one stays unknown."""
        for attempt in range(4):
            results = await self._read_all()
            if not any(isinstance(v, VenueError) for v in results.values()):
                return {role: value.signed_size for role, value in results.items()}
            await self.clock.sleep(0.25 * (2**attempt))
        unknown = [f"{role}: {value}" for role, value in results.items() if isinstance(value, VenueError)]
        raise EmergencyExit("positions unknown: " + "; ".join(unknown))

    async def _rebalance(self, plan: HedgePlan, *, from_fills: bool = False) -> None:
        """Bring BP to -(L1 + L2). With ``from_fills`` the first order is sized from the legs' confirmed fills, so it
        goes out at once (the exposure L2's entry opened is naked until it does); every decision after that, and the
        final word, comes from reading the venues."""
        bp_rules = plan.rules["BP"]
        use_fills = from_fills
        attempts = self.legs["BP"].retries + 1 + (1 if from_fills else 0)
        for attempt in range(attempts):
            sizes = dict(self._expected) if use_fills else await self._read_all_known()
            net = sum(sizes.values(), ZERO)
            target = -(sizes["L1"] + sizes["L2"])
            delta = target - sizes["BP"]
            self._emit(
                "rebalance",
                f"rebalance: BP {plain(sizes['BP'])} -> {plain(target)} (net {plain(net)},"
                f" {'by the fills' if use_fills else 'read at the venues'})",
                positions={k: plain(v) for k, v in sizes.items()},
                target=plain(target),
                source="fills" if use_fills else "venues",
            )
            if abs(net) <= plan.tolerance:
                if use_fills:
                    use_fills = False  # nothing to send by the fills: confirm it at the venues
                    continue
                if target == 0:
                    self._expected_nonzero.discard("BP")
                else:
                    self._expected_nonzero.add("BP")
                return
            step_delta = quantize_down(abs(delta), bp_rules.step_size)
            current = sizes["BP"]
            side = Side.BUY if delta > 0 else Side.SELL
            reduces = current != 0 and (delta > 0) != (current > 0) and abs(delta) <= abs(current)
            if step_delta == 0 or (step_delta < bp_rules.min_size and not reduces):
                break
            try:
                intent = await self.legs["BP"].connector.build_intent(
                    self.legs["BP"].symbol, side, step_delta, reduce_only=reduces
                )
            except InvalidOrder as exc:
                raise EmergencyExit(f"BP rebalance order invalid: {exc}") from None
            snapshot = await self._send("BP", "rebalance", intent)
            self._require_final("BP", "rebalance", snapshot)
            self._add_fill("BP", snapshot.filled_size * side.sign)
            if isinstance(snapshot.error, FINAL_REFUSALS):
                raise EmergencyExit(f"BP rebalance refused: {snapshot.error}")
            if not use_fills and attempt < attempts - 1:
                await self.clock.sleep(self.params.retry_delay_secs)
            use_fills = False
        sizes = await self._read_all_known()
        net = sum(sizes.values(), ZERO)
        if abs(net) > plan.tolerance:
            raise EmergencyExit(
                f"BP rebalance could not bring net exposure {plain(net)} within {plain(plan.tolerance)}"
            )

    async def _monitor(self, plan: HedgePlan) -> None:
        deadline = self.clock.now() + self.params.monitor_timeout_secs
        self.status.countdown_until = deadline
        self.status.countdown_label = "monitor ends in"
        zero_without_evidence: dict[str, int] = {}
        try:
            while True:
                if self._stop.is_set():
                    raise EmergencyExit("interrupted by the operator")
                if self.clock.now() >= deadline:
                    return
                results = await self._read_all()
                known = {r: v.signed_size for r, v in results.items() if not isinstance(v, VenueError)}
                for role, value in results.items():
                    if isinstance(value, VenueError):
                        self._emit("unknown", f"{role} position unknown ({value}); retrying", role=role)
                for role in list(known):
                    if role in self._expected_nonzero and known[role] == 0:
                        if await self._liquidated(role):
                            raise EmergencyExit(f"{role} ({self.legs[role].connector.name}) was liquidated")
                        zero_without_evidence[role] = zero_without_evidence.get(role, 0) + 1
                        if zero_without_evidence[role] >= 2:
                            raise EmergencyExit(f"{role} position went to zero outside hedgectl")
                    else:
                        zero_without_evidence.pop(role, None)
                await self._warn_liquidation(results)
                if len(known) == len(self.legs):
                    net = sum(known.values(), ZERO)
                    self._emit(
                        "positions",
                        "positions: " + ", ".join(f"{r} {plain(v)}" for r, v in known.items()) + f" net {plain(net)}",
                        positions={r: plain(v) for r, v in known.items()},
                        net=plain(net),
                    )
                    if abs(net) > plan.tolerance:
                        self._enter(Phase.REBALANCE, reason=f"net exposure {plain(net)}")
                        await self._rebalance(plan)
                        self._enter(Phase.MONITOR)
                await self._stopped_or_pushed_within(
                    max(0.0, min(self.params.poll_interval_secs, deadline - self.clock.now())))
        finally:
            self.status.countdown_until = None

    async def _stopped_or_pushed_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the operator's stop, or less when a leg's account stream pushes a change: a
        liquidation is then read (by REST) at once, and the poll stays the watchdog. True when the stop came."""
        streams = [stream for stream in (getattr(leg.connector, "stream", None) for leg in self.legs.values())
                   if stream is not None]
        if not streams:
            return await self._stopped_within(seconds)
        woken = asyncio.Event()
        for stream in streams:
            stream.changed.clear()
        waiters = [asyncio.ensure_future(event.wait()) for event in [self._stop, *(s.changed for s in streams)]]
        for waiter in waiters:
            waiter.add_done_callback(lambda _: woken.set())
        try:
            await self.clock.wait(woken, seconds)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._stop.is_set()

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the operator's stop; True when it came."""
        return await self.clock.wait(self._stop, seconds)

    async def _liquidated(self, role: str) -> bool:
        leg = self.legs[role]
        try:
            fills = await leg.connector.fills(leg.symbol, since=self._started_at)
        except VenueError as exc:
            self._emit("unknown", f"{role} trades unreadable ({exc}); not calling it a liquidation", role=role)
            return False
        return any(fill.kind == "liquidation" for fill in fills)

    async def _warn_liquidation(self, results: dict[str, Position | VenueError]) -> None:
        threshold = self.params.liquidation_warning_pct
        for role, value in results.items():
            if isinstance(value, VenueError) or role in self._warned_liquidation:
                continue
            distance = value.liquidation_distance()
            if distance is not None and distance < threshold:
                self._warned_liquidation.add(role)
                self._emit(
                    "liquidation_warning",
                    f"{role} is {plain((distance * 100).quantize(Decimal('0.01')))}% from liquidation",
                    role=role,
                    distance=plain(distance),
                )
                await self._notify("liquidation_warning", self.status.legs[role], distance)

    # --- the end ---------------------------------------------------------------------------------------------

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
        flat = await self._flatten_all()
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

    async def _flatten_all(self) -> dict[str, FlattenResult]:
        async def one(role: str) -> tuple[str, FlattenResult]:
            leg = self.legs[role]
            result = await flatten_position(
                leg.connector,
                leg.symbol,
                max_slippage=leg.slippage,
                attempts=flatten_attempts(leg.retries),
                order_timeout=self.params.order_timeout_secs,
                on_intent=self._journal_hook(role, "flatten"),
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
            positions={role: flat[role].after for role in ROLE_ORDER},
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
        for role in ROLE_ORDER:
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

    async def _notify(self, method: str, *args: Any) -> None:
        """Send a notification in the background: a slow or failing notifier never holds up the cycle."""
        if self.notifier is None:
            return

        async def deliver() -> None:
            try:
                await getattr(self.notifier, method)(*args)
            except Exception as exc:  # a notification must never break trading
                logger.warning("notification %s failed: %s", method, exc)

        task = asyncio.get_running_loop().create_task(deliver(), name=f"notify:{method}")
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _drain_notifications(self) -> None:
        """At the end, give pending notifications a bounded time to be delivered."""
        if not self._notifications:
            return
        done, pending = await asyncio.wait(set(self._notifications), timeout=NOTIFY_DRAIN_SECS)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("%d notification(s) not delivered in time", len(pending))

def legs_from_config(connectors: dict[str, Connector], params: HedgeConfig) -> dict[str, HedgeLeg]:
    """Bind the roles of ``params.roles`` to started connectors, with each venue's symbol, slippage and retries."""
    legs = {}
    for role in ROLE_ORDER:
        name = params.roles[role]
        connector = connectors[name]
        venue = connector.venue
        legs[role] = HedgeLeg(
            role=role,
            connector=connector,
            symbol=params.symbols[venue],
            slippage=params.slippage.get(venue, Decimal("0.01")),
            retries=params.retries.get(venue, 3),
        )
    return legs


def override(params: HedgeConfig, **changes: Any) -> HedgeConfig:
    """The config's hedge parameters with the command line's non-None values on top."""
    return replace(params, **{k: v for k, v in changes.items() if v is not None})


__all__ = [
    "EmergencyExit",
    "HedgeCycle",
    "HedgeLeg",
    "HedgePlan",
    "HedgeResult",
    "legs_from_config",
    "override",
]
