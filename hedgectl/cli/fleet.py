"""``hedgectl fleet``: run every hedge group's loop at once, and show them all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import run, state
from hedgectl.errors import LockHeld, UsageError

app = typer.Typer(help="Run every hedge group's loop at once, and show them all.", no_args_is_help=True)


@app.command("run")
def fleet_run(
    ctx: typer.Context,
    groups: list[str] | None = typer.Option(
        None, "--group", metavar="NAME", help="A group to run (repeatable; default: every group of the config)."
    ),
    repeat: int | None = typer.Option(None, "--repeat", help="Each group runs N cycles (default: --forever)."),
    forever: bool = typer.Option(False, "--forever", help="Each group runs cycles until a stop condition."),
    pause: str | None = typer.Option(None, "--pause", metavar="MIN..MAX", help="Seconds between a group's cycles "
                                     "(default: [loop])."),
    max_loss: list[str] | None = typer.Option(
        None, "--max-loss", metavar="[day=|total=]AMOUNT", help="Each group's loss limit (see 'hedge run')."
    ),
    max_emergency_exits: int | None = typer.Option(None, "--max-emergency-exits", help="See 'hedge run'."),
    stop_file: Path | None = typer.Option(
        None, "--stop-file", help="Every group ends after its current cycle when this file exists (for cron)."
    ),
    stagger: float = typer.Option(
        5.0, "--stagger", min=1.0, max=3600, help="Seconds between the starts of two groups (at least 1)."
    ),
    restarts: int = typer.Option(
        0, "--restarts", min=0, max=100000, help="Start a group again (after --stagger seconds) when a cycle of it "
        "was refused before it traded, up to N times (default 0: the group stays stopped)."
    ),
    no_streams: bool = typer.Option(
        False, "--no-streams", help="Every group confirms orders and watches positions by REST reads only."
    ),
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
    json_output: bool = typer.Option(False, "--json", help="JSON: each group's events (with 'group'), then a "
                                     "'fleet' object."),
) -> None:
    """Run the groups' loops at once, one process per group; a stop signal ends every group's current cycle safe.

    Without a config, --paper runs two groups (paper1, paper2) of fresh paper accounts on one set of paper venues.
    """
    from hedgectl.strategies.hedge.fleet import fleet_exit_code

    app_state = state(ctx)
    if repeat is not None and forever:
        raise UsageError("--repeat and --forever exclude each other")
    if repeat is not None and repeat < 1:
        raise UsageError(f"--repeat takes a number of cycles of 1 or more, got {repeat}")
    loop_args = ["--repeat", str(repeat)] if repeat is not None else ["--forever"]
    if pause is not None:
        from hedgectl.cli.hedge_loop import parse_pause

        parse_pause(pause)
        loop_args += ["--pause", pause]
    if max_loss:
        from hedgectl.cli.hedge_loop import parse_max_loss

        parse_max_loss(max_loss)
        for item in max_loss:
            loop_args += ["--max-loss", item]
    if max_emergency_exits is not None:
        if max_emergency_exits < 0:
            raise UsageError(f"--max-emergency-exits cannot be negative, got {max_emergency_exits}")
        loop_args += ["--max-emergency-exits", str(max_emergency_exits)]
    if stop_file is not None:
        loop_args += ["--stop-file", str(stop_file.absolute())]
    if no_streams:
        loop_args.append("--no-streams")
    terminal = app_state.terminal(json_mode=json_output)
    if paper:
        states = _paper_fleet(app_state, groups, loop_args, stagger, restarts, seed, terminal)
    else:
        config = app_state.config()
        from hedgectl.config.loader import find_config_path

        found = find_config_path(app_state.config_path)
        states = _fleet(app_state, config, found.absolute() if found else None, groups, loop_args, stagger,
                        restarts, terminal, env=None)
    _render_end(terminal, states)
    raise typer.Exit(fleet_exit_code([s.exit_code if s.exit_code is not None else 1 for s in states.values()]))


def _chosen(config, groups: list[str] | None) -> list[str]:
    from hedgectl.config.groups import group_names

    known = group_names(config)
    chosen = list(dict.fromkeys(groups or known))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UsageError(f"unknown group(s) {', '.join(unknown)} (configured: {', '.join(known)})")
    return chosen


def _fleet(app_state, config, config_path: Path | None, groups, loop_args, stagger, restarts, terminal, *, env):
    from hedgectl import locks
    from hedgectl.strategies.hedge.fleet import FLEET_LOCK_KEY, Fleet, group_command

    chosen = _chosen(config, groups)
    data_dir = app_state.data_dir(config)
    try:
        lock = locks.acquire(data_dir, FLEET_LOCK_KEY, purpose="fleet run")
    except LockHeld as exc:
        raise LockHeld(f"a fleet already runs on {data_dir} ({exc}); 'hedgectl hedge stop' ends it") from None
    try:
        fleet = Fleet(
            chosen,
            lambda name: group_command(name, config_path=config_path, loop_args=loop_args, debug=app_state.debug),
            data_dir=data_dir, env=env, stagger_secs=stagger, restarts=restarts, output=_output(terminal),
        )
        return run(fleet.run())
    finally:
        lock.release()


def _paper_fleet(app_state, groups, loop_args, stagger, restarts, seed, terminal):
    import logging
    import os

    from hedgectl.config.datadir import data_dir_path, ensure_data_dir
    from hedgectl.config.loader import find_config_path, load_config
    from hedgectl.rehearsal.fleet import write_paper_fleet_config
    from hedgectl.sim.runner import ThreadedPaperVenues

    own = app_state.config() if find_config_path(app_state.config_path) else None
    data_dir = ensure_data_dir(data_dir_path(own, paper=True))
    if not app_state.debug:
        logging.getLogger("hedgectl.sim").setLevel(logging.WARNING)
    options = {} if seed is None else {"seed": seed}
    with ThreadedPaperVenues(**options) as venues:
        config_dir = ensure_data_dir(data_dir / "fleet-config")
        path = write_paper_fleet_config(venues, config_dir, data_dir=data_dir)
        config = load_config(path)
        return _fleet(app_state, config, path, groups, loop_args, stagger, restarts, terminal,
                      env=dict(os.environ))


def _output(terminal):
    def output(group: str, event: dict[str, Any] | None, text: str) -> None:
        if event is None:
            if text:
                terminal.event("output", {"group": group, "text": text}, text=f"[{group}] {text}")
            return
        data = {k: v for k, v in event.items() if k not in ("event", "ts")}
        line = _line(event)
        terminal.event(str(event.get("event")), {**data, "group": group}, text=f"[{group}] {line}" if line else None,
                       ts=event.get("ts") if isinstance(event.get("ts"), (int, float)) else None)

    return output


def _line(event: dict[str, Any]) -> str | None:
    """A line of text for a person for the events that say how a group goes (the rest draw no line)."""
    name = event.get("event")
    if name == "phase":
        return f"phase {event.get('phase')}"
    if name == "loop_cycle":
        return f"cycle {event.get('number')}"
    if name == "loop_tally":
        return f"cycle {event.get('number')} {event.get('outcome')}, PnL {event.get('pnl')}, total " \
               f"{event.get('pnl_total')}"
    if name == "pause":
        return f"pause {event.get('seconds')} s"
    if name == "stop_requested":
        return f"stop requested ({event.get('during')})"
    if name == "loop":
        return f"stopped after {event.get('cycles_run')} cycle(s): {event.get('stop_reason')}: " \
               f"{event.get('stop_detail')}"
    return None


def _render_end(terminal, states) -> None:
    from datetime import UTC, datetime

    today = datetime.now(UTC).date().isoformat()
    data = {"groups": [s.as_dict(today) for s in states.values()]}
    if terminal.json_mode:
        terminal.event("fleet", data)
        return
    terminal.result(data, lambda: _table(data, title="fleet"))


def _table(data: dict[str, Any], *, title: str):
    from rich.table import Table
    from rich.text import Text

    table = Table("group", "state", "phase", "cycles", "PnL today", "last outcome", "stop reason", title=title)
    for group in data.get("groups", []):
        reason = group.get("stop_reason") or "-"
        if group.get("stop_detail"):
            reason = f"{reason}: {group['stop_detail']}"
        # every cell came from a group's output or a file: plain text, never markup
        table.add_row(*(Text(str(value)) for value in (
            group.get("name"), group.get("state"), group.get("phase"), group.get("cycles"), group.get("pnl_today"),
            group.get("last_outcome") or "-", reason)))
    return table


@app.command("status")
def fleet_status(
    ctx: typer.Context,
    paper: bool = typer.Option(False, "--paper", help="The fleet of a 'fleet run --paper'."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (with --watch: one object per change)."),
    watch: bool = typer.Option(False, "--watch", help="Redraw the table as the groups go, until Ctrl-C."),
    interval: float = typer.Option(1.0, "--interval", min=0.2, max=60, help="Seconds between reads (--watch)."),
) -> None:
    """Every group of the fleet: phase, cycle count, PnL today, last outcome, stop reason."""
    from hedgectl.cli.hedge import _journal_file

    app_state = state(ctx)
    data_dir = _journal_file(app_state, paper).parent
    terminal = app_state.terminal(json_mode=json_output)
    if watch:
        raise typer.Exit(_watch(terminal, data_dir, interval))
    data = _status(data_dir)
    terminal.result(data, lambda: _status_view(data))


def _status(data_dir: Path) -> dict[str, Any]:
    from hedgectl.strategies.hedge.fleet import read_fleet_status

    return read_fleet_status(data_dir) or {"running": False, "groups": [], "data_dir": str(data_dir)}


def _status_view(data: dict[str, Any]):
    from rich.console import Group
    from rich.text import Text

    if not data.get("groups"):
        return Text(data.get("error") or "no fleet has run on this data directory")
    state_line = "running" if data["running"] else "not running"
    return Group(_table(data, title=f"fleet ({state_line})"),
                 Text(f"updated {data.get('updated_at', '-')}", style="dim"))


def _watch(terminal, data_dir: Path, interval: float) -> int:
    from hedgectl.errors import ExitCode

    last = None
    data = _status(data_dir)
    try:
        with terminal.live(lambda: _status_view(data)) as refresh:
            while True:
                data = _status(data_dir)
                refresh()
                if terminal.json_mode and data != last:
                    terminal.event("fleet_status", data)
                    last = data
                time.sleep(interval)
    except KeyboardInterrupt:
        return ExitCode.OK


def chaos_fleet(app_state, *, fleet: bool, duration: float | None, seed: int, json_output: bool) -> int:
    """``sim chaos --fleet --duration SECS``: the fleet rehearsal under faults, its report, and its exit code."""
    from hedgectl.errors import ExitCode
    from hedgectl.rehearsal.fleet import run_fleet_rehearsal

    if not fleet or duration is None:
        raise UsageError("--fleet and --duration SECS go together")
    terminal = app_state.terminal(json_mode=json_output)
    if not app_state.debug:
        import logging

        # the venues log every order and fault; the rehearsal's own lines and report say what matters
        logging.getLogger("hedgectl.sim").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    report = run_fleet_rehearsal(duration, seed=seed,
                                 log=lambda line: terminal.event("rehearsal", {"line": line}, text=line))
    data = report.as_dict()

    def render():
        from rich.text import Text

        lines = [f"fleet rehearsal: seed {data['seed']}, {data['duration_secs']:g} s, exit code {data['exit_code']}",
                 f"cycles per group: {data['cycles']}; outcomes: {data['outcomes']}",
                 f"faults drawn: {data['faults_total']} {data['faults']}",
                 f"unresolved {len(data['unresolved'])}, unsafe {len(data['unsafe'])}, duplicates "
                 f"{len(data['duplicates'])}, shared accounts {len(data['shared_accounts'])}, nonce collisions "
                 f"{len(data['nonce_collisions'])}"]
        for key in ("unresolved", "unsafe", "duplicates", "shared_accounts", "nonce_collisions"):
            lines += [f"  {key}: {item}" for item in data[key]]
        return Text("\n".join(lines))

    if terminal.json_mode:
        terminal.event("fleet_rehearsal", data)  # the last line of the event stream, as 'fleet run' ends
    else:
        terminal.result(data, render)
    # as the cycle rehearsal: 4 for an unsafe end, 1 for a duplicate or another problem, 0 when all is well
    if report.unsafe or report.unresolved:
        return ExitCode.POSITION_OPEN
    return ExitCode.OK if report.ok else ExitCode.FAILURE
