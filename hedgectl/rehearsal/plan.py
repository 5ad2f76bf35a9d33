"""The plan of one rehearsal cycle: its hedge parameters and fault schedule, drawn from the cycle's seed alone so a
failing cycle replays from its seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.decimals import plain
from hedgectl.registry import LIGHTER_ROLES, ROLE_VENUES, ROLES
from hedgectl.rehearsal.signals import SignalPlan, draw_signal
from hedgectl.sim.faults import REQUEST_KINDS, FaultKind
from hedgectl.sim.market import derived_seed

#: The venue of each role unless the plan draws another bridge.
DEFAULT_VENUES = {role: kinds[0] for role, kinds in ROLE_VENUES.items()}
#: Where each paper venue takes orders: request faults may target that path alone.
ORDER_PATHS = {"backpack": "/api/v1/order", "lighter": "/api/v1/sendTx", "grvt": "/full/v1/create_order"}
#: The fault kinds a schedule draws from, in a fixed order (a seed's plan depends on it). ``lag`` is drawn only with
#: ``--lag``, from a stream of its own, so that the plans of the seeds the recorded runs name stay as they were; the
#: stream faults likewise only with ``--streams`` (``STREAM_DRAWN_KINDS``).
DRAWN_KINDS = tuple(kind for kind in FaultKind if kind is not FaultKind.LAG and not kind.value.startswith("stream_"))
#: The account stream faults ``--streams`` draws, in a fixed order (a seed's plan depends on it).
STREAM_DRAWN_KINDS = tuple(kind for kind in FaultKind if kind.value.startswith("stream_"))
#: The venues that serve account streams (the others refuse stream faults).
STREAM_VENUES = ("backpack", "lighter", "grvt")
#: The venues that can play the bridge (BP) role; ``--bridge mixed`` draws one of them per cycle.
BRIDGE_VENUES = ROLE_VENUES["BP"]
BRIDGE_CHOICES = BRIDGE_VENUES + ("mixed",)
#: Phases at whose start a scheduled fault may be armed; "start" arms before the preflight, "after:<s>" that many
#: seconds after the cycle starts trading.
TRIGGER_PHASES = ("bp_entry", "l1_hedge", "wait", "l2_entry", "rebalance", "monitor", "flatten", "emergency_exit")


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
    streams: bool = False  # the run draws account stream faults (``--streams``): replays need it
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
               signals: bool = False, streams: bool = False) -> CyclePlan:
    """Draw a cycle's parameters and fault schedule (one to four faults of every kind) from ``seed``.

    ``bridge`` is the venue of the BP role, or "mixed" to draw it from the seed. The draw of the bridge uses its own
    stream, so a seed gives the same direction, sizes, timings and faults whatever venue bridges. With ``lag``,
    six cycles in ten also get records trailing one venue (or one leg's account) from the start, from a stream of
    their own too. With ``signals`` the cycle also gets an operator's stop signal, from a stream of its own. With
    ``streams``, seven cycles in ten also get one or two account stream faults (on the legs whose venue serves
    streams), from a stream of their own: the plan without them stays the seed's plan of a run without ``--streams``.
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
    venues = {**DEFAULT_VENUES, "BP": venue}
    faults = tuple(_draw_fault(rng, venues) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
    if lag:
        faults += _draw_lag(random.Random(derived_seed(seed, "chaos-lag")), venues)
    if streams:
        faults += _draw_stream_faults(random.Random(derived_seed(seed, "chaos-streams")), venues)
    kill_after = None
    if kill:
        # half of the kills land in the first 300 ms, where the entry and the hedge are in flight
        kill_after = round(rng.uniform(0.0, 0.3) if rng.random() < 0.5 else rng.uniform(0.0, 3.0), 3)
    return CyclePlan(seed, direction, l2_side, size, wait, monitor, faults, kill_after, bridge=venue,
                     bridge_choice=bridge, lag=lag, stop_signal=draw_signal(seed) if signals else None,
                     streams=streams)


def _draw_stream_faults(rng: random.Random, role_venues: dict[str, str]) -> tuple[ScheduledFault, ...]:
    """One or two faults of the legs' account streams (disconnect, stall, missed, duplicated or late pushes), on
    the roles whose venue serves streams; or nothing."""
    if rng.random() >= 0.7:
        return ()
    roles = [role for role in ROLES if role_venues[role] in STREAM_VENUES]
    faults = []
    for _ in range(rng.choice((1, 2))):
        kind = rng.choice(STREAM_DRAWN_KINDS)
        role = rng.choice(roles)
        options: dict[str, Any] = {}
        if kind is FaultKind.STREAM_STALL:
            options = {"seconds": rng.choice((0.5, 2.0, 5.0, 20.0))}
        elif kind in (FaultKind.STREAM_MISS, FaultKind.STREAM_DUPLICATE):
            options = {"count": rng.randint(1, 5)}
        elif kind is FaultKind.STREAM_DELAY:
            options = {"ms": rng.choice((20, 100, 400, 1500)), "count": rng.randint(1, 10)}
        faults.append(ScheduledFault(_draw_trigger(rng), role_venues[role], role, kind,
                                     tuple(sorted(options.items()))))
    return tuple(faults)


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
        role = rng.choice(LIGHTER_ROLES)
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
    return ScheduledFault(_draw_trigger(rng), venue, role, kind, tuple(sorted(options.items())))


def _draw_trigger(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.2:
        return "start"
    if draw < 0.8:
        return rng.choice(TRIGGER_PHASES)
    return f"after:{round(rng.uniform(0.0, 3.0), 2)}"
