"""What the hedge commands wire around the library: for ``hedge run`` the journal, the connectors of the roles, the
Telegram notifier and the heartbeats around one cycle (``run_cycle``) or a loop of them (``run_loop``), with what a
second signal leaves behind turned into the right error; for ``hedge recover`` the connectors around a recovery
(``recover_configured``, ``abandon_configured``).

The command line only parses, calls one of these, and renders (a cycle through a ``CycleDisplay``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hedgectl import locks
from hedgectl.config.groups import scoped_name
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.errors import Aborted, CycleAborted, ExitCode, HedgectlError, Interrupted, LockHeld
from hedgectl.journal import CycleRecord, Journal, journal_path
from hedgectl.runtime import run_strategy
from hedgectl.strategies.hedge.cycle import HedgeCycle, HedgeResult, legs_from_config
from hedgectl.strategies.hedge.loop import HedgeLoop, LoopReport, LoopSettings, loop_lock_key
from hedgectl.strategies.hedge.recovery import AbandonReport, RecoveryReport, abandon_cycle, recover_all
from hedgectl.strategies.hedge.status import CycleStatus
from hedgectl.strategies.hedge.venue_slots import take_venue_slots, venue_key

if TYPE_CHECKING:
    from hedgectl.config.model import Config, HedgeConfig
    from hedgectl.notify.hedge import HedgeTelegramNotifier
    from hedgectl.runtime import StopSignals

logger = logging.getLogger(__name__)

#: The exit code of a cycle's outcome as the journal records it (for a cycle whose result was not returned).
_OUTCOME_EXIT = {"completed": ExitCode.OK, "emergency_exit": ExitCode.SAFETY_EXIT, "aborted": ExitCode.FAILURE}
#: How long the loop's last notification may take: the loop's end stands whether or not it gets out.
_STOP_NOTICE_SECS = 20
#: What the error of a cycle that had resolved before a second signal says (the rehearsal recognises it).
ENDED_BEFORE_ABORT = "when a second signal came; nothing is open"


class CycleDisplay(Protocol):
    """How a person or a program sees the cycles run: events as they come, a live view, and each cycle's end."""

    def cycle_event(self, name: str, data: dict[str, Any], text: str) -> None:
        """An event of a cycle (phase moves, orders, fills)."""

    def loop_event(self, name: str, data: dict[str, Any], text: str) -> None:
        """An event of the loop between its cycles (a cycle starts, a pause, a stop)."""

    def watching(self, status: CycleStatus) -> AbstractContextManager:
        """Shown while the cycle runs."""

    def finished(self, result: HedgeResult, loop_cycle: int | None) -> None:
        """A cycle's end (``loop_cycle``: its number in a loop)."""


class EndedBeforeAbort(HedgectlError):
    """A second signal came after the cycle had already resolved: the exit code is its outcome's."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def aborted(journal: Journal, cycle: HedgeCycle | None) -> HedgectlError:
    """The error for a cycle cancelled by a second signal: 130 before anything was traded, 4 while anything may be
    open, else the code of the outcome the cycle had already recorded (it ended in between)."""
    if cycle is None or cycle.cycle_id is None:
        return Interrupted("interrupted before anything was traded")
    record = journal.cycle(cycle.cycle_id)
    if record is None or not record.resolved:
        return CycleAborted(
            f"cycle {cycle.cycle_id} aborted by a second signal without flattening: positions may be open; "
            "run 'hedgectl hedge recover'"
        )
    return EndedBeforeAbort(
        f"cycle {cycle.cycle_id} had ended ({record.outcome}) {ENDED_BEFORE_ABORT}",
        _OUTCOME_EXIT.get(record.outcome or "", ExitCode.FAILURE),
    )


def raise_if_unresolved(journal: Journal, cycle_id: str | None, error: BaseException) -> None:
    """An error that escapes a cycle which traded and is not resolved leaves positions to check: exit 4, say how."""
    if cycle_id is None:
        return
    record = journal.cycle(cycle_id)
    if record is not None and not record.resolved:
        raise CycleAborted(
            f"cycle {cycle_id} stopped by {type(error).__name__}: {error}; positions may be open: "
            "run 'hedgectl hedge recover'"
        ) from error


def notifier_from_config(config: Config, params: HedgeConfig) -> HedgeTelegramNotifier | None:
    """The Telegram notifier when Telegram is enabled and its token and chat id are set, else None."""
    telegram = config.telegram
    if not (telegram.enabled and telegram.bot_token and telegram.chat_id):
        return None
    from hedgectl.notify.hedge import HedgeTelegramNotifier

    return HedgeTelegramNotifier.from_config(telegram, liquidation_warning_pct=params.liquidation_warning_pct)


def start_heartbeats(config: Config, params: HedgeConfig, status: CycleStatus) -> asyncio.Task | None:
    """The heartbeat task (when telemetry is enabled): it reports what the cycle last read, never blocks it."""
    if not config.telemetry.enabled:
        return None
    from hedgectl.telemetry.heartbeat import start_heartbeat_task
    from hedgectl.telemetry.readings import readings_from_status
    from hedgectl.telemetry.settings import settings_from_config

    async def source():
        return readings_from_status(status, params)

    return start_heartbeat_task(settings_from_config(config.telemetry), source, wake=lambda: status.pushed)


async def _cancel_task(heartbeat: asyncio.Task | None) -> None:
    if heartbeat is not None:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)


class HedgeSession:
    """The journal, connectors and notifier one command's cycles share; ``close`` releases them all."""

    def __init__(self, config: Config, params: HedgeConfig, data_dir: Path, *, notify: bool = True,
                 group: str | None = None):
        self.config = config
        self.params = params
        self.data_dir = data_dir
        self.journal = Journal(journal_path(data_dir, group))
        self.connectors = ConnectorSet(config, data_dir=data_dir)
        self.notifier = notifier_from_config(config, params) if notify else None
        self._built: dict[str, Any] | None = None

    async def start_connectors(self) -> None:
        """Build and start the connector of every role."""
        names = sorted(set(self.params.roles.values()))
        self._built = {name: await self.connectors.get(name) for name in names}

    def cycle(self, *, on_event=None, dry_run: bool = False, spaced: bool = False) -> HedgeCycle:
        """A new cycle over the started connectors; ``spaced``: its orders that may wait take venue slots (a loop's
        cycles, which other loops of this machine may meet on a venue)."""
        if self._built is None:
            raise RuntimeError("start_connectors() first")
        legs = legs_from_config(self._built, self.params)
        spacing = None
        if spaced:
            async def spacing(roles: tuple[str, ...]) -> None:
                await take_venue_slots(self.data_dir, [venue_key(legs[role].connector.config) for role in roles])

        return HedgeCycle(legs, self.params, journal=self.journal, data_dir=self.data_dir, notifier=self.notifier,
                          on_event=on_event, dry_run=dry_run, spacing=spacing)

    async def close(self) -> None:
        if self.notifier is not None:
            await self.notifier.aclose()
        await self.connectors.close()
        self.journal.close()


async def _watched(session: HedgeSession, cycle: HedgeCycle, display: CycleDisplay, signals: StopSignals,
                   loop_cycle: int | None) -> HedgeResult:
    """Run one cycle under the signals while the display watches it; an error that leaves it unresolved says so."""
    try:
        with display.watching(cycle.status):
            result = await run_strategy(cycle, signals=signals)
    except Exception as exc:
        raise_if_unresolved(session.journal, cycle.cycle_id, exc)
        raise
    display.finished(result, loop_cycle)
    return result


async def run_cycle(config: Config, params: HedgeConfig, data_dir: Path, display: CycleDisplay, *,
                    signals: StopSignals, dry_run: bool = False) -> HedgeResult:
    """One hedge cycle as ``hedge run`` runs it, under the command's ``signals``; a dry run only plans (its result
    is not passed to ``display.finished``)."""
    session = HedgeSession(config, params, data_dir, notify=not dry_run, group=scoped_name(config))
    heartbeat = None
    cycle = None
    # until the cycle runs, nothing can be traded: a signal stops the command at once
    signals.attach(asyncio.current_task())
    try:
        await session.start_connectors()
        cycle = session.cycle(on_event=None if dry_run else display.cycle_event, dry_run=dry_run)
        if dry_run:
            return await run_strategy(cycle)
        heartbeat = start_heartbeats(config, params, cycle.status)
        return await _watched(session, cycle, display, signals, None)
    except asyncio.CancelledError:
        raise aborted(session.journal, cycle) from None
    finally:
        signals.detach()
        await _cancel_task(heartbeat)
        await session.close()


async def run_loop(config: Config, params: HedgeConfig, data_dir: Path, settings: LoopSettings,
                   display: CycleDisplay, *, signals: StopSignals) -> LoopReport:
    """Run the loop's cycles, each as ``hedge run`` runs one (fresh cycle, same preflight and locks), over one set
    of connectors, with the loop's lock on ``data_dir`` held throughout."""
    session = HedgeSession(config, params, data_dir, group=settings.group)
    current: dict[str, HedgeCycle | None] = {"cycle": None}
    lock = None
    heartbeat = None
    summaries = None
    # until a cycle runs, nothing can be traded: a signal stops the command at once
    signals.attach(asyncio.current_task())
    try:
        try:
            lock = locks.acquire(data_dir, loop_lock_key(settings.group), purpose="hedge loop")
        except LockHeld as exc:
            which = "" if settings.group is None else f" for group '{settings.group}'"
            stop = "'hedgectl hedge stop" + ("'" if settings.group is None else f" --group {settings.group}'")
            raise LockHeld(f"a hedge loop already runs{which} on {data_dir} ({exc}); {stop} ends it") from None
        await session.start_connectors()
        signals.detach()

        async def one_cycle(number: int) -> HedgeResult:
            nonlocal heartbeat
            # another loop of this machine (a fleet's other group) may trade the same venues: the cycle's orders
            # that may wait take the venues' slots
            cycle = session.cycle(on_event=display.cycle_event, spaced=True)
            current["cycle"] = cycle
            if heartbeat is None:
                heartbeat = _loop_heartbeats(config, params, current)
            return await _watched(session, cycle, display, signals, number)

        summaries = _daily_summaries(config, session.notifier, data_dir, settings.group)
        report = await HedgeLoop(settings, one_cycle, signals=signals, on_event=display.loop_event).run()
        if session.notifier is not None:
            await _notify_stop(session.notifier, report)
        return report
    except asyncio.CancelledError:
        raise aborted(session.journal, current["cycle"]) from None
    finally:
        signals.detach()
        await _cancel_task(summaries)
        await _cancel_task(heartbeat)
        if lock is not None:
            lock.release()
        await session.close()


def _loop_heartbeats(config: Config, params: HedgeConfig, current: dict[str, HedgeCycle | None]):
    """One heartbeat task for the whole loop (when telemetry is enabled): it goes on through the pauses between
    cycles, reporting what the last cycle read at its end, so the collector never sees a running loop go quiet."""
    if not config.telemetry.enabled:
        return None
    from hedgectl.telemetry.heartbeat import start_heartbeat_task
    from hedgectl.telemetry.readings import readings_from_status
    from hedgectl.telemetry.settings import settings_from_config

    async def source():
        cycle = current["cycle"]
        assert cycle is not None  # the task starts with the first cycle
        return readings_from_status(cycle.status, params)

    def wake():
        cycle = current["cycle"]
        return None if cycle is None else cycle.status.pushed

    return start_heartbeat_task(settings_from_config(config.telemetry), source, wake=wake)


def _daily_summaries(config: Config, notifier: HedgeTelegramNotifier | None, data_dir: Path,
                     group: str | None) -> asyncio.Future | None:
    """The task that sends the group's daily Telegram summary at ``[telegram] daily_summary``, or None."""
    if notifier is None or not config.telegram.daily_summary:
        return None
    from hedgectl.notify.daily import parse_summary_time, run_daily_summaries

    at = parse_summary_time(config.telegram.daily_summary)
    return asyncio.ensure_future(run_daily_summaries(
        notifier.notifier, at, [(group, journal_path(data_dir, group))], data_dir))


async def _notify_stop(notifier: HedgeTelegramNotifier, report: LoopReport) -> None:
    try:
        await asyncio.wait_for(notifier.loop_stopped(report), timeout=_STOP_NOTICE_SECS)
    except Exception as exc:  # the loop's end stands whether or not the message gets out
        logger.warning("notification of the loop's stop failed: %s", exc)


async def recover_configured(journal: Journal, config: Config, *, data_dir: Path, action: str,
                             signals: StopSignals) -> list[RecoveryReport]:
    """``recover_all`` over the configured connectors; the first signal lets it finish, a second aborts it."""
    signals.attach(asyncio.current_task(), closing=True)
    try:
        async with ConnectorSet(config, data_dir=data_dir) as connectors:
            return await recover_all(journal, connectors, data_dir=data_dir, action=action)
    except asyncio.CancelledError:
        raise Aborted(
            "recovery aborted by a second signal: positions may be open; run 'hedgectl hedge recover' again"
        ) from None
    finally:
        signals.detach()


async def abandon_configured(journal: Journal, config: Config | None, cycle: CycleRecord, *, reason: str,
                             data_dir: Path, confirm: Callable[[AbandonReport], bool]) -> AbandonReport:
    """``abandon_cycle`` with the configured connectors, or with none when there is no config (past paper runs)."""
    if config is None:
        return await abandon_cycle(journal, None, cycle, reason=reason, data_dir=data_dir, confirm=confirm)
    async with ConnectorSet(config, data_dir=data_dir) as connectors:
        return await abandon_cycle(journal, connectors, cycle, reason=reason, data_dir=data_dir, confirm=confirm)
