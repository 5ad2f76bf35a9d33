"""The chaos rehearsal: complete hedge cycles against embedded paper venues, each under a random fault schedule
derived from one seed, each judged afterwards from the venues' own books rather than from what hedgectl believes.

``plan_cycle`` turns a cycle's seed into its schedule (so a failing cycle replays from its seed alone),
``inspect_end_state`` is the checker (usable on any paper exchange), and ``ChaosRunner`` / ``run_chaos`` drive a run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgectl.decimals import ZERO, plain
from hedgectl.sim.chaos_signals import (
    SIGNALLED_EXIT_CODES,
    SignalPlan,
    SignalSender,
    draw_signal,
    ignore_without_passing_on,
)
from hedgectl.sim.exchange import Exchange, TradeKind
from hedgectl.sim.faults import REQUEST_KINDS, FaultKind
from hedgectl.sim.market import derived_seed

if TYPE_CHECKING:
    from hedgectl.journal import CycleRecord
    from hedgectl.sim.runner import ThreadedPaperVenues

logger = logging.getLogger(__name__)

ROLES = ("BP", "L1", "L2")
ROLE_VENUES = {"BP": "backpack", "L1": "lighter", "L2": "lighter"}
SYMBOLS = {"backpack": "ETH_USDC_PERP", "lighter": "ETH", "grvt": "ETH_USDT_Perp"}
ORDER_PATHS = {"backpack": "/api/v1/order", "lighter": "/api/v1/sendTx", "grvt": "/full/v1/create_order"}
#: The fault kinds a schedule draws from, in a fixed order (a seed's plan depends on it). ``lag`` is drawn only with
#: ``--lag``, from a stream of its own, so that the plans of the seeds the recorded runs name stay as they were.
#: Stream faults are not drawn (yet): drawing them here would change the plan of every recorded seed.
DRAWN_KINDS = tuple(kind for kind in FaultKind if kind is not FaultKind.LAG and not kind.value.startswith("stream_"))
#: The venues that can play the bridge (BP) role; ``--bridge mixed`` draws one of them per cycle.
BRIDGE_VENUES = ("backpack", "grvt")
BRIDGE_CHOICES = BRIDGE_VENUES + ("mixed",)
#: Phases at whose start a scheduled fault may be armed; "start" arms before the preflight, "after:<s>" that many
#: seconds after the cycle starts trading.
TRIGGER_PHASES = ("bp_entry", "l1_hedge", "wait", "l2_entry", "rebalance", "monitor", "flatten", "emergency_exit")
#: A cycle that has not ended by then is stopped and reported as hung.
CYCLE_TIMEOUT_SECS = 120.0
#: How long the final sweep waits for requests still in flight (the longest injected delay is about 1.6 s).
SETTLE_SECS = 2.0
RECOVERY_TIMEOUT_SECS = 120.0


# --- the plan of one cycle ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledFault:
    """A fault to arm on ``venue`` when ``trigger`` comes, scoped to the account of ``role`` (None: every account)."""

    trigger: str
    venue: str
    role: str | None
    kind: FaultKind
    options: tuple[tuple[str, Any], ...] = ()

    def fault_options(self, accounts: dict[str, str]) -> dict[str, Any]:
        """The options of ``PaperVenues.arm`` for this fault, with the role resolved to its venue account."""
        options = dict(self.options)
        if self.role is not None:
            options["account"] = accounts[self.role]
        return options

    def describe(self) -> str:
        scope = f" on {self.role}" if self.role else ""
        options = " ".join(f"{key}={value}" for key, value in self.options)
        return f"{self.trigger}: {self.venue} {self.kind.value}{scope}" + (f" ({options})" if options else "")


@dataclass(frozen=True)
class CyclePlan:
    """Everything random about one cycle, derived from its seed alone."""

    seed: int
    direction: str
    l2_side: str
    size: Decimal
    wait_secs: tuple[float, float]
    monitor_secs: float
    faults: tuple[ScheduledFault, ...]
    kill_after: float | None = None  # seconds after the cycle starts trading; None: no kill
    bridge: str = "backpack"  # the venue of the BP role in this cycle
    bridge_choice: str = "backpack"  # what the run asked for (``--bridge``): replays need it
    lag: bool = False  # the run draws trailing-record faults (``--lag``): replays need it
    stop_signal: SignalPlan | None = None  # the operator's signal sent to the cycle (``--signals``)

    def hedge_parameters(self) -> dict[str, Any]:
        """The hedge parameters (``HedgeConfig`` fields) of this cycle: short waits and a short monitor."""
        return {
            "direction": self.direction,
            "l2_side": self.l2_side,
            "size": self.size,
            "wait_min_secs": self.wait_secs[0],
            "wait_max_secs": self.wait_secs[1],
            "monitor_timeout_secs": self.monitor_secs,
            "poll_interval_secs": 0.2,
            "order_timeout_secs": 5.0,
            "retry_delay_secs": 0.05,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "direction": self.direction,
            "l2_side": self.l2_side,
            "size": plain(self.size),
            "faults": [fault.describe() for fault in self.faults],
            "kill_after_secs": self.kill_after,
            "bridge": self.bridge,
            "signal": None if self.stop_signal is None else self.stop_signal.describe(),
        }


def cycle_seed(run_seed: int, index: int) -> int:
    """The seed of cycle ``index`` of a run seeded with ``run_seed`` (what ``--replay`` takes)."""
    return derived_seed(run_seed, f"chaos-cycle:{index}")


def plan_cycle(seed: int, *, kill: bool = False, bridge: str = "backpack", lag: bool = False,
               signals: bool = False) -> CyclePlan:
    """Draw a cycle's parameters and fault schedule (one to four faults of every kind) from ``seed``.

    ``bridge`` is the venue of the BP role, or "mixed" to draw it from the seed. The draw of the bridge uses its own
    stream, so a seed gives the same direction, sizes, timings and faults whatever venue bridges. With ``lag``,
    six cycles in ten also get records trailing one venue (or one leg's account) from the start, from a stream of
    their own too. With ``signals`` the cycle also gets an operator's stop signal, from a stream of its own.
    """
    if bridge not in BRIDGE_CHOICES:
        raise ValueError(f"unknown bridge {bridge!r}: choose one of {', '.join(BRIDGE_CHOICES)}")
    venue = random.Random(derived_seed(seed, "chaos-bridge")).choice(BRIDGE_VENUES) if bridge == "mixed" else bridge
    rng = random.Random(seed)
    direction = rng.choice(("long", "short"))
    l2_side = "opposite" if rng.random() < 0.2 else "same"
    size = Decimal(rng.choice(("0.2", "0.35", "0.5", "0.8")))
    wait_min = round(rng.uniform(0.05, 0.2), 3)
    wait = (wait_min, round(wait_min + rng.uniform(0.0, 0.3), 3))
    monitor = round(rng.uniform(0.6, 1.5), 3)
    venues = {**ROLE_VENUES, "BP": venue}
    faults = tuple(_draw_fault(rng, venues) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
    if lag:
        faults += _draw_lag(random.Random(derived_seed(seed, "chaos-lag")), venues)
    kill_after = None
    if kill:
        # half of the kills land in the first 300 ms, where the entry and the hedge are in flight
        kill_after = round(rng.uniform(0.0, 0.3) if rng.random() < 0.5 else rng.uniform(0.0, 3.0), 3)
    return CyclePlan(seed, direction, l2_side, size, wait, monitor, faults, kill_after, bridge=venue,
                     bridge_choice=bridge, lag=lag, stop_signal=draw_signal(seed) if signals else None)


def _draw_lag(rng: random.Random, role_venues: dict[str, str]) -> tuple[ScheduledFault, ...]:
    """Records trailing one venue (or one leg's account there) by up to 8 s, from the cycle's start; or nothing."""
    if rng.random() >= 0.6:
        return ()
    role: str | None = rng.choice(ROLES + (None,))
    venue = role_venues[role] if role is not None else rng.choice(sorted(set(role_venues.values())))
    ms = rng.choice((300, 1500, 4000, 8000))
    return (ScheduledFault("start", venue, role, FaultKind.LAG, (("ms", ms),)),)


def _draw_fault(rng: random.Random, role_venues: dict[str, str]) -> ScheduledFault:
    kind = rng.choice(DRAWN_KINDS)
    role: str | None = rng.choice(ROLES)
    if kind in (FaultKind.NONCE_SKEW, FaultKind.REJECT_AFTER_ACCEPT):
        role = rng.choice(("L1", "L2"))
    venue = role_venues[role]
    options: dict[str, Any] = {}
    if kind is FaultKind.LATENCY:
        options = {"ms": rng.choice((30, 100, 300, 800, 1500)), "jitter_ms": rng.choice((0, 50)),
                   "count": rng.randint(1, 6)}
    elif kind is FaultKind.ERROR:
        options = {"status": rng.choice((500, 502, 503)), "count": rng.randint(1, 4)}
    elif kind is FaultKind.RATE_LIMIT:
        options = {"count": rng.randint(1, 4)}
    elif kind in (FaultKind.REJECT, FaultKind.REJECT_AFTER_ACCEPT):
        options = {"count": rng.randint(1, 3)}
    elif kind is FaultKind.DROP_AFTER_EXECUTE:
        options = {"count": rng.randint(1, 2), "mode": rng.choice(("close", "504")),
                   "delay_ms": rng.choice((0, 100, 400))}
    elif kind is FaultKind.PARTIAL_FILL:
        options = {"fraction": rng.choice(("0.1", "0.3", "0.5", "0.7", "0.9")), "count": rng.randint(1, 2)}
    elif kind is FaultKind.NONCE_SKEW:
        options = {"amount": rng.randint(1, 5)}
    elif kind is FaultKind.PRICE_MOVE:
        options = {"percent": str(rng.choice((-1, 1)) * rng.choice((Decimal("0.5"), 1, 2, 4, 6))), "symbol": "ETH"}
        role = None
    elif kind is FaultKind.DOWN:
        options = {"seconds": rng.choice((0.3, 0.8, 1.5, 3.0))}
        role = None
    if kind in REQUEST_KINDS:
        if rng.random() < 0.5:
            options["path"] = ORDER_PATHS[venue]
        if rng.random() < 0.25:
            role = None
    draw = rng.random()
    if draw < 0.2:
        trigger = "start"
    elif draw < 0.8:
        trigger = rng.choice(TRIGGER_PHASES)
    else:
        trigger = f"after:{round(rng.uniform(0.0, 3.0), 2)}"
    return ScheduledFault(trigger, venue, role, kind, tuple(sorted(options.items())))


# --- the checker -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegAccount:
    """Where one leg of a cycle trades: the venue, its account name on the paper venue, and the symbol."""

    role: str
    venue: str
    account: str
    symbol: str


@dataclass
class EndState:
    """A cycle's end as the venues' own books show it, and every way it falls short."""

    positions: dict[str, Decimal]
    tolerance: Decimal
    resting: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    journal_mismatches: list[str] = field(default_factory=list)
    belief_mismatches: list[str] = field(default_factory=list)
    naked_window_ms: float = 0.0

    @property
    def net(self) -> Decimal:
        return sum(self.positions.values(), ZERO)

    @property
    def flat(self) -> bool:
        return all(size == 0 for size in self.positions.values())

    def unsafe_reasons(self) -> list[str]:
        """Why this end state is unsafe (empty when it is safe): naked exposure, resting orders, a journal or a
        report that disagrees with the venues."""
        reasons = []
        if abs(self.net) > self.tolerance:
            held = ", ".join(f"{role} {plain(size)}" for role, size in self.positions.items())
            reasons.append(f"net exposure {plain(self.net)} beyond {plain(self.tolerance)} ({held})")
        return reasons + self.resting + self.journal_mismatches + self.belief_mismatches

    def as_dict(self) -> dict[str, Any]:
        return {
            "positions": {role: plain(size) for role, size in self.positions.items()},
            "net": plain(self.net),
            "unsafe": self.unsafe_reasons(),
            "duplicates": self.duplicates,
            "naked_window_ms": round(self.naked_window_ms, 1),
        }


def inspect_end_state(
    exchanges: dict[str, Exchange],
    legs: Iterable[LegAccount],
    *,
    journal: CycleRecord | None = None,
    reported: dict[str, Decimal | None] | None = None,
    now_ms: int | None = None,
) -> EndState:
    """Judge a cycle from the paper exchanges' books (call it in the venues' thread).

    Checks: net exposure within one step (the largest step of the legs' markets); no resting order; each client
    order id executed at most once and never beyond its order, nor beyond the journal's intent; every executed
    order journaled with the fill the venue reports; per leg, the journal's position plus the venue's liquidations
    equal to the venue's position; and ``reported`` (what hedgectl said each leg holds) equal to the venue's.
    """
    legs = list(legs)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    positions = {leg.role: exchanges[leg.venue].account(leg.account).size(leg.symbol) for leg in legs}
    tolerance = max(exchanges[leg.venue].rules[leg.symbol].step_size for leg in legs)
    state = EndState(positions=positions, tolerance=tolerance)
    by_venue: dict[str, set[str]] = {}
    for leg in legs:
        by_venue.setdefault(leg.venue, set()).add(leg.account)
        exchange = exchanges[leg.venue]
        state.resting += [
            f"{leg.role}: order {order.order_id} (client id {order.client_id}) still rests on the book"
            for order in exchange.resting_orders(leg.symbol, leg.account)
        ]
    for venue, accounts in by_venue.items():
        state.duplicates += [f"{venue}: {problem}" for problem in exchanges[venue].audit(accounts)]
    _check_journal(state, exchanges, legs, journal)
    if reported:
        for leg in legs:
            said = reported.get(leg.role)
            if said is not None and said != positions[leg.role]:
                state.belief_mismatches.append(
                    f"{leg.role}: hedgectl reported {plain(said)}, the venue holds {plain(positions[leg.role])}"
                )
    state.naked_window_ms = _longest_naked_window(exchanges, legs, tolerance, now_ms)
    return state


def _executed_by_client_id(exchange: Exchange, leg: LegAccount) -> dict[int, Decimal]:
    executed: dict[int, Decimal] = {}
    for order in exchange.find_orders(leg.account, symbol=leg.symbol):
        if order.executed_quantity and order.client_id is not None:
            executed[order.client_id] = executed.get(order.client_id, ZERO) + order.executed_quantity
    return executed


def _check_journal(state: EndState, exchanges: dict[str, Exchange], legs: list[LegAccount],
                   journal: CycleRecord | None) -> None:
    executed = {leg.role: _executed_by_client_id(exchanges[leg.venue], leg) for leg in legs}
    if journal is None:
        for role, orders in executed.items():
            if orders:
                state.journal_mismatches.append(f"{role}: {len(orders)} order(s) executed but no cycle journaled")
        return
    if not journal.resolved:
        state.journal_mismatches.append("the journal still holds the cycle unresolved: hedgectl does not know its end")
    by_purpose: dict[tuple[str, str], Decimal] = {}
    first_intent: dict[tuple[str, str], Decimal] = {}
    for leg in legs:
        exchange = exchanges[leg.venue]
        liquidated = sum(
            (fill.side.sign * fill.quantity for fill in exchange.fills
             if fill.account == leg.account and fill.symbol == leg.symbol and fill.kind is TradeKind.LIQUIDATION),
            ZERO,
        )
        by_journal = journal.position_by_journal(leg.role)
        if by_journal + liquidated != state.positions[leg.role]:
            state.journal_mismatches.append(
                f"{leg.role}: the journal's position {plain(by_journal)}"
                + (f" (with {plain(liquidated)} liquidated)" if liquidated else "")
                + f" differs from the venue's {plain(state.positions[leg.role])}"
            )
        recorded: dict[int, Decimal] = {}
        intended: dict[int, Decimal] = {}
        for order in journal.orders_for(leg.role):
            index = order.intent.client_order_index
            recorded[index] = recorded.get(index, ZERO) + order.filled_size
            intended[index] = max(intended.get(index, ZERO), order.intent.size)
            if journal.resolved and not order.is_final:
                state.journal_mismatches.append(
                    f"{leg.role}: order {index} is still {order.state.value} in a resolved cycle"
                )
            key = (leg.role, order.purpose)
            first_intent.setdefault(key, order.intent.size)
            by_purpose[key] = by_purpose.get(key, ZERO) + executed[leg.role].get(index, ZERO)
        for index, quantity in executed[leg.role].items():
            if index not in recorded:
                state.journal_mismatches.append(
                    f"{leg.role}: client id {index} executed {plain(quantity)} but was never journaled"
                )
                continue
            if quantity != recorded[index]:
                state.journal_mismatches.append(
                    f"{leg.role}: order {index} filled {plain(recorded[index])} by the journal, "
                    f"{plain(quantity)} at the venue"
                )
            if quantity > intended[index]:
                state.duplicates.append(
                    f"{leg.role}: client id {index} executed {plain(quantity)}"
                    f" for an intent of {plain(intended[index])}"
                )
    # beyond intent at the hedge's level: more hedged than entered, or a leg entered twice
    bp_entered = by_purpose.get(("BP", "entry"), ZERO)
    if by_purpose.get(("L1", "hedge"), ZERO) > bp_entered:
        state.duplicates.append(
            f"L1 hedged {plain(by_purpose[('L1', 'hedge')])} for a BP entry of {plain(bp_entered)}"
        )
    for key in (("BP", "entry"), ("L2", "entry")):
        if key in first_intent and by_purpose.get(key, ZERO) > first_intent[key]:
            state.duplicates.append(
                f"{key[0]} {key[1]} filled {plain(by_purpose[key])} for an intent of {plain(first_intent[key])}"
            )


def _longest_naked_window(exchanges: dict[str, Exchange], legs: list[LegAccount], tolerance: Decimal,
                          now_ms: int) -> float:
    """The longest time the legs' combined position stayed beyond ``tolerance``, replaying the venues' fills."""
    fills = []
    for leg in legs:
        fills += [
            (fill.timestamp_ms, fill.trade_id, fill.side.sign * fill.quantity)
            for fill in exchanges[leg.venue].fills
            if fill.account == leg.account and fill.symbol == leg.symbol
        ]
    fills.sort()
    net = ZERO
    opened: int | None = None
    longest = 0
    for at, _, signed in fills:
        net += signed
        if abs(net) > tolerance and opened is None:
            opened = at
        elif abs(net) <= tolerance and opened is not None:
            longest = max(longest, at - opened)
            opened = None
    if opened is not None:
        longest = max(longest, now_ms - opened)
    return float(longest)


# --- reports -----------------------------------------------------------------------------------------------------


@dataclass
class CycleReport:
    """What happened in one cycle and what the venues show afterwards."""

    index: int
    plan: CyclePlan
    kill: bool
    outcome: str = "not run"
    reason: str = ""
    duration_secs: float = 0.0
    killed: bool = False
    signalled: str = ""  # the stop signal(s) sent and in which phase (``--signals``)
    exit_code: int | None = None  # the ``hedge run`` process's, when the cycle ran as one
    recovery_needed: bool = False
    recovery_succeeded: bool | None = None
    end: EndState | None = None
    problems: list[str] = field(default_factory=list)  # a crash, a hang, a fault that could not be armed
    legs: list[LegAccount] = field(default_factory=list)  # the paper accounts the cycle traded

    @property
    def unsafe_reasons(self) -> list[str]:
        return self.end.unsafe_reasons() if self.end is not None else ["the end state could not be read"]

    @property
    def duplicates(self) -> list[str]:
        return self.end.duplicates if self.end is not None else []

    @property
    def failed(self) -> bool:
        return bool(self.unsafe_reasons or self.duplicates or self.problems)

    def replay_hint(self) -> str:
        bridge = self.plan.bridge_choice
        return (f"--replay {self.plan.seed}" + (" --kill" if self.kill else "")
                + (f" --bridge {bridge}" if bridge != "backpack" else "") + (" --lag" if self.plan.lag else "")
                + (" --signals" if self.plan.stop_signal is not None else ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "seed": self.plan.seed,
            "replay": self.replay_hint(),
            "outcome": self.outcome,
            "reason": self.reason,
            "duration_secs": round(self.duration_secs, 3),
            "killed": self.killed,
            "signalled": self.signalled,
            "exit_code": self.exit_code,
            "recovery_needed": self.recovery_needed,
            "recovery_succeeded": self.recovery_succeeded,
            "plan": self.plan.as_dict(),
            "end": self.end.as_dict() if self.end is not None else None,
            "problems": self.problems,
            "accounts": {leg.role: f"{leg.venue}:{leg.account}" for leg in self.legs},
        }


@dataclass
class ChaosReport:
    """A whole run: every cycle's report and the counts the command prints."""

    seed: int | None
    kill: bool
    cycles: list[CycleReport] = field(default_factory=list)
    duration_secs: float = 0.0
    bridge: str = "backpack"
    signals: bool = False

    def counts(self) -> dict[str, int]:
        return {
            "cycles": len(self.cycles),
            "unsafe": sum(1 for cycle in self.cycles if cycle.unsafe_reasons),
            "duplicates": sum(len(cycle.duplicates) for cycle in self.cycles),
            "problems": sum(1 for cycle in self.cycles if cycle.problems),
            "killed": sum(1 for cycle in self.cycles if cycle.killed),
            "signalled": sum(1 for cycle in self.cycles if cycle.signalled.startswith("SIG")),
            "recoveries_needed": sum(1 for cycle in self.cycles if cycle.recovery_needed),
            "recoveries_succeeded": sum(1 for cycle in self.cycles if cycle.recovery_succeeded),
        }

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(cycle.outcome for cycle in self.cycles).most_common())

    def fault_kinds(self) -> dict[str, int]:
        kinds = Counter(fault.kind.value for cycle in self.cycles for fault in cycle.plan.faults)
        drawn = DRAWN_KINDS + ((FaultKind.LAG,) if any(cycle.plan.lag for cycle in self.cycles) else ())
        return {kind.value: kinds.get(kind.value, 0) for kind in drawn}

    def longest_naked_window(self) -> CycleReport | None:
        measured = [cycle for cycle in self.cycles if cycle.end is not None]
        return max(measured, key=lambda cycle: cycle.end.naked_window_ms, default=None)

    def failing(self) -> list[CycleReport]:
        return [cycle for cycle in self.cycles if cycle.failed]

    @property
    def ok(self) -> bool:
        counts = self.counts()
        return counts["unsafe"] == 0 and counts["duplicates"] == 0

    def as_dict(self) -> dict[str, Any]:
        longest = self.longest_naked_window()
        return {
            "seed": self.seed,
            "kill": self.kill,
            "signals": self.signals,
            "bridge": self.bridge,
            "bridges": dict(Counter(cycle.plan.bridge for cycle in self.cycles).most_common()),
            "duration_secs": round(self.duration_secs, 1),
            "counts": self.counts(),
            "outcomes": self.outcomes(),
            "exit_codes": dict(Counter(str(cycle.exit_code) for cycle in self.cycles if cycle.exit_code is not None)),
            "fault_kinds": self.fault_kinds(),
            "longest_naked_window": None if longest is None else {
                "ms": round(longest.end.naked_window_ms, 1), "seed": longest.plan.seed,
            },
            "failing": [cycle.as_dict() for cycle in self.failing()],
        }


# --- running cycles ----------------------------------------------------------------------------------------------


class _FaultSchedule:
    """Arms a cycle's scheduled faults when their trigger comes, each at most once, and nothing after ``stop``."""

    def __init__(self, venues: ThreadedPaperVenues, faults: Iterable[ScheduledFault], accounts: dict[str, str]):
        self._venues = venues
        self._pending = list(faults)
        self._accounts = accounts
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self._stopped = False
        self.errors: list[str] = []
        self.trading = False  # the cycle got past its preflight

    def fire(self, trigger: str) -> None:
        with self._lock:
            if self._stopped:
                return
            due = [fault for fault in self._pending if fault.trigger == trigger]
            self._pending = [fault for fault in self._pending if fault.trigger != trigger]
            for fault in due:
                try:
                    self._venues.arm(fault.venue, fault.kind, **fault.fault_options(self._accounts))
                except Exception as exc:  # a fault the venue refuses is a defect of the rehearsal, reported
                    self.errors.append(f"could not arm {fault.describe()}: {exc}")

    def start_clock(self) -> None:
        """Start the timers of the "after:<seconds>" faults (the cycle has started trading)."""
        with self._lock:
            self.trading = True
            timed = {fault.trigger for fault in self._pending if fault.trigger.startswith("after:")}
            for trigger in timed:
                timer = threading.Timer(float(trigger.partition(":")[2]), self.fire, args=(trigger,))
                timer.daemon = True
                timer.start()
                self._timers.append(timer)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for timer in self._timers:
                timer.cancel()


class ChaosRunner:
    """One set of paper venues (Lighter and the bridge venues) for a whole run; each cycle trades fresh accounts on
    them, its BP leg on the venue its plan names.

    Without ``kill`` or ``signals`` a cycle runs in this process; with either, as a ``hedgectl hedge run`` child
    process that is SIGKILLed at the plan's moment (``kill``) or sent the plan's stop signal (``signals``), followed
    by ``hedgectl hedge recover --yes`` when the cycle is left unresolved. Use as a context manager.
    """

    def __init__(self, *, kill: bool = False, work_dir: Path | None = None, bridge: str = "backpack",
                 signals: bool = False):
        self.kill = kill
        self.signals = signals
        self.venue_kinds = (BRIDGE_VENUES if bridge == "mixed" else (bridge,)) + ("lighter",)
        self._temp: tempfile.TemporaryDirectory | None = None
        if work_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="hedgectl-chaos-")
            work_dir = Path(self._temp.name)
        self.work_dir = Path(work_dir)
        self.venues: ThreadedPaperVenues | None = None
        self._cycles_run = 0
        self._judged: list[tuple[CycleReport, list[LegAccount], Path, dict[str, Decimal | None]]] = []
        self._ignored: list[int] = []

    def __enter__(self) -> ChaosRunner:
        from hedgectl.sim.runner import ThreadedPaperVenues

        if self.signals:
            self._ignored = ignore_without_passing_on()
        self.venues = ThreadedPaperVenues(kinds=self.venue_kinds, tick_seconds=0, seed=0).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum in self._ignored:
            signal.signal(signum, signal.SIG_IGN)
        self._ignored = []
        if self.venues is not None:
            self.venues.stop()
            self.venues = None
        if self._temp is not None:
            self._temp.cleanup()

    def _exchanges(self) -> dict[str, Exchange]:
        return {kind: venue.exchange for kind, venue in self.venues.venues.venues.items()}

    # --- one cycle ---------------------------------------------------------------------------------------------

    def run_cycle(self, index: int, plan: CyclePlan) -> CycleReport:
        report = CycleReport(index=index, plan=plan, kill=self.kill)
        tag = f"c{self._cycles_run}"
        self._cycles_run += 1
        cycle_dir = self.work_dir / tag
        cycle_dir.mkdir(parents=True)
        legs, accounts_document = self.venues.call_sync(lambda: self._open_accounts(tag, plan.bridge))
        report.legs = legs
        accounts = {leg.role: leg.account for leg in legs}
        schedule = _FaultSchedule(self.venues, plan.faults, accounts)
        started = time.monotonic()
        try:
            if self.kill or self.signals:
                journal_file, reported = self._run_child(plan, legs, accounts_document, cycle_dir, schedule, report)
            else:
                journal_file, reported = self._run_here(plan, legs, accounts_document, cycle_dir, schedule, report)
        finally:
            schedule.stop()
            self._calm_venues()
        report.duration_secs = time.monotonic() - started
        report.problems += schedule.errors
        report.end = self._judge(legs, journal_file, reported)
        self._judged.append((report, legs, journal_file, reported))
        logger.info("cycle %d (seed %d): %s%s", index, plan.seed, report.outcome,
                    "" if not report.failed else " FAILING: " + "; ".join(report.unsafe_reasons + report.duplicates
                                                                         + report.problems))
        return report

    def sweep(self, settle_secs: float = SETTLE_SECS) -> list[CycleReport]:
        """Judge every cycle of the run again once requests still in flight have landed: an order that executed
        after its cycle was checked turns up here. Returns the cycles whose verdict changed (each notes it)."""
        time.sleep(settle_secs)
        changed = []
        for report, legs, journal_file, reported in self._judged:
            again = self._judge(legs, journal_file, reported)
            if (again.unsafe_reasons(), again.duplicates) != (report.unsafe_reasons, report.duplicates):
                report.problems.append(
                    "the venues changed after the cycle was checked: "
                    + "; ".join(again.unsafe_reasons() + again.duplicates)
                )
                report.end = again
                changed.append(report)
        return changed

    def _open_accounts(self, tag: str, bridge: str = "backpack") -> tuple[list[LegAccount], dict[str, Any]]:
        """Fresh funded accounts for the three legs (in the venues' thread), and their accounts document; the BP
        leg trades on ``bridge``."""
        lighter = self.venues.venues.venue("lighter")
        market = lighter.market
        for spec in market.symbols:  # every cycle starts from the same prices, so a seed replays the same cycle
            market.set_mid(spec.base, spec.initial_mid)
        bridge_venue = self.venues.venues.venue(bridge)
        name = f"{tag}-bp"
        if bridge == "grvt":
            key = bridge_venue.create_account(name)
            document = {"grvt": {"url": bridge_venue.url, "accounts": [
                {"name": key.account, "api_key": key.api_key, "private_key": key.private_key,
                 "sub_account_id": key.sub_account_id, "chain_id": bridge_venue.chain_id}]}}
        else:
            key = bridge_venue.create_account(name)
            document = {"backpack": {"url": bridge_venue.url, "accounts": [
                {"name": key.account, "api_key": key.public, "api_secret": key.secret}]}}
        l1 = lighter.create_account(f"{tag}-l1")
        l2 = lighter.create_account(f"{tag}-l2")
        document["lighter"] = {"url": lighter.url, "accounts": [
            {"name": account.name, "account_index": account.account_index,
             "api_key_index": account.api_key_index, "api_private_key": account.api_private_key}
            for account in (l1, l2)]}
        legs = [
            LegAccount("BP", bridge, key.account, SYMBOLS[bridge]),
            LegAccount("L1", "lighter", l1.name, SYMBOLS["lighter"]),
            LegAccount("L2", "lighter", l2.name, SYMBOLS["lighter"]),
        ]
        return legs, document

    def _calm_venues(self) -> None:
        """Clear every armed fault and wait until no venue is down, so the next step sees healthy venues."""
        for kind in self.venue_kinds:
            self.venues.clear(kind)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not any(self.venues.call_sync(lambda: [v.is_down for v in self.venues.venues.venues.values()])):
                return
            time.sleep(0.05)

    def _judge(self, legs: list[LegAccount], journal_file: Path, reported: dict[str, Decimal | None]) -> EndState:
        from hedgectl.journal import Journal

        journal = Journal(journal_file)
        try:
            record = journal.last_cycle()
        finally:
            journal.close()
        exchanges = self._exchanges()
        return self.venues.call_sync(
            lambda: inspect_end_state(exchanges, legs, journal=record, reported=reported)
        )

    # --- in this process ---------------------------------------------------------------------------------------

    def _run_here(self, plan: CyclePlan, legs: list[LegAccount], accounts_document: dict[str, Any],
                  cycle_dir: Path, schedule: _FaultSchedule,
                  report: CycleReport) -> tuple[Path, dict[str, Decimal | None]]:
        from hedgectl.config.loader import parse_config
        from hedgectl.errors import ConfigError, HedgectlError
        from hedgectl.journal import Journal, journal_path

        document, secrets = _cycle_document(accounts_document, legs, plan, cycle_dir)
        parsed = parse_config(document, path=None, env=secrets)
        if not parsed.ok or parsed.config is None:
            raise ConfigError(parsed.problems + parsed.missing_secrets)
        config = parsed.config
        params = config.hedge
        journal_file = journal_path(cycle_dir)
        journal = Journal(journal_file)
        reported: dict[str, Decimal | None] = {}
        try:
            schedule.fire("start")
            try:
                result = asyncio.run(self._cycle(config, params, journal, cycle_dir, plan, schedule))
            except TimeoutError:
                report.outcome = "hung"
                report.problems.append(f"the cycle did not end within {CYCLE_TIMEOUT_SECS:g}s")
            except Exception as exc:
                if isinstance(exc, HedgectlError) and not schedule.trading:
                    report.outcome, report.reason = "refused", str(exc)
                else:  # past the preflight the cycle raises only for bugs: reported with the seed, never hidden
                    logger.exception("cycle with seed %d raised", plan.seed)
                    report.outcome = "crashed"
                    report.problems.append(f"the cycle raised {type(exc).__name__}: {exc}")
            else:
                report.outcome, report.reason = result.outcome.value, result.reason
                reported = dict(result.positions)
            schedule.stop()
            self._calm_venues()
            if journal.unresolved_cycles():
                report.recovery_needed = True
                reports = asyncio.run(self._recover_here(config, journal, cycle_dir))
                report.recovery_succeeded = bool(reports) and all(r.resolved for r in reports)
                reported = {role: Decimal(size) for r in reports for role, size in r.after.items() if size is not None}
                if not report.recovery_succeeded:
                    report.problems += [f"recovery: {problem}" for r in reports for problem in r.problems]
        finally:
            journal.close()
        return journal_file, reported

    @staticmethod
    async def _cycle(config, params, journal, cycle_dir: Path, plan: CyclePlan, schedule: _FaultSchedule):
        from hedgectl.registry import ConnectorSet
        from hedgectl.strategies.hedge.cycle import HedgeCycle, legs_from_config

        async with ConnectorSet(config, data_dir=cycle_dir) as connectors:
            built = {name: await connectors.get(name) for name in set(params.roles.values())}

            def on_event(name: str, data: dict[str, Any], text: str) -> None:
                if name == "cycle":
                    schedule.start_clock()
                elif name == "phase":
                    schedule.fire(data["phase"])

            cycle = HedgeCycle(legs_from_config(built, params), params, journal=journal, data_dir=cycle_dir,
                               on_event=on_event, rng=random.Random(plan.seed))
            async with asyncio.timeout(CYCLE_TIMEOUT_SECS):
                return await cycle.run()

    @staticmethod
    async def _recover_here(config, journal, cycle_dir: Path):
        from hedgectl.registry import ConnectorSet
        from hedgectl.strategies.hedge.recovery import recover_all

        async with ConnectorSet(config, data_dir=cycle_dir) as connectors:
            async with asyncio.timeout(RECOVERY_TIMEOUT_SECS):
                return await recover_all(journal, connectors, data_dir=cycle_dir, action="flatten")

    # --- as a child process, killed ----------------------------------------------------------------------------

    def _run_child(self, plan: CyclePlan, legs: list[LegAccount], accounts_document: dict[str, Any],
                   cycle_dir: Path, schedule: _FaultSchedule,
                   report: CycleReport) -> tuple[Path, dict[str, Decimal | None]]:
        from hedgectl.config.starter import write_config
        from hedgectl.journal import Journal, journal_path

        data_dir = cycle_dir / "data"
        document, secrets = _cycle_document(accounts_document, legs, plan, data_dir)
        config_path = cycle_dir / "hedgectl.toml"
        write_config(config_path, document, secrets)
        command = [sys.executable, "-m", "hedgectl", "--config", str(config_path), "hedge"]
        env = {key: value for key, value in os.environ.items() if key != "HEDGECTL_CONFIG"}

        schedule.fire("start")
        summary = self._watch_and_kill(command + ["run", "--json"], env, cycle_dir, plan, schedule, report)
        schedule.stop()
        self._calm_venues()
        journal_file = journal_path(data_dir)
        reported: dict[str, Decimal | None] = {}
        if summary is not None:
            report.outcome, report.reason = summary.get("outcome", "?"), summary.get("reason", "")
            reported = {role: None if size is None else Decimal(size)
                        for role, size in (summary.get("positions") or {}).items()}
        journal = Journal(journal_file)
        try:
            needed = bool(journal.unresolved_cycles())
        finally:
            journal.close()
        if plan.stop_signal is not None and report.exit_code not in SIGNALLED_EXIT_CODES:
            report.problems.append(f"hedge run ended with {_exit_description(report.exit_code)} after "
                                   f"{report.signalled}, not a code of the exit-code table")
        elif report.exit_code == 130 and schedule.trading:
            report.problems.append("hedge run exited 130 (interrupted before trading) although it traded")
        if needed and plan.stop_signal is not None and report.exit_code != 4:
            report.problems.append(f"the cycle was left unresolved but hedge run exited {report.exit_code}, not 4")
        if needed:
            report.recovery_needed = True
            recovered = subprocess.run(command + ["recover", "--yes", "--json"], capture_output=True, text=True,
                                       env=env, cwd=cycle_dir, timeout=RECOVERY_TIMEOUT_SECS)
            try:
                recoveries = json.loads(recovered.stdout)["recovered"]
            except (ValueError, KeyError, TypeError):
                recoveries = []
                report.problems.append(f"hedge recover exited {recovered.returncode}: "
                                       f"{recovered.stderr.strip()[-500:]}")
            report.recovery_succeeded = recovered.returncode == 0 and bool(recoveries) and all(
                item.get("resolved") for item in recoveries)
            for item in recoveries:
                if not report.recovery_succeeded:
                    report.problems += [f"recovery: {problem}" for problem in item.get("problems", [])]
                reported = {role: Decimal(size) for role, size in (item.get("after") or {}).items()
                            if size is not None}
        return journal_file, reported

    def _watch_and_kill(self, command: list[str], env: dict[str, str], cycle_dir: Path, plan: CyclePlan,
                        schedule: _FaultSchedule, report: CycleReport) -> dict[str, Any] | None:
        """Run ``hedge run``, arm phase faults as its events arrive, SIGKILL it at the plan's moment or send it the
        plan's stop signal in its phase; the summary event when it wrote one, else None."""
        with open(cycle_dir / "hedge-run.stderr", "w") as stderr:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
                                       cwd=cycle_dir)
        sender = SignalSender(plan.stop_signal, process) if plan.stop_signal is not None else None
        timers: list[threading.Timer] = []

        def kill(reason: str) -> None:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                if reason == "plan":
                    report.killed = True
                else:
                    report.problems.append(reason)

        def later(seconds: float, reason: str) -> None:
            timer = threading.Timer(seconds, kill, args=(reason,))
            timer.daemon = True
            timer.start()
            timers.append(timer)

        later(CYCLE_TIMEOUT_SECS, f"hedge run did not end within {CYCLE_TIMEOUT_SECS:g}s")
        summary = None
        try:
            for line in process.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                name = event.get("event")
                if sender is not None:
                    sender.on_event(event)
                if name == "cycle":
                    schedule.start_clock()
                    if plan.kill_after is not None:
                        later(plan.kill_after, "plan")
                elif name == "phase":
                    schedule.fire(event.get("phase", ""))
                elif name == "summary":
                    summary = event
            process.wait()
        finally:
            for timer in timers:
                timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if sender is not None:
                sender.finish()
                report.signalled = sender.describe()
        report.exit_code = process.returncode
        if report.killed:
            report.outcome = "killed"
            return None
        if summary is None and sender is not None and sender.sent and process.returncode in (4, 130):
            report.outcome = "aborted by signal" if process.returncode == 4 else "interrupted"
            report.reason = (cycle_dir / "hedge-run.stderr").read_text(errors="replace").strip()[-300:]
        elif summary is None:
            # no summary: refused before trading (a venue error in the preflight), or a crash once trading started
            report.outcome = "crashed" if schedule.trading else "refused"
            report.reason = (cycle_dir / "hedge-run.stderr").read_text(errors="replace").strip()[-300:]
            if schedule.trading:
                report.problems.append(f"hedge run exited {process.returncode} without a summary: {report.reason}")
        return summary


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        return f"death by {signal.Signals(-code).name} (its default handler)"
    return f"exit {code}"


def _cycle_document(accounts_document: dict[str, Any], legs: list[LegAccount], plan: CyclePlan,
                    data_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The config document (and its secrets) of one cycle: its accounts in the roles, its hedge parameters."""
    from hedgectl.config.starter import paper_document

    document, secrets = paper_document(accounts_document)
    document["general"]["data_dir"] = str(data_dir)
    document["hedge"]["roles"] = {leg.role: leg.account for leg in legs}
    document["hedge"].update(
        {key: plain(value) if isinstance(value, Decimal) else value for key, value in plan.hedge_parameters().items()}
    )
    return document, secrets


def run_chaos(
    cycles: int,
    *,
    seed: int = 0,
    kill: bool = False,
    replay: int | None = None,
    work_dir: Path | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    bridge: str = "backpack",
    lag: bool = False,
    signals: bool = False,
) -> ChaosReport:
    """Run ``cycles`` cycles seeded from ``seed`` (or the one cycle of seed ``replay``) on one set of venues, the
    bridge (BP) role on ``bridge``: "backpack", "grvt", or "mixed" (drawn per cycle from its seed); with ``signals``
    each cycle is a ``hedge run`` process sent an operator's stop signal."""
    options = dict(kill=kill, bridge=bridge, lag=lag, signals=signals)
    plans = [(0, plan_cycle(replay, **options))] if replay is not None else [
        (index, plan_cycle(cycle_seed(seed, index), **options)) for index in range(cycles)
    ]
    report = ChaosReport(seed=None if replay is not None else seed, kill=kill, bridge=bridge, signals=signals)
    started = time.monotonic()
    with ChaosRunner(kill=kill, work_dir=work_dir, bridge=bridge, signals=signals) as runner:
        for index, plan in plans:
            cycle = runner.run_cycle(index, plan)
            report.cycles.append(cycle)
            if on_cycle is not None:
                on_cycle(cycle)
        for cycle in runner.sweep():
            logger.warning("cycle %d (seed %d) changed after its check: %s", cycle.index, cycle.plan.seed,
                           cycle.problems[-1])
    report.duration_secs = time.monotonic() - started
    return report


__all__ = [
    "BRIDGE_CHOICES",
    "ChaosReport",
    "ChaosRunner",
    "CyclePlan",
    "CycleReport",
    "EndState",
    "LegAccount",
    "ScheduledFault",
    "cycle_seed",
    "inspect_end_state",
    "plan_cycle",
    "run_chaos",
]
