"""The operator's signals in the chaos rehearsal (``sim chaos --signals``): which stop signal a cycle's ``hedge run``
process gets, in which phase and how long after it starts, drawn from the cycle's seed on a stream of its own; and
the sender that delivers it when the process's JSON events say the phase has come."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
from dataclasses import dataclass

from hedgectl.sim.market import derived_seed

#: What an operator's world sends: a hangup (a dropped SSH session), a supervisor's SIGTERM, Ctrl-C once or twice,
#: Ctrl-\.
SIGNAL_KINDS = ("SIGHUP", "SIGTERM", "SIGINT", "double SIGINT", "SIGQUIT")
#: Where a signal may land: the preflight event, then the phases of a cycle that trades.
SIGNAL_PHASES = ("preflight", "bp_entry", "l1_hedge", "wait", "l2_entry", "rebalance", "monitor")
#: When the cycle ends (an emergency exit, the flatten) before the drawn phase comes, the signal lands there.
ENDING_PHASES = ("emergency_exit", "flatten")
#: Exit codes a signalled ``hedge run`` may give: completed (the signal came too late to matter), failed without
#: anything open, safety exit, something open (recover), interrupted before trading.
SIGNALLED_EXIT_CODES = (0, 1, 3, 4, 130)


@dataclass(frozen=True)
class SignalPlan:
    """One cycle's signal: its kind, the phase it lands in, the delay after the phase starts, and for a double
    SIGINT the gap between the two."""

    kind: str
    phase: str
    delay_secs: float
    gap_secs: float

    def signals(self) -> list[signal.Signals]:
        if self.kind == "double SIGINT":
            return [signal.SIGINT, signal.SIGINT]
        return [signal.Signals[self.kind]]

    def describe(self) -> str:
        gap = f" (second after {self.gap_secs:g}s)" if self.kind == "double SIGINT" else ""
        return f"{self.kind}{gap} {self.delay_secs:g}s into {self.phase}"


def draw_signal(seed: int) -> SignalPlan:
    """The signal of the cycle with ``seed`` (its own stream: the rest of the cycle's plan stays the seed's)."""
    rng = random.Random(derived_seed(seed, "chaos-signals"))
    kind = rng.choice(SIGNAL_KINDS)
    phase = rng.choice(SIGNAL_PHASES)
    return SignalPlan(kind, phase, round(rng.uniform(0.0, 0.25), 3), round(rng.uniform(0.02, 0.4), 3))


class SignalSender:
    """Sends a plan's signal(s) to a running process when its phase comes; feed it the process's JSON events."""

    def __init__(self, plan: SignalPlan, process: subprocess.Popen):
        self.plan = plan
        self.process = process
        self.landed_in: str | None = None  # the phase in which the signal was sent
        self.sent: list[str] = []
        self._thread: threading.Thread | None = None
        self._cancelled = threading.Event()

    def on_event(self, event: dict) -> None:
        name = event.get("event")
        phase = event.get("phase") if name == "phase" else name if name == "preflight" else None
        if self._thread is not None or phase is None:
            return
        if phase == self.plan.phase or phase in ENDING_PHASES:
            self.landed_in = phase
            self._thread = threading.Thread(target=self._send, name="chaos-signal", daemon=True)
            self._thread.start()

    def _send(self) -> None:
        delays = [self.plan.delay_secs] + [self.plan.gap_secs] * (len(self.plan.signals()) - 1)
        for delay, signum in zip(delays, self.plan.signals()):
            if self._cancelled.wait(delay) or self.process.poll() is not None:
                return
            self.process.send_signal(signum)
            self.sent.append(signum.name)

    def finish(self) -> None:
        """Stop sending (the process ended) and wait for the sender."""
        self._cancelled.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def describe(self) -> str:
        if not self.sent:
            return "no signal sent: the cycle ended first"
        return f"{' + '.join(self.sent)} in {self.landed_in}"


def ignore_without_passing_on() -> list[int]:
    """Keep ignoring the stop signals this process was started with ignored (``nohup``), through a handler instead
    of SIG_IGN: an ignored disposition passes on to child processes, and the ``hedge run`` children must meet the
    signals as an operator's process would. Returns the signals it changed (main thread only)."""
    changed = []
    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        if signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, _ignore)
            changed.append(signum)
    return changed


def _ignore(signum: int, frame: object) -> None:
    """A stop signal this rehearsal was started with ignored."""


__all__ = ["SIGNAL_KINDS", "SIGNAL_PHASES", "SignalPlan", "SignalSender", "draw_signal", "ignore_without_passing_on"]
