"""``hedgectl positions``: every connector's signed positions and collateral, read concurrently, with the hedge net."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from hedgectl.cli.common import JSON_OPTION, check_interval, select_connectors, venue_session
from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import GROUP_OPTION, run, state
from hedgectl.config.model import Config
from hedgectl.decimals import plain
from hedgectl.errors import ExitCode
from hedgectl.execution.snapshot import HedgeNet, PositionsSnapshot, Reading, hedge_net

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text


def positions(
    ctx: typer.Context,
    names: list[str] | None = typer.Argument(None, help="Connectors to read (default: all)."),
    all_connectors: bool = typer.Option(False, "--all", help="Read every configured connector."),
    watch: bool = typer.Option(False, "--watch", help="Keep reading and redraw in place until Ctrl-C."),
    interval: float = typer.Option(
        2.0, "--interval", help="Seconds between reads of one venue with --watch (at least 0.2)."
    ),
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
    group: str | None = GROUP_OPTION,
) -> None:
    """Show signed positions, entry, mark, PnL, liquidation price and collateral per connector, and the hedge NET.

    Venues are read concurrently; a venue that fails shows its error in its row and the exit code is 1.
    With --json: {"positions": [...], "errors": [...], "net": {...}}; with --watch --json one JSON line per reading.
    """
    app_state = state(ctx, group=group)
    terminal = app_state.terminal(json_mode=json_output)
    check_interval(interval)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        if group is not None and not names and not all_connectors:
            # a group's positions are those of its own accounts
            names = list(dict.fromkeys(session.config.hedge.roles.values()))
        selected = select_connectors(session.config, names, all_connectors, default_all=True)
        if watch:
            _watch(session, selected, interval, terminal)
            return
        snapshot = run(_read_once(session, selected))
    terminal.result(snapshot.as_dict(), lambda: render_snapshot(session.config, snapshot))
    if not snapshot.ok:
        raise typer.Exit(ExitCode.FAILURE)


async def _read_once(session, names: Sequence[str]) -> PositionsSnapshot:
    from hedgectl.execution.snapshot import read_positions
    from hedgectl.connectors.factory import ConnectorSet

    async with ConnectorSet(session.config, data_dir=session.data_dir) as connectors:
        return await read_positions(connectors, names)


def _watch(session, names: Sequence[str], interval: float, terminal) -> None:
    """Redraw until SIGINT or SIGTERM; exit 1 when a venue's latest reading had failed at that moment."""
    from hedgectl.execution.snapshot import PositionsWatch
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.runtime import run_strategy

    board = PositionsBoard(session.config, names)
    failing: dict[str, str] = {}

    async def watch(refresh) -> None:
        def on_reading(reading: Reading) -> None:
            board.update(reading)
            refresh()
            if not terminal.interactive:
                _print_reading(terminal, board, reading)

        async with ConnectorSet(session.config, data_dir=session.data_dir) as connectors:
            watcher = PositionsWatch(connectors, names, on_reading, interval=interval)
            await run_strategy(watcher)
            failing.update(watcher.failing())

    try:
        with terminal.live(board.render) as refresh:
            run(watch(refresh))
    except KeyboardInterrupt:  # a Ctrl-C before the signal handlers were in place
        failing.update({name: r.error for name, r in board.readings.items() if r.error is not None})
    if failing:
        terminal.error("stopped; the last reading failed at " + "; ".join(
            f"{name}: {error}" for name, error in failing.items()))
        raise typer.Exit(ExitCode.FAILURE)
    terminal.info("stopped")


def _print_reading(terminal, board: PositionsBoard, reading: Reading) -> None:
    net = board.net()
    data = {
        "connector": reading.connector,
        "positions": reading.rows(),
        "error": reading.error,
        "net": net.as_dict() if net else None,
    }
    terminal.event("reading", data, text=reading_line(reading, net), ts=reading.at)


class PositionsBoard:
    """The latest reading of each watched connector; renders rows in the order asked, pending ones as such."""

    def __init__(self, config: Config, names: Sequence[str]):
        self.config = config
        self.names = list(names)
        self.readings: dict[str, Reading] = {}

    def update(self, reading: Reading) -> None:
        self.readings[reading.connector] = reading

    def net(self) -> HedgeNet | None:
        return hedge_net(self.config, self.readings)

    def render(self) -> RenderableType:
        return render_positions(self.config, self.names, self.readings, self.net(), watching=True)


def render_snapshot(config: Config, snapshot: PositionsSnapshot) -> RenderableType:
    readings = {reading.connector: reading for reading in snapshot.readings}
    return render_positions(config, list(readings), readings, snapshot.net)


def _decimal(value) -> str:
    return "-" if value is None else plain(value)


def _signed(value) -> Text:
    from rich.text import Text

    if value is None:
        return Text("unknown", style="bold red")
    return Text(plain(value), style="green" if value > 0 else "red" if value < 0 else "")


def render_positions(
    config: Config,
    names: Sequence[str],
    readings: dict[str, Reading],
    net: HedgeNet | None,
    *,
    watching: bool = False,
) -> RenderableType:
    """A row per position (a failed venue's row carries its error), then the hedge legs with their NET row."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column, justify in (
        ("Connector", "left"), ("Role", "left"), ("Venue", "left"), ("Symbol", "left"), ("Size", "right"),
        ("Entry", "right"), ("Mark", "right"), ("uPnL", "right"), ("Liq.", "right"), ("Equity", "right"),
        ("Read", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for name in names:
        reading = readings.get(name)
        if reading is None:
            connector = config.connector(name)
            table.add_row(name, config.role_of(name) or "", connector.venue, "", "", *[""] * 5,
                          Text("reading…", style="dim"))
            continue
        equity = _decimal(reading.balance.equity) if reading.balance else "?"
        status = Text(f"{reading.latency_ms:.0f}ms") if reading.ok else Text(reading.error or "", style="red")
        if reading.positions is None:
            table.add_row(reading.connector, reading.role or "", reading.venue, reading.symbol, _signed(None),
                          "", "", "", "", equity, status)
            continue
        for position in reading.positions:
            table.add_row(
                reading.connector, reading.role or "", reading.venue, position.symbol, _signed(position.signed_size),
                _decimal(position.entry_price), _decimal(position.mark_price), _decimal(position.unrealized_pnl),
                _decimal(position.liquidation_price), equity, status,
            )
    failed = sum(1 for reading in readings.values() if not reading.ok)
    header = Text.assemble(
        ("Positions", "bold"),
        f"  {len(names)} connectors  {time.strftime('%H:%M:%S')}",
        (f"  {failed} failed", "bold red") if failed else "",
        ("  Ctrl-C to stop", "dim") if watching else "",
    )
    parts: list[RenderableType] = [header, table]
    if net is not None:
        parts.append(_hedge_table(net, readings))
    return Group(*parts)


def _hedge_table(net: HedgeNet, readings: dict[str, Reading]) -> RenderableType:
    """The hedge legs and their NET, drawn by the telemetry board's renderer so both views read the same."""
    from hedgectl.cli.board_view import legs_table
    from hedgectl.telemetry.board import LegRow

    rows = []
    for role, connector, symbol, size in net.legs:
        reading = readings[connector]
        direction = "-" if size is None else "flat" if size == 0 else "long" if size > 0 else "short"
        rows.append(LegRow(
            label=connector, role=role, symbol=symbol, direction=direction,
            position=None if size is None else size.normalize(),
            balance=reading.balance.equity.normalize() if reading.balance else None,
            latency_ms=round(reading.latency_ms),
        ))
    return legs_table(rows, title=f"Hedge {net.group}", show_liveness=False, flat_tolerance=net.tolerance)


def reading_line(reading: Reading, net: HedgeNet | None) -> str:
    """One line per reading for ``--watch`` when the output is not a terminal."""
    stamp = time.strftime("%H:%M:%S", time.localtime(reading.at))
    if reading.positions is None:
        text = f"{stamp} {reading.connector}: positions unknown: {reading.error}"
    else:
        held = ", ".join(f"{p.symbol} {plain(p.signed_size)}" for p in reading.positions)
        text = f"{stamp} {reading.connector}: {held}"
        if reading.error:
            text += f" ({reading.error})"
    if net is not None:
        text += f"  | NET {'unknown' if net.signed_size is None else plain(net.signed_size)} {net.status}"
    return text
