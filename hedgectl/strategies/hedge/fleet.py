"""A fleet: every hedge group's loop at once, one child process per group, and the status file that shows them.

Each group runs as its own ``hedgectl hedge run --group NAME`` process (its own journal, locks, stop file and signal
handling, the same code as a single loop), started in its own session so that a Ctrl-C at the terminal reaches the
fleet alone; the fleet passes every stop signal it gets to each group exactly once. So a group that crashes takes no
other group's cycle with it, and a signal ends every group's current cycle the way it ends a single loop's.
The fleet reads each child's JSON events into a ``fleet-status.json`` beside the journals for ``fleet status``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hedgectl.decimals import ZERO, plain
from hedgectl.errors import ExitCode

logger = logging.getLogger(__name__)

#: The signals the fleet passes on to its groups (each then ends its current cycle safe).
FLEET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
#: The lock a running fleet holds on its data directory.
FLEET_LOCK_KEY = "fleet"
#: The longest text kept from a child's event (it may carry what a venue said).
MAX_TEXT = 300


def fleet_status_path(data_dir: Path) -> Path:
    return data_dir / "fleet-status.json"


def _today(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@dataclass
class GroupState:
    """What ``fleet status`` shows for one group, kept up to date from the group's own events."""

    name: str
    state: str = "waiting"  # waiting, running, ended
    phase: str = "-"
    cycles: int = 0
    pnl_by_day: dict[str, str] = field(default_factory=dict)
    last_outcome: str | None = None
    stop_reason: str | None = None
    stop_detail: str = ""
    exit_code: int | None = None
    pid: int | None = None
    restarts: int = 0

    def pnl_on(self, day: str) -> Decimal:
        return Decimal(self.pnl_by_day.get(day, "0"))

    def apply(self, event: dict[str, Any], now: datetime) -> None:
        """Fold one JSON event of the group's ``hedge run --json`` into the state."""
        name = event.get("event")
        if name == "phase":
            self.phase = _short(event.get("phase"))
        elif name == "loop_cycle":
            self.phase = "cycle"
        elif name == "pause":
            self.phase = "pause"
        elif name == "loop_tally":
            self.cycles += 1
            self.last_outcome = _short(event.get("outcome"))
            try:
                pnl = Decimal(str(event.get("pnl", "0")))
            except InvalidOperation:
                pnl = ZERO
            day = _today(now)
            self.pnl_by_day[day] = plain(self.pnl_on(day) + pnl)
        elif name == "loop":
            self.stop_reason = _short(event.get("stop_reason"))
            self.stop_detail = _short(event.get("stop_detail"))
            self.phase = "stopped"

    def as_dict(self, today: str) -> dict[str, Any]:
        data = asdict(self)
        data["pnl_today"] = plain(self.pnl_on(today))
        return data


def fleet_exit_code(codes: list[int]) -> int:
    """Something left open anywhere outranks everything; else the first group's failure; else 0."""
    if ExitCode.POSITION_OPEN in codes:
        return ExitCode.POSITION_OPEN
    return next((code for code in codes if code != 0), ExitCode.OK)


#: Builds the command line that runs one group's loop.
GroupCommand = Callable[[str], list[str]]
#: Reports one line of a group's output to the operator: (group, event or None, text).
FleetOutput = Callable[[str, dict[str, Any] | None, str], None]


class Fleet:
    """Runs one child process per group, ``stagger_secs`` apart, until every one has ended; ``await run()``
    returns each group's state. Signals are handled here (main thread): each one is passed to every child."""

    def __init__(
        self,
        groups: list[str],
        command: GroupCommand,
        *,
        data_dir: Path,
        env: dict[str, str] | None = None,
        stagger_secs: float = 5.0,
        restarts: int = 0,
        output: FleetOutput | None = None,
        now: Callable[[], datetime] | None = None,
    ):
        self.groups = {name: GroupState(name) for name in groups}
        self.command = command
        self.data_dir = data_dir
        self.env = env
        self.stagger_secs = stagger_secs
        self.restarts = restarts
        self.output = output
        self.now = now or (lambda: datetime.now(UTC))
        self.received: list[signal.Signals] = []
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()
        self.started_at = self.now().isoformat()

    # --- status file -----------------------------------------------------------------------------------------

    def snapshot(self, *, running: bool = True) -> dict[str, Any]:
        today = _today(self.now())
        return {
            "running": running,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": self.now().isoformat(),
            "signals": [s.name for s in self.received],
            "groups": [g.as_dict(today) for g in self.groups.values()],
        }

    def _write_status(self, *, running: bool = True) -> None:
        path = fleet_status_path(self.data_dir)
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(self.snapshot(running=running), indent=1))
            os.replace(temporary, path)
        except OSError as exc:  # the status file is for watching; the groups' cycles never wait on it
            logger.warning("cannot write %s: %s", path, exc)

    # --- signals ---------------------------------------------------------------------------------------------

    def _on_signal(self, signum: signal.Signals) -> None:
        self.received.append(signum)
        self._stopping.set()
        for name, child in self._children.items():
            if child.returncode is None:
                logger.info("fleet: passing %s to group %s (pid %d)", signum.name, name, child.pid)
                try:
                    child.send_signal(signum)
                except ProcessLookupError:
                    pass
        self._write_status()

    # --- running ---------------------------------------------------------------------------------------------

    async def run(self) -> dict[str, GroupState]:
        loop = asyncio.get_running_loop()
        installed = []
        for signum in FLEET_SIGNALS:
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
                installed.append(signum)
            except (ValueError, RuntimeError, NotImplementedError):
                pass
        try:
            self._write_status()
            await asyncio.gather(*(self._run_group(index, name) for index, name in enumerate(self.groups)))
        finally:
            from hedgectl import runtime

            for signum in installed:
                loop.remove_signal_handler(signum)
                if runtime._hold_until_exit:
                    # the process ends with the fleet: a late signal must not kill it before it reports
                    signal.signal(signum, lambda number, frame: logger.info("signal %d after the fleet ended", number))
            self._write_status(running=False)
        return self.groups

    async def _run_group(self, index: int, name: str) -> None:
        state = self.groups[name]
        if index:
            # start the groups apart, so their first cycles do not open on a venue in the same moment
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=index * self.stagger_secs)
            except TimeoutError:
                pass
        if self._stopping.is_set():
            state.state, state.phase, state.stop_reason = "ended", "not started", "signal"
            state.stop_detail = "a stop signal came before the group started"
            state.exit_code = ExitCode.OK
            self._write_status()
            return
        while True:
            await self._run_child(name)
            # a cycle refused before it traded (a venue down in its preflight) left nothing open: the group may
            # start again, as often as the operator allows
            if state.stop_reason != "refused" or state.restarts >= self.restarts or self._stopping.is_set():
                return
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.stagger_secs)
                return
            except TimeoutError:
                pass
            state.restarts += 1
            state.stop_reason, state.stop_detail = None, ""
            self._say(name, None, f"group {name} starts again (restart {state.restarts} of {self.restarts})")

    async def _run_child(self, name: str) -> None:
        state = self.groups[name]
        child = await asyncio.create_subprocess_exec(
            *self.command(name), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL, env=self.env, start_new_session=True,
        )
        self._children[name] = child
        state.state, state.pid = "running", child.pid
        self._write_status()
        if self._stopping.is_set():
            # the signal came while the process was being started: it gets it too
            child.send_signal(self.received[-1])
        await asyncio.gather(self._read_events(name, child.stdout), self._read_errors(name, child.stderr))
        state.exit_code = await child.wait()
        state.state = "ended"
        if state.stop_reason is None:
            state.stop_reason, state.stop_detail = "exited", f"the group's process ended with {state.exit_code}"
        self._write_status()
        self._say(name, None, f"group {name} ended ({state.stop_reason}), exit code {state.exit_code}")

    async def _read_events(self, name: str, stream: asyncio.StreamReader) -> None:
        state = self.groups[name]
        while True:
            line = await stream.readline()
            if not line:
                return
            try:
                event = json.loads(line)
                if not isinstance(event, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._say(name, None, line.decode("utf-8", "replace").rstrip())
                continue
            state.apply(event, self.now())
            if event.get("event") in _STATUS_EVENTS:
                self._write_status()
            self._say(name, event, "")

    async def _read_errors(self, name: str, stream: asyncio.StreamReader) -> None:
        while True:
            line = await stream.readline()
            if not line:
                return
            self._say(name, None, line.decode("utf-8", "replace").rstrip())

    def _say(self, name: str, event: dict[str, Any] | None, text: str) -> None:
        if self.output is not None:
            self.output(name, event, text)


#: Events after which the status file is rewritten (the others only draw a group's own live view).
_STATUS_EVENTS = frozenset({"phase", "loop_cycle", "loop_tally", "pause", "loop", "stop_requested"})


def read_fleet_status(data_dir: Path) -> dict[str, Any] | None:
    """The last status a fleet on ``data_dir`` wrote, with ``running`` corrected by its lock; None when no fleet
    ever ran there."""
    path = fleet_status_path(data_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"running": False, "groups": [], "error": f"cannot read {path}: {exc}"}
    if not isinstance(data, dict):
        return {"running": False, "groups": [], "error": f"{path} is not a fleet status"}
    data["running"] = fleet_running(data_dir)
    today = datetime.now(UTC).date().isoformat()
    for group in data.get("groups", []):
        if isinstance(group, dict):
            # a status written yesterday shows today's PnL as what it is: nothing yet
            group["pnl_today"] = (group.get("pnl_by_day") or {}).get(today, "0")
    return data


def fleet_groups(data_dir: Path) -> list[str]:
    """The groups of the fleet that runs (or last ran) on ``data_dir``, by its status file; names that could not
    be a group's are left out."""
    from hedgectl.config.groups import valid_group_name

    data = read_fleet_status(data_dir) or {}
    names = [group.get("name") for group in data.get("groups", []) if isinstance(group, dict)]
    return [name for name in names if isinstance(name, str) and valid_group_name(name)]


def fleet_running(data_dir: Path) -> bool:
    from hedgectl import locks
    from hedgectl.errors import LockHeld

    try:
        lock = locks.acquire(data_dir, FLEET_LOCK_KEY, purpose="fleet status")
    except LockHeld:
        return True
    lock.release()
    return False


def group_command(
    name: str, *, config_path: Path | None, loop_args: list[str], debug: bool = False
) -> list[str]:
    """``hedgectl [--config PATH] hedge run --group NAME --json LOOP_ARGS`` with this interpreter."""
    root = [sys.executable, "-m", "hedgectl"]
    if config_path is not None:
        root += ["--config", str(config_path)]
    # the groups' own INFO logs would repeat what their events already say; --debug shows everything
    root.append("--debug" if debug else "--quiet")
    return [*root, "hedge", "run", "--group", name, "--json", *loop_args]


__all__ = [
    "FLEET_LOCK_KEY",
    "FLEET_SIGNALS",
    "Fleet",
    "GroupState",
    "fleet_exit_code",
    "fleet_groups",
    "fleet_running",
    "fleet_status_path",
    "group_command",
    "read_fleet_status",
]
