"""``hedge run --repeat N / --forever``: the options of a loop of hedge cycles and its summary; and ``hedge stop``.
The loop itself runs in ``hedgectl.strategies.hedge.session``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgectl.errors import UsageError

if TYPE_CHECKING:
    from hedgectl.strategies.hedge.loop import LoopReport, LoopSettings


def parse_pause(raw: str) -> tuple[float, float]:
    """``MIN..MAX`` seconds (or one number for a fixed pause)."""
    low, sep, high = raw.partition("..")
    try:
        values = (float(low), float(high)) if sep else (float(raw), float(raw))
    except ValueError:
        raise UsageError(f"--pause takes MIN..MAX seconds (e.g. 30..90) or SECONDS, got {raw!r}") from None
    from hedgectl.config.model import MIN_PAUSE_SECS

    if not all(MIN_PAUSE_SECS <= value < float("inf") for value in values):
        raise UsageError(f"--pause takes seconds of at least {MIN_PAUSE_SECS:g} (a cycle counts the venues' "
                         f"liquidations from a second before it starts), got {raw!r}")
    if values[0] > values[1]:
        raise UsageError(f"--pause: MIN ({low}) is greater than MAX ({high})")
    return values


def parse_max_loss(values: list[str]) -> dict[str, Decimal]:
    """``AMOUNT`` (a day and in total), ``day=AMOUNT`` or ``total=AMOUNT``; repeatable."""
    from hedgectl.decimals import to_decimal

    limits: dict[str, Decimal] = {}
    for item in values:
        scope, sep, raw = item.partition("=")
        scopes = [scope.strip()] if sep else ["day", "total"]
        raw = raw if sep else item
        if any(s not in ("day", "total") for s in scopes):
            raise UsageError(f"--max-loss takes AMOUNT, day=AMOUNT or total=AMOUNT, got {item!r}")
        try:
            amount = to_decimal(raw.strip(), what="--max-loss")
        except ValueError as exc:
            raise UsageError(f"--max-loss: {exc}") from None
        if amount <= 0:
            raise UsageError(f"--max-loss must be greater than zero, got {item!r}")
        for s in scopes:
            limits[s] = amount
    return limits


def loop_settings(
    config, data_dir: Path, *, repeat: int | None, forever: bool, pause: str | None, max_loss: list[str] | None,
    max_emergency_exits: int | None, stop_file: Path | None, dry_run: bool,
) -> LoopSettings | None:
    """The loop the command line asks for (its defaults from ``[loop]``), or None for a single cycle."""
    from hedgectl.config.groups import scoped_name
    from hedgectl.strategies.hedge.loop import LoopSettings, stop_file_path

    looping = repeat is not None or forever
    if not looping:
        given = [name for name, value in (("--pause", pause), ("--max-loss", max_loss),
                                         ("--max-emergency-exits", max_emergency_exits), ("--stop-file", stop_file))
                 if value]
        if given:
            raise UsageError(f"{', '.join(given)} go with --repeat N or --forever")
        return None
    if repeat is not None and forever:
        raise UsageError("--repeat and --forever exclude each other")
    if repeat is not None and repeat < 1:
        raise UsageError(f"--repeat takes a number of cycles of 1 or more, got {repeat}")
    if dry_run:
        raise UsageError("--dry-run previews one cycle; leave out --repeat/--forever")
    defaults = config.loop
    pause_min, pause_max = parse_pause(pause) if pause else (defaults.pause_min_secs, defaults.pause_max_secs)
    limits = parse_max_loss(max_loss or [])
    if max_emergency_exits is not None and max_emergency_exits < 0:
        raise UsageError(f"--max-emergency-exits cannot be negative, got {max_emergency_exits}")
    return LoopSettings(
        repeat=repeat,
        pause_min_secs=pause_min,
        pause_max_secs=pause_max,
        max_loss_day=limits.get("day", defaults.max_loss_day),
        max_loss_total=limits.get("total", defaults.max_loss_total),
        max_emergency_exits=defaults.max_emergency_exits if max_emergency_exits is None else max_emergency_exits,
        stop_file=stop_file_path(data_dir, scoped_name(config)),
        operator_stop_file=stop_file or defaults.stop_file,
        group=scoped_name(config),
    )


def render_report(terminal, report: LoopReport) -> None:
    """The loop's final summary: a ``loop`` JSON object, or a table for a person."""
    data = report.as_dict()
    if terminal.json_mode:
        terminal.event("loop", data)
        return

    def render():
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table("#", "cycle", "outcome", "PnL", "day", title="hedge loop")
        for cycle in data["cycles"]:
            table.add_row(str(cycle["number"]), cycle["cycle_id"] or "-", cycle["outcome"], cycle["pnl"],
                          cycle["day"])
        days = ", ".join(f"{day} {pnl}" for day, pnl in data["pnl_by_day"].items()) or "-"
        lines = Text(
            f"cycles run: {data['cycles_run']}; PnL total {data['pnl_total']} (by day: {days})\n"
            f"stopped: {data['stop_reason']}: {data['stop_detail']}"
        )
        return Group(table, lines)

    terminal.result(data, render)
    if report.error is not None:
        terminal.error(str(report.error))


def stop_loop(data_dir: Path, *, group: str | None = None, groups: list[str] | None = None) -> dict[str, Any]:
    """Ask the loop of ``group`` on ``data_dir`` to end after its current cycle, or, without a group, every loop
    running there (the default one and each of ``groups``); what was done, as data."""
    from hedgectl.config.groups import DEFAULT_GROUP
    from hedgectl.strategies.hedge.loop import loop_running, request_stop, stop_file_path

    def scoped(name: str) -> str | None:
        return None if name == DEFAULT_GROUP else name

    names = [group] if group is not None else [DEFAULT_GROUP, *(g for g in groups or [] if g != DEFAULT_GROUP)]
    running = [name for name in names if loop_running(data_dir, scoped(name))]
    stop_files = {name: str(request_stop(data_dir, scoped(name))) for name in running}
    data: dict[str, Any] = {"running": bool(running), "stopped": running, "stop_files": stop_files}
    if len(names) == 1:
        data["stop_file"] = stop_files.get(names[0], str(stop_file_path(data_dir, scoped(names[0]))))
    return data
