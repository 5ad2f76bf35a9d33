"""Hedge cycles one after another, with a random pause between them, until a stop condition says to end.

Each cycle is a fresh, fully journaled cycle run by the caller's ``run_cycle`` (same preflight and locks as a single
run). The loop only decides whether to start the next one: it ends, always between cycles, when a cycle left
something open, when the operator stopped it (a signal, ``hedge stop``, a stop file), at a loss limit counted from
the cycles' realised PnL (the venues' fills, fees included), after too many emergency exits in a row, or when it ran
the cycles it was asked for.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedgectl.config.model import MIN_PAUSE_SECS
from hedgectl.decimals import ZERO, plain
from hedgectl.errors import Aborted, ExitCode, HedgectlError
from hedgectl.strategies.hedge.cycle import HedgeResult
from hedgectl.strategies.hedge.phases import Outcome

logger = logging.getLogger(__name__)

#: How often the stop files are looked at, during a cycle and during the pause.
STOP_FILE_POLL_SECS = 0.25


def stop_file_path(data_dir: Path, group: str | None = None) -> Path:
    """Where ``hedge stop`` asks the loop (of ``group``, or the default one) of this data directory to end."""
    return data_dir / ("hedge-loop.stop" if group is None else f"hedge-loop.{group}.stop")


def loop_lock_key(group: str | None = None) -> str:
    """The lock a running loop holds, so ``hedge stop`` can tell whether one runs (the kernel drops it on exit)."""
    return "hedge-loop" if group is None else f"hedge-loop.{group}"


class StopReason(str, enum.Enum):
    DONE = "done"  # ran every cycle it was asked for
    STOP_REQUESTED = "stop_requested"  # hedge stop, or the stop file
    SIGNAL = "signal"  # a stop signal (the cycle it came in ended safe first)
    FAILED = "failed"  # a cycle left something open or unknown at a venue
    REFUSED = "refused"  # a cycle was refused before it traded (preflight, locks, a venue down)
    EMERGENCY_EXITS = "emergency_exits"  # more emergency exits in a row than allowed
    LOSS_LIMIT_DAY = "loss_limit_day"  # the UTC day's realised loss reached the limit
    LOSS_LIMIT_TOTAL = "loss_limit_total"  # the loop's realised loss reached the limit


@dataclass(frozen=True)
class LoopSettings:
    """What the loop runs and when it stops; ``repeat`` None runs until a stop condition."""

    repeat: int | None = None
    pause_min_secs: float = 30.0
    pause_max_secs: float = 90.0
    max_loss_day: Decimal | None = None
    max_loss_total: Decimal | None = None
    max_emergency_exits: int = 2
    #: this loop's own stop file (``hedge stop`` writes it; the loop removes it)
    stop_file: Path | None = None
    #: an operator's stop file (``--stop-file``): honoured whenever it exists, never removed
    operator_stop_file: Path | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if self.repeat is not None and self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {self.repeat}")
        if not MIN_PAUSE_SECS <= self.pause_min_secs <= self.pause_max_secs:
            raise ValueError(f"pause must be {MIN_PAUSE_SECS:g} <= min <= max seconds, got "
                             f"{self.pause_min_secs:g}..{self.pause_max_secs:g}")
        if self.max_emergency_exits < 0:
            raise ValueError(f"max_emergency_exits cannot be negative, got {self.max_emergency_exits}")
        for name in ("max_loss_day", "max_loss_total"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be greater than zero, got {value}")


@dataclass(frozen=True)
class CycleRecord:
    """One cycle of the loop as the loop counts it."""

    number: int
    cycle_id: str | None
    outcome: str
    reason: str
    pnl: Decimal  # realised, fees included
    day: str  # the UTC day it ended on
    left_open: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "cycle_id": self.cycle_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "pnl": plain(self.pnl),
            "day": self.day,
            "left_open": self.left_open,
        }


@dataclass
class LoopReport:
    """What the loop did and why it ended."""

    settings: LoopSettings
    cycles: list[CycleRecord] = field(default_factory=list)
    stop_reason: StopReason | None = None
    stop_detail: str = ""
    #: the signal stopped a cycle (as opposed to arriving in the pause)
    signal_in_cycle: bool = False
    last_result: HedgeResult | None = None
    error: HedgectlError | None = None

    @property
    def pnl_total(self) -> Decimal:
        return sum((c.pnl for c in self.cycles), ZERO)

    def pnl_by_day(self) -> dict[str, Decimal]:
        days: dict[str, Decimal] = {}
        for cycle in self.cycles:
            days[cycle.day] = days.get(cycle.day, ZERO) + cycle.pnl
        return days

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cycle in self.cycles:
            counts[cycle.outcome] = counts.get(cycle.outcome, 0) + 1
        return counts

    @property
    def left_open(self) -> bool:
        return any(c.left_open for c in self.cycles)

    @property
    def exit_code(self) -> int:
        """0: ran its cycles or was asked to stop; 3: a safety stop (emergency exits, loss limit) with every venue
        flat; 4: something left open; 1 (or the refusal's own code): a cycle refused with nothing open; a signal:
        the code a single run gives for the cycle it stopped, 130 when it came between cycles."""
        if self.left_open:
            return ExitCode.POSITION_OPEN
        reason = self.stop_reason
        if reason is StopReason.REFUSED and self.error is not None:
            return self.error.exit_code
        if reason in (StopReason.EMERGENCY_EXITS, StopReason.LOSS_LIMIT_DAY, StopReason.LOSS_LIMIT_TOTAL):
            return ExitCode.SAFETY_EXIT
        if reason is StopReason.SIGNAL:
            result = self.last_result
            if not self.signal_in_cycle or result is None or result.interrupted:
                return ExitCode.INTERRUPTED
            if result.outcome is Outcome.EMERGENCY_EXIT:
                return ExitCode.SAFETY_EXIT
            return ExitCode.OK if result.outcome is Outcome.COMPLETED else ExitCode.FAILURE
        if reason is StopReason.FAILED:
            return ExitCode.FAILURE
        return ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.settings.group,
            "cycles_run": len(self.cycles),
            "repeat": self.settings.repeat,
            "outcomes": self.outcomes(),
            "pnl_total": plain(self.pnl_total),
            "pnl_by_day": {day: plain(value) for day, value in self.pnl_by_day().items()},
            "stop_reason": None if self.stop_reason is None else self.stop_reason.value,
            "stop_detail": self.stop_detail,
            "exit_code": int(self.exit_code),
            "cycles": [c.as_dict() for c in self.cycles],
        }


#: Runs one fresh cycle (``number`` counts from 1) to its end and returns its result; it raises for a refusal.
CycleRunner = Callable[[int], Awaitable[HedgeResult]]
#: Reports a loop event (name, data, text) to the operator.
LoopEventSink = Callable[[str, dict[str, Any], str], None]


class HedgeLoop:
    """Runs cycles through ``run_cycle`` until a stop condition; ``await run()`` returns the LoopReport.

    ``signals`` (a ``StopSignals``) is attached to the pause so a first signal ends it at once; during a cycle the
    runner attaches it to the cycle, which ends safe. ``now`` gives the time (UTC) that dates each cycle's PnL.
    """

    def __init__(
        self,
        settings: LoopSettings,
        run_cycle: CycleRunner,
        *,
        signals: Any = None,
        on_event: LoopEventSink | None = None,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ):
        self.settings = settings
        self.run_cycle = run_cycle
        self.signals = signals
        self.on_event = on_event
        self.now = now or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()
        self.report = LoopReport(settings)
        self._wake = asyncio.Event()
        self._stop_file_seen: Path | None = None
        self._in_cycle = False

    def _emit(self, name: str, text: str, **data: Any) -> None:
        logger.info("%s", text)
        if self.on_event is not None:
            try:
                self.on_event(name, data, text)
            except Exception as exc:  # reporting must never stop the loop halfway through a decision
                logger.warning("loop event output failed (%s: %s)", type(exc).__name__, exc)
                self.on_event = None

    @property
    def _signalled(self) -> bool:
        return self.signals is not None and self.signals.stop_requested

    # --- the loop --------------------------------------------------------------------------------------------

    async def run(self) -> LoopReport:
        own = self.settings.stop_file
        if own is not None:
            own.unlink(missing_ok=True)  # a request left by a loop that died before reading it is not for us
        self._look_for_stop_files()  # a stop file there before the start ends the loop before its first cycle
        watcher = asyncio.ensure_future(self._watch_stop_files())
        try:
            await self._cycles()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            if own is not None:
                own.unlink(missing_ok=True)
        report = self.report
        self._emit(
            "loop_stopped",
            f"loop stopped after {len(report.cycles)} cycle(s): {report.stop_reason.value}: {report.stop_detail}",
            reason=report.stop_reason.value, detail=report.stop_detail,
        )
        return report

    async def _cycles(self) -> None:
        number = 0
        streak = 0
        while True:
            if self._stop_before_cycle(number):
                return
            number += 1
            self._emit("loop_cycle", f"loop: cycle {number}" + (f" of {self.settings.repeat}"
                                                                 if self.settings.repeat else ""), number=number)
            self._in_cycle = True
            try:
                result = await self.run_cycle(number)
            except Aborted:
                raise
            except HedgectlError as exc:
                self.report.error = exc
                self._stop(StopReason.REFUSED, f"cycle {number} refused: {exc}")
                return
            finally:
                self._in_cycle = False
            self.report.last_result = result
            record = self._record(number, result)
            if result.outcome is Outcome.EMERGENCY_EXIT:
                streak += 1
            elif result.outcome is Outcome.COMPLETED:
                streak = 0
            if self._stop_after_cycle(record, result, streak):
                return
            if self.settings.repeat is not None and number >= self.settings.repeat:
                self._stop(StopReason.DONE, f"ran {number} cycle(s) as asked")
                return
            await self._pause(number)

    def _record(self, number: int, result: HedgeResult) -> CycleRecord:
        record = CycleRecord(
            number=number,
            cycle_id=result.cycle_id,
            outcome=result.outcome.value,
            reason=result.reason,
            pnl=result.pnl.get("total", ZERO),
            day=self.now().astimezone(UTC).date().isoformat(),
            left_open=bool(result.open_positions) or result.outcome is Outcome.FAILED,
        )
        self.report.cycles.append(record)
        self._emit("loop_tally", f"loop: cycle {number} {record.outcome}, PnL {plain(record.pnl)}, "
                   f"total {plain(self.report.pnl_total)}", number=number, cycle_id=record.cycle_id,
                   outcome=record.outcome, pnl=plain(record.pnl), pnl_total=plain(self.report.pnl_total))
        return record

    def _stop(self, reason: StopReason, detail: str) -> None:
        self.report.stop_reason = reason
        self.report.stop_detail = detail

    def _stop_before_cycle(self, number: int) -> bool:
        """The reasons that end the loop without a cycle to wait for: a signal or a stop request."""
        if self._signalled:
            name = self.signals.received[0].name
            self._stop(StopReason.SIGNAL, f"{name} received" + (" between cycles" if number else " before a cycle"))
            return True
        if self._stop_file_seen is not None:
            self._stop(StopReason.STOP_REQUESTED, f"stop requested ({self._stop_file_seen})")
            return True
        return False

    def _stop_after_cycle(self, record: CycleRecord, result: HedgeResult, streak: int) -> bool:
        settings = self.settings
        if record.left_open:
            self._stop(StopReason.FAILED, f"cycle {record.number} left something open: "
                       + ("; ".join(result.open_positions) or result.reason))
            return True
        if self._signalled:
            self.report.signal_in_cycle = True
            self._stop(StopReason.SIGNAL, f"{self.signals.received[0].name} received during cycle {record.number}; "
                       f"it ended {record.outcome}")
            return True
        day_pnl = self.report.pnl_by_day().get(record.day, ZERO)
        if settings.max_loss_day is not None and -day_pnl >= settings.max_loss_day:
            self._stop(StopReason.LOSS_LIMIT_DAY, f"loss on {record.day} is {plain(-day_pnl)}, limit "
                       f"{plain(settings.max_loss_day)} a day")
            return True
        total = self.report.pnl_total
        if settings.max_loss_total is not None and -total >= settings.max_loss_total:
            self._stop(StopReason.LOSS_LIMIT_TOTAL, f"loss in total is {plain(-total)}, limit "
                       f"{plain(settings.max_loss_total)}")
            return True
        if streak > settings.max_emergency_exits:
            self._stop(StopReason.EMERGENCY_EXITS, f"{streak} emergency exits in a row (allowed: "
                       f"{settings.max_emergency_exits}); last: {result.reason}")
            return True
        return self._stop_before_cycle(record.number)

    # --- between cycles --------------------------------------------------------------------------------------

    async def _pause(self, number: int) -> None:
        """Wait the drawn pause, or less when a signal or a stop request comes (the next check then ends)."""
        seconds = self.rng.uniform(self.settings.pause_min_secs, self.settings.pause_max_secs)
        self._emit("pause", f"loop: pause {seconds:.1f} s before cycle {number + 1} "
                   "('hedgectl hedge stop' ends the loop)", seconds=round(seconds, 3), next=number + 1)
        self._wake.clear()
        if self.signals is not None:
            self.signals.attach(asyncio.current_task(), self._wake)
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
        finally:
            if self.signals is not None:
                self.signals.detach()

    def _stop_files(self) -> list[Path]:
        return [path for path in (self.settings.stop_file, self.settings.operator_stop_file) if path is not None]

    def _look_for_stop_files(self) -> bool:
        if self._stop_file_seen is not None:
            return True
        for path in self._stop_files():
            if path.exists():
                self._stop_file_seen = path
                during = "cycle" if self._in_cycle else "pause"
                self._emit("stop_requested", f"stop requested ({path}): "
                           + ("the current cycle runs to its end, then the loop ends" if during == "cycle"
                              else "the loop ends now"), path=str(path), during=during)
                self._wake.set()
                return True
        return False

    async def _watch_stop_files(self) -> None:
        if not self._stop_files():
            return
        while not self._look_for_stop_files():
            await asyncio.sleep(STOP_FILE_POLL_SECS)


def request_stop(data_dir: Path, group: str | None = None) -> Path:
    """Ask the loop running on ``data_dir`` to end after its current cycle; returns the stop file written."""
    path = stop_file_path(data_dir, group)
    path.write_text(f"stop requested at {datetime.now(UTC).isoformat()}\n")
    return path


def loop_running(data_dir: Path, group: str | None = None) -> bool:
    """Whether a process holds the loop's lock on ``data_dir``."""
    from hedgectl import locks
    from hedgectl.errors import LockHeld

    try:
        lock = locks.acquire(data_dir, loop_lock_key(group), purpose="hedge stop")
    except LockHeld:
        return True
    lock.release()
    return False


__all__ = [
    "CycleRecord",
    "HedgeLoop",
    "LoopReport",
    "LoopSettings",
    "StopReason",
    "loop_lock_key",
    "loop_running",
    "request_stop",
    "stop_file_path",
]
