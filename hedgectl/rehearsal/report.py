"""What a rehearsal reports: one cycle's outcome and end state, and a run's totals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hedgectl.rehearsal.checks import EndState, LegAccount
from hedgectl.rehearsal.plan import DRAWN_KINDS, STREAM_DRAWN_KINDS, CyclePlan
from hedgectl.sim.faults import FaultKind


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
                + (" --streams" if self.plan.streams else "")
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
        if any(cycle.plan.streams for cycle in self.cycles):
            drawn += STREAM_DRAWN_KINDS
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
