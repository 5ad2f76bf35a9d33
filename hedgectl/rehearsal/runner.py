"""Running the chaos rehearsal: ``ChaosRunner`` runs each cycle (in this process, or as a ``hedgectl hedge run``
process that is killed or signalled, then recovered) on one set of embedded paper venues, and ``run_chaos`` drives a
whole run and its report."""

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
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgectl.decimals import plain
from hedgectl.registry import default_symbols
from hedgectl.rehearsal.checks import EndState, LegAccount, inspect_end_state
from hedgectl.rehearsal.plan import BRIDGE_CHOICES, BRIDGE_VENUES, CyclePlan, ScheduledFault, cycle_seed, plan_cycle
from hedgectl.rehearsal.report import ChaosReport, CycleReport
from hedgectl.rehearsal.signals import SIGNALLED_EXIT_CODES, SignalSender, ignore_without_passing_on
from hedgectl.sim.exchange import Exchange
from hedgectl.strategies.hedge.session import ENDED_BEFORE_ABORT

if TYPE_CHECKING:
    from hedgectl.sim.runner import ThreadedPaperVenues

logger = logging.getLogger(__name__)

SYMBOLS = default_symbols()
#: A cycle that has not ended by then is stopped and reported as hung.
CYCLE_TIMEOUT_SECS = 120.0
#: How long the final sweep waits for requests still in flight (the longest injected delay is about 1.6 s).
SETTLE_SECS = 2.0
RECOVERY_TIMEOUT_SECS = 120.0


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
        from hedgectl.connectors.factory import ConnectorSet
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
        from hedgectl.connectors.factory import ConnectorSet
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
        stderr = (cycle_dir / "hedge-run.stderr").read_text(errors="replace").strip() if summary is None else ""
        if summary is None and sender is not None and sender.sent and process.returncode in (4, 130):
            report.outcome = "aborted by signal" if process.returncode == 4 else "interrupted"
            report.reason = stderr[-300:]
        elif summary is None and sender is not None and sender.sent and ENDED_BEFORE_ABORT in stderr:
            # the second signal came after the cycle had resolved: the exit code is its outcome's, and no summary
            # is printed; the end state is judged from the venues like any other
            report.outcome = "ended before the second signal"
            report.reason = stderr[-300:]
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
    streams: bool = False,
) -> ChaosReport:
    """Run ``cycles`` cycles seeded from ``seed`` (or the one cycle of seed ``replay``) on one set of venues, the
    bridge (BP) role on ``bridge``: "backpack", "grvt", or "mixed" (drawn per cycle from its seed); with ``signals``
    each cycle is a ``hedge run`` process sent an operator's stop signal; with ``streams`` the cycles also draw
    account stream faults."""
    options = dict(kill=kill, bridge=bridge, lag=lag, signals=signals, streams=streams)
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
