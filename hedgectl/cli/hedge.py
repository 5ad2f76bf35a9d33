"""``hedgectl hedge``: run a tri-venue hedge cycle, show the current or last one, recover after a crash."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION, command_env
from hedgectl.cli.state import GROUP_OPTION, AppState, run, state
from hedgectl.errors import CycleAborted, ExitCode, UsageError
from hedgectl.registry import ROLES

app = typer.Typer(help="Run the tri-venue hedge, watch it, recover it after a crash.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="JSON: one object per event, then a summary object.")


def _decimal(value: str | None, option: str, *, positive: bool = True) -> Decimal | None:
    if value is None:
        return None
    from hedgectl.decimals import to_decimal

    try:
        number = to_decimal(value, what=option)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if positive and number <= 0:
        raise UsageError(f"{option} must be greater than zero, got {value}")
    return number


def _tolerance(raw: str | None) -> Decimal | None:
    value = _decimal(raw, "--net-tolerance", positive=False)
    if value is not None and value < 0:
        raise UsageError(f"--net-tolerance cannot be negative, got {raw}")
    return value


def _slippage(raw: str) -> Decimal:
    value = _decimal(raw, "--slippage", positive=False)
    if not Decimal(0) < value < 1:
        raise UsageError(f"--slippage is a fraction in (0, 1) (0.005 = 0.5 %), got {raw}")
    return value


def _retries(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"--retries takes a whole number, got {raw!r}") from None
    if not 0 <= value <= 20:
        raise UsageError(f"--retries must be between 0 and 20, got {value}")
    return value


def _venue_map(values: list[str] | None, option: str, convert) -> dict[str, Any]:
    result = {}
    for item in values or []:
        venue, sep, raw = item.partition("=")
        if not sep or not venue or not raw:
            raise UsageError(f"{option} takes VENUE=VALUE (e.g. lighter=0.01), got {item!r}")
        result[venue.strip()] = convert(raw.strip())
    return result


@app.command("run")
def run_hedge(
    ctx: typer.Context,
    direction: str | None = typer.Option(None, "--direction", "-d", help="long or short (BP's side)."),
    size: str | None = typer.Option(None, "--size", help="Base size; default: from Lighter collateral."),
    l2_size: str | None = typer.Option(None, "--l2-size", help="L2's size; default: what BP filled."),
    l2_side: str | None = typer.Option(None, "--l2-side", help="same (as BP, default) or opposite."),
    leverage: str | None = typer.Option(None, "--leverage", help="Leverage for sizing and Lighter legs."),
    wait_min: float | None = typer.Option(None, "--wait-min", min=0, help="Shortest wait before L2 (s)."),
    wait_max: float | None = typer.Option(None, "--wait-max", min=0, help="Longest wait before L2 (s)."),
    timeout: float | None = typer.Option(None, "--timeout", min=0, help="How long to monitor before flattening (s)."),
    poll_interval: float | None = typer.Option(None, "--poll-interval", min=0.05, help="Monitor poll interval (s)."),
    order_timeout: float | None = typer.Option(None, "--order-timeout", min=0.1, help="Wait per order (s)."),
    net_tolerance: str | None = typer.Option(None, "--net-tolerance", help="Allowed |net| (base units)."),
    slippage: list[str] | None = typer.Option(None, "--slippage", help="VENUE=FRACTION, e.g. lighter=0.01."),
    retries: list[str] | None = typer.Option(None, "--retries", help="VENUE=N order retries, e.g. backpack=3."),
    role: list[str] | None = typer.Option(
        None, "--role", help="ROLE=CONNECTOR, e.g. BP=grvt: which connector plays the bridge (BP) or a hedge leg."
    ),
    allow_existing: bool = typer.Option(
        False, "--allow-existing", help="Start even if a leg holds a position; it joins the cycle and is flattened "
        "at the end with the rest."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Run every preflight check, print the plan (legs, margin, worst prices, fees), trade "
        "nothing."
    ),
    force: bool = typer.Option(
        False, "--force", help="Accept a slippage bound above the 5 % cap."
    ),
    on_hangup: str = typer.Option(
        "stop", "--on-hangup", help="When the terminal is lost (SIGHUP): stop (end the cycle safely, like SIGTERM) "
        "or continue (carry on detached, output to the lost terminal dropped)."
    ),
    repeat: int | None = typer.Option(
        None, "--repeat", help="Run N cycles one after another (each its own journaled cycle); see --pause."
    ),
    forever: bool = typer.Option(False, "--forever", help="Run cycles until a stop condition or 'hedge stop'."),
    pause: str | None = typer.Option(
        None, "--pause", metavar="MIN..MAX", help="Seconds between cycles, drawn at random (default: [loop])."
    ),
    max_loss: list[str] | None = typer.Option(
        None, "--max-loss", metavar="[day=|total=]AMOUNT", help="Stop the loop when its realised loss (quote "
        "currency, fees included) reaches AMOUNT in a UTC day and/or in total; a bare AMOUNT sets both."
    ),
    max_emergency_exits: int | None = typer.Option(
        None, "--max-emergency-exits", help="Emergency exits in a row the loop tolerates; one more stops it "
        "(default: [loop], 2)."
    ),
    stop_file: Path | None = typer.Option(
        None, "--stop-file", help="End the loop after the current cycle when this file exists (for cron)."
    ),
    no_streams: bool = typer.Option(
        False, "--no-streams", help="Confirm by REST reads only (no account streams; config: streams = false)."
    ),
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
    json_output: bool = JSON_OPTION,
    group: str | None = GROUP_OPTION,
) -> None:
    """Run one hedge cycle (or a loop of them with --repeat/--forever): BP entry, L1 hedge, wait, L2 entry, BP
    rebalance, monitor, flatten."""
    from hedgectl.strategies.hedge.cycle import override

    app_state = state(ctx, group=group)
    if direction is not None and direction not in ("long", "short"):
        raise UsageError(f"--direction must be long or short, got {direction!r}")
    if l2_side is not None and l2_side not in ("same", "opposite"):
        raise UsageError(f"--l2-side must be same or opposite, got {l2_side!r}")
    if on_hangup not in ("stop", "continue"):
        raise UsageError(f"--on-hangup must be stop or continue, got {on_hangup!r}")
    if wait_min is not None and wait_max is not None and wait_min > wait_max:
        raise UsageError(f"--wait-min ({wait_min}) is greater than --wait-max ({wait_max})")
    changes = dict(
        direction=direction,
        size=_decimal(size, "--size"),
        l2_size=_decimal(l2_size, "--l2-size"),
        l2_side=l2_side,
        leverage=_decimal(leverage, "--leverage"),
        wait_min_secs=wait_min,
        wait_max_secs=wait_max,
        monitor_timeout_secs=timeout,
        poll_interval_secs=poll_interval,
        order_timeout_secs=order_timeout,
        net_tolerance=_tolerance(net_tolerance),
        allow_existing=allow_existing or None,
    )
    import asyncio

    from hedgectl.registry import VENUES
    from hedgectl.strategies.hedge.plan import check_names, check_slippage

    terminal = app_state.terminal(json_mode=json_output)
    with command_env(app_state, paper=paper, seed=seed) as env:
        from hedgectl.config.groups import require_group

        require_group(env.config, "say which group trades")
        config = env.config
        if no_streams:
            from hedgectl.connectors.stream import without_streams

            config = without_streams(config)
        params = override(config.hedge, **changes)
        slippage_map = _venue_map(slippage, "--slippage", _slippage)
        retries_map = _venue_map(retries, "--retries", _retries)
        check_names(slippage_map, VENUES, option="--slippage", kind="venue")
        check_names(retries_map, VENUES, option="--retries", kind="venue")
        if slippage_map:
            params = override(params, slippage={**params.slippage, **slippage_map})
        if retries_map:
            params = override(params, retries={**params.retries, **retries_map})
        roles_map = _venue_map(role, "--role", str)
        unknown_roles = set(roles_map) - set(ROLES)
        if unknown_roles:
            known = f"{', '.join(ROLES[:-1])} or {ROLES[-1]}"
            raise UsageError(f"--role takes {known}, got {', '.join(sorted(unknown_roles))}")
        if roles_map:
            params = override(params, roles={**params.roles, **roles_map})
        _check_roles(config, params)
        check_slippage(params.slippage, force=force)
        if params.wait_min_secs > params.wait_max_secs:
            raise UsageError(
                f"wait min ({params.wait_min_secs}) is greater than wait max ({params.wait_max_secs})"
            )
        from hedgectl.cli.hedge_loop import loop_settings
        from hedgectl.runtime import StopSignals

        settings = loop_settings(
            config, app_state.data_dir(config), repeat=repeat, forever=forever, pause=pause,
            max_loss=max_loss, max_emergency_exits=max_emergency_exits, stop_file=stop_file, dry_run=dry_run,
        )
        if settings is not None:
            raise typer.Exit(_run_loop(app_state, config, params, terminal, settings, on_hangup))
        with StopSignals(what="the hedge cycle", on_hangup=on_hangup) as signals:
            try:
                result = run(_run_cycle(app_state, config, params, terminal, dry_run=dry_run, signals=signals))
            except asyncio.CancelledError:
                raise CycleAborted(
                    "aborted by a second signal without flattening: positions may be open; "
                    "run 'hedgectl hedge recover'"
                ) from None
    raise typer.Exit(_exit_code(result, dry_run=dry_run))


def _run_loop(app_state: AppState, config, params, terminal, settings, on_hangup: str) -> int:
    from hedgectl.cli.hedge_loop import render_report
    from hedgectl.cli.hedge_view import TerminalCycleDisplay
    from hedgectl.runtime import StopSignals
    from hedgectl.strategies.hedge.session import run_loop

    data_dir = app_state.data_dir(config)
    with StopSignals(what="the hedge loop", on_hangup=on_hangup) as signals:
        report = run(run_loop(config, params, data_dir, settings, TerminalCycleDisplay(terminal), signals=signals))
    render_report(terminal, report)
    return report.exit_code


def _check_roles(config, params) -> None:
    """Refuse role bindings that cannot work: unknown connectors, one account in two roles, a venue without symbol."""
    from hedgectl.config.model import account_identity

    seen: dict[tuple, str] = {}
    for role_name, connector_name in params.roles.items():
        connector = config.connector(connector_name)
        if connector.venue not in params.symbols:
            raise UsageError(f"no symbol for venue '{connector.venue}' (role {role_name}); set hedge.symbols")
        identity = account_identity(connector)
        if identity in seen:
            raise UsageError(f"roles {seen[identity]} and {role_name} would trade the same account ({connector_name})")
        seen[identity] = role_name


def _exit_code(result, *, dry_run: bool) -> int:
    from hedgectl.strategies.hedge.phases import Outcome

    if result.interrupted:
        return ExitCode.INTERRUPTED
    if result.outcome is Outcome.COMPLETED or (dry_run and result.outcome is Outcome.ABORTED):
        return ExitCode.OK
    if result.outcome is Outcome.EMERGENCY_EXIT:
        return ExitCode.SAFETY_EXIT
    if result.outcome is Outcome.FAILED:
        return ExitCode.POSITION_OPEN
    return ExitCode.FAILURE


async def _run_cycle(app_state: AppState, config, params, terminal, *, dry_run: bool, signals):
    from hedgectl.cli.hedge_view import TerminalCycleDisplay
    from hedgectl.strategies.hedge.session import run_cycle

    result = await run_cycle(config, params, app_state.data_dir(config), TerminalCycleDisplay(terminal),
                             signals=signals, dry_run=dry_run)
    if dry_run:
        # the preview is one document: the plan and the checks it passed, or the refusal a real run would meet
        _render_plan(terminal, result)
    return result


def _render_plan(terminal, result) -> None:
    data = {"dry_run": True, **result.as_dict()}
    for key in ("positions", "pnl", "open", "open_legs", "flattened", "naked_window_ms", "duration_secs"):
        data.pop(key, None)

    def render():
        from hedgectl.cli.hedge_view import render_plan

        return render_plan(result.plan)

    terminal.result(data, render)


@app.command("stop")
def stop(
    ctx: typer.Context,
    paper: bool = typer.Option(False, "--paper", help="The loop of a 'hedge run --paper' (its own data dir)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    group: str | None = typer.Option(
        None, "--group", metavar="NAME", help="Stop this group's loop only (default: every loop running on the "
        "data directory, a fleet's included)."
    ),
) -> None:
    """Ask the running loop (hedge run --repeat/--forever, or every group of a fleet) to end after its current
    cycle; in a pause it ends at once."""
    from hedgectl.cli.hedge_loop import stop_loop

    from hedgectl.strategies.hedge.fleet import fleet_groups

    app_state = state(ctx, group=group)
    data_dir = _journal_file(app_state, paper).parent
    # a fleet's groups, also those of a paper fleet, which no config file names
    known = list(dict.fromkeys(_known_groups(app_state) + fleet_groups(data_dir)))
    data = stop_loop(data_dir, group=group, groups=known)
    terminal = app_state.terminal(json_mode=json_output)
    if data["running"]:
        names = ", ".join(data["stopped"])
        terminal.result(data, lambda: f"stop requested ({names}): each loop ends after its current cycle")
    else:
        where = f"for group '{group}'" if group else "on this data directory"
        terminal.result(data, lambda: f"no hedge loop is running {where}; nothing to stop")


@app.command("status")
def status(
    ctx: typer.Context,
    paper: bool = typer.Option(False, "--paper", help="The journal of paper runs."),
    group: str | None = GROUP_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON (with --watch: one object per change)."),
    watch: bool = typer.Option(
        False, "--watch", help="Draw the live view of the cycle another process runs, from the journal, until it is "
        "resolved; Ctrl-C stops watching (the cycle goes on)."
    ),
    interval: float = typer.Option(0.5, "--interval", min=0.1, max=60, help="Seconds between journal reads (--watch)."),
) -> None:
    """The current or last cycle: phase, legs, fills, net exposure, age."""
    from hedgectl.journal import Journal
    from hedgectl.strategies.hedge.record import cycle_record

    app_state = state(ctx, group=group)
    path = _journal_file(app_state, paper)
    if watch:
        raise typer.Exit(_watch(app_state.terminal(json_mode=json_output), path, interval))
    journal = Journal(path)
    try:
        cycle = (journal.unresolved_cycles() or [None])[-1] or journal.last_cycle()
        if cycle is None:
            app_state.terminal(json_mode=json_output).result(
                {"cycle": None, "journal": str(path)}, lambda: journal_line(path, "no hedge cycle recorded in"))
            return
        data = cycle_record(cycle, data_dir=path.parent)
    finally:
        journal.close()

    def render():
        from rich.console import Group

        from hedgectl.cli.hedge_view import render_cycle_record

        return Group(render_cycle_record(data), journal_line(path))

    app_state.terminal(json_mode=json_output).result({"cycle": data, "journal": str(path)}, render)
    if not data["resolved"] and not data["running"]:
        raise typer.Exit(ExitCode.POSITION_OPEN)


def _watch(terminal, path, interval: float) -> int:
    """Redraw the current cycle from the journal until it is resolved or its process is gone; the exit code then
    follows ``hedge status``. Ctrl-C ends the watch only."""
    from hedgectl.cli.hedge_view import HedgeLiveView, render_cycle_record
    from hedgectl.journal import Journal
    from hedgectl.strategies.hedge.record import cycle_record
    from hedgectl.strategies.hedge.status import status_from_journal

    journal = Journal(path)
    try:
        cycle = (journal.unresolved_cycles() or [None])[-1] or journal.last_cycle()
        if cycle is None:
            terminal.result({"cycle": None}, lambda: "no hedge cycle recorded")
            return ExitCode.OK
        view = HedgeLiveView(status_from_journal(cycle, journal.events(cycle.id)))
        last_line = None
        try:
            with terminal.live(lambda: view) as refresh:
                while True:
                    cycle = journal.cycle(cycle.id)
                    data = cycle_record(cycle, data_dir=path.parent)
                    view.status = status_from_journal(cycle, journal.events(cycle.id))
                    refresh()
                    line = _watch_line(data)
                    if line != last_line and not terminal.interactive:
                        terminal.event("status", {"cycle": data}, text=line)
                        last_line = line
                    if data["resolved"] or not data["running"]:
                        break
                    time.sleep(interval)
        except KeyboardInterrupt:
            terminal.warn(f"stopped watching; cycle {cycle.id} is not affected")
            return ExitCode.INTERRUPTED
    finally:
        journal.close()
    if terminal.json_mode:
        terminal.event("summary", {"cycle": data})
    else:
        terminal.result({"cycle": data}, lambda: render_cycle_record(data))
    return ExitCode.OK if data["resolved"] or data["running"] else ExitCode.POSITION_OPEN


def _watch_line(data: dict[str, Any]) -> str:
    legs = " ".join(f"{role} {leg['position_by_journal']}" for role, leg in data["legs"].items())
    return f"cycle {data['id']} phase {data['phase']}: {legs}, net by journal {data['net_by_journal']}"


def _journal_file(app_state: AppState, paper: bool):
    """The journal of the command's group (each group keeps its own) in the config's data directory."""
    from hedgectl.config.datadir import data_dir_path, ensure_data_dir
    from hedgectl.journal import journal_path
    from hedgectl.config.loader import find_config_path

    config = app_state.config() if find_config_path(app_state.config_path) is not None else None
    return journal_path(ensure_data_dir(data_dir_path(config, paper=paper)), app_state.group)


def _known_groups(app_state: AppState) -> list[str]:
    """The groups of the config (none without a config file)."""
    from hedgectl.config.groups import group_names
    from hedgectl.config.loader import find_config_path

    if find_config_path(app_state.config_path) is None:
        return []
    return group_names(app_state.config())


def journal_line(path, label: str = "journal:"):
    """The line that says which journal a view read (paper and live runs keep apart ones)."""
    from rich.text import Text

    return Text(f"{label} {path}", style="dim")


@app.command("recover")
def recover(
    ctx: typer.Context,
    action: str = typer.Option("flatten", "--action", help="flatten (default) or hedge what is open."),
    abandon: str | None = typer.Option(
        None, "--abandon", metavar="CYCLE", help="Mark CYCLE resolved without trading, when its venue or accounts "
        "no longer exist (refused while a venue shows a position it opened). Needs --reason."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why the cycle is abandoned (kept in the journal)."),
    paper: bool = typer.Option(False, "--paper", help="The journal of paper runs (with --abandon)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (for unattended use)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    group: str | None = GROUP_OPTION,
) -> None:
    """Reconcile unresolved cycles with the venues after a crash, then flatten (or hedge) what is open."""
    from hedgectl.journal import Journal

    state(ctx, group=group)
    if action not in ("flatten", "hedge"):
        raise UsageError(f"--action must be flatten or hedge, got {action!r}")
    if abandon is not None:
        _abandon(ctx, abandon, reason=reason, paper=paper, yes=yes, json_output=json_output)
        return
    if reason is not None or paper:
        raise UsageError("--reason and --paper go with --abandon CYCLE (the venues of past --paper runs are gone)")
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    config = app_state.config()
    data_dir = app_state.data_dir(config)
    journal = Journal(_journal_file(app_state, paper=False))
    try:
        pending = journal.unresolved_cycles()
        if not pending:
            terminal.result({"recovered": []}, lambda: "nothing to recover: every cycle in the journal is resolved")
            return
        listing = ", ".join(f"{c.id} ({c.phase})" for c in pending)
        if not terminal.confirm(f"recover {listing} by '{action}'?", assume_yes=yes):
            raise UsageError("recovery needs confirmation: run again with --yes")
        from hedgectl.runtime import StopSignals
        from hedgectl.strategies.hedge.session import recover_configured

        with StopSignals(what="the recovery") as signals:
            reports = run(recover_configured(journal, config, data_dir=data_dir, action=action, signals=signals))
    finally:
        journal.close()
    data = {"recovered": [r.as_dict() for r in reports]}

    def render():
        from rich.table import Table

        table = Table("cycle", "phase", "resolved", "before", "after", "notes", title=f"hedge recover ({action})")
        for r in reports:
            table.add_row(
                r.cycle_id, r.phase, "[green]yes[/green]" if r.resolved else "[red]no[/red]",
                _fmt(r.before), _fmt(r.after), r.skipped or "; ".join(r.problems),
            )
        return table

    terminal.result(data, render)
    if any(not r.resolved and not r.skipped for r in reports):
        raise typer.Exit(ExitCode.POSITION_OPEN)
    if any(r.resolved and any(size != "0" for size in r.after.values()) for r in reports):
        terminal.warn("the legs are hedged but open and nothing monitors them: flatten them when ready")
        raise typer.Exit(ExitCode.POSITION_OPEN)


def _abandon(ctx: typer.Context, cycle_id: str, *, reason: str | None, paper: bool, yes: bool,
             json_output: bool) -> None:
    from hedgectl.cli.common import ensure_can_confirm
    from hedgectl.journal import Journal
    from hedgectl.strategies.hedge.session import abandon_configured

    if not reason or not reason.strip():
        raise UsageError("--abandon needs --reason 'why the cycle is abandoned' (it goes into the journal)")
    ensure_can_confirm(yes=yes)
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    path = _journal_file(app_state, paper)
    config = None if paper else app_state.config()
    journal = Journal(path)
    try:
        cycle = journal.cycle(cycle_id)
        if cycle is None:
            raise UsageError(f"no cycle {cycle_id} in the journal {path}")
        if cycle.resolved:
            raise UsageError(f"cycle {cycle_id} is already resolved ({cycle.outcome})")

        def confirm(report) -> bool:
            for role, finding in report.legs.items():
                terminal.info(f"{role}: {finding}")
            if yes:
                return True
            from rich.prompt import Prompt

            typed = Prompt.ask(f"type the cycle id ({cycle_id}) to mark it resolved without trading",
                               console=terminal.err, default="")
            return typed.strip() == cycle_id

        report = run(abandon_configured(journal, config, cycle, reason=reason.strip(), data_dir=path.parent,
                                        confirm=confirm))
    finally:
        journal.close()
    data = {"journal": str(path), "abandoned": report.as_dict()}
    if not report.confirmed:
        terminal.result(data, lambda: f"cycle {cycle_id} was not abandoned (the id typed did not match)")
        raise typer.Exit(ExitCode.INTERRUPTED)
    if report.venue_shows_position:
        if json_output:
            terminal.result(data)
        terminal.error(f"cycle {cycle_id} not abandoned: {report.refused}")
        raise typer.Exit(ExitCode.POSITION_OPEN)
    if report.refused is not None:
        raise UsageError(f"cycle {cycle_id} not abandoned: {report.refused}")
    terminal.result(data, lambda: f"cycle {cycle_id} marked resolved without trading (abandoned: {reason.strip()})")


def _fmt(sizes: dict[str, str | None]) -> str:
    return " ".join(f"{role}={size}" for role, size in sizes.items())
