"""``hedgectl smoke-test``: prove one connector can trade: chase a limit order to a fill, close it, check it is gone."""

from __future__ import annotations

import contextlib

import typer

from hedgectl.cli.common import JSON_OPTION, SYMBOL_OPTION, market_rules, parse_side, parse_size, venue_session
from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import run, state
from hedgectl.errors import ExitCode, UsageError


def smoke_test(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Connector to test."),
    symbol: str | None = SYMBOL_OPTION,
    side: str | None = typer.Option(None, "--side", help="Side of the entry (default: buy, or the side of an "
                                    "existing position so that the reduce-only exit can take it back)."),
    size: str | None = typer.Option(None, "--size", help="Entry size (default: the market's minimum)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds the limit order may chase the book."),
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """A post-only limit order that follows the top of the book until filled, then a reduce-only market order that
    closes it; then the position must be back where it started and no order of the test resting.

    Trades the market's minimum size without asking. Exit 0 when every step passed, 1 when one failed and nothing
    is left open, 4 when something is left open or unknown.
    """
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    entry_side = parse_side(side) if side is not None else None
    entry_size = parse_size(size) if size is not None else None
    if not timeout > 0:
        raise UsageError(f"--timeout must be positive, got {timeout:g}")
    with venue_session(app_state, paper=paper, seed=seed) as session:
        session.config.connector(name)
        report = run(_smoke(session, name, symbol, entry_side, entry_size, timeout))
    terminal.result(report.as_dict(), lambda: _render(report))
    if report.left_open:
        raise typer.Exit(ExitCode.POSITION_OPEN)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILURE)


async def _smoke(session, name, symbol, side, size, timeout):
    from hedgectl.errors import VenueError
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.runtime import under_stop_signals
    from hedgectl.strategies.smoke_test import SmokeTest

    config = session.config
    symbol = symbol or config.symbol_for(name)
    async with ConnectorSet(config, data_dir=session.data_dir, lock_for="smoke-test") as connectors:
        connector = await connectors.get(name)
        # an unknown symbol is a usage error before the test starts; any other failure of the venue is reported
        # by the test's first step, which reads the rules again
        with contextlib.suppress(VenueError):
            await market_rules(connector, symbol)
        test = SmokeTest(
            connectors, name, symbol, side=side, size=size, chase_timeout=timeout,
            order_timeout=config.hedge.order_timeout_secs,
        )
        # a chase can rest for the whole --timeout: a first signal stops it at once, and the test cancels and
        # closes what it opened before it gives up; a second signal aborts that clean-up
        return await under_stop_signals(
            test.run(), what="the smoke test", closing=False, stopped=lambda signals: _stopped(test.report, signals)
        )


def _stopped(report, signals: int):
    from hedgectl.errors import Aborted, Interrupted

    where = f"{report.connector} {report.symbol}"
    if signals == 1 and not report.left_open:
        return Interrupted(f"smoke test of {where} interrupted; nothing of it is left open")
    return Aborted(
        f"smoke test of {where} aborted: an order or position of the test may be left open; check "
        f"'hedgectl positions {report.connector}' and run 'hedgectl flatten {report.connector}'"
    )


def _render(report):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = f"smoke test of {report.connector} on {report.symbol}"
    table = Table(title=title, title_justify="left")
    for column in ("Step", "Result", "Latency", "Detail"):
        table.add_column(column, justify="right" if column == "Latency" else "left")
    for step in report.steps:
        table.add_row(
            step.name,
            Text("ok", style="green") if step.ok else Text("FAILED", style="bold red"),
            f"{step.latency_ms:.0f}ms",
            step.detail,
        )
    if report.left_open:
        footer = Text("left open: " + "; ".join(report.left_open), style="bold red")
    elif report.ok:
        footer = Text("passed; nothing left open", style="green")
    else:
        footer = Text("failed; nothing left open", style="yellow")
    return Group(table, footer)
