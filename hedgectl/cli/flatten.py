"""``hedgectl flatten``: close every open position of the named connectors with reduce-only market orders."""

from __future__ import annotations

from typing import Any

import typer

from hedgectl.cli.common import (
    JSON_OPTION,
    YES_OPTION,
    confirm_or_stop,
    ensure_can_confirm,
    select_connectors,
    venue_session,
)
from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import run, state
from hedgectl.decimals import plain
from hedgectl.errors import ExitCode


def flatten(
    ctx: typer.Context,
    names: list[str] | None = typer.Argument(None, help="Connectors to flatten."),
    all_connectors: bool = typer.Option(False, "--all", help="Flatten every configured connector."),
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """Close every open position: cancel the market's resting orders, then send reduce-only market orders sized
    from the signed position read just before each one, and read the positions again to prove they are flat.

    Exit 0 when everything is flat, 4 when a position is left open or could not be read.
    """
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    ensure_can_confirm(yes=yes)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        selected = select_connectors(session.config, names, all_connectors, default_all=False)
        data = run(_flatten(session, terminal, selected, yes))
    terminal.result(data, lambda: _render(data))
    raise typer.Exit(ExitCode.OK if data["ok"] else ExitCode.POSITION_OPEN)


async def _flatten(session, terminal, names: list[str], yes: bool) -> dict[str, Any]:
    import asyncio

    from hedgectl.execution.snapshot import read_positions
    from hedgectl.connectors.factory import ConnectorSet

    config = session.config
    async with ConnectorSet(config, data_dir=session.data_dir, lock_for="flatten") as connectors:
        before = await read_positions(connectors, names)
        todo = [(r.connector, p.symbol, p.signed_size) for r in before.readings for p in r.open_positions()]
        results: list[dict[str, Any]] = []
        if todo:
            listing = ", ".join(f"{name} {symbol} {plain(size)}" for name, symbol, size in todo)
            confirm_or_stop(terminal, f"close {listing} with reduce-only market orders?", yes=yes)
            results = await _close_all(connectors, todo)
        after = await read_positions(connectors, names)
    left = [
        {"connector": r.connector, "symbol": p.symbol, "signed_size": plain(p.signed_size)}
        for r in after.readings
        for p in r.open_positions()
    ]
    unknown = [{"connector": r.connector, "error": r.error} for r in after.readings if r.positions is None]
    return {
        "ok": not left and not unknown,
        "closed": results,
        "left_open": left,
        "unknown": unknown,
        "checked": names,
    }


async def _close_all(connectors, todo: list) -> list[dict[str, Any]]:
    """Close every position; a first stop signal lets the closing finish, a second aborts it (exit 4)."""
    import asyncio

    from hedgectl.errors import Aborted
    from hedgectl.runtime import StopSignals

    with StopSignals(what="the flatten") as signals:
        signals.attach(asyncio.current_task(), closing=True)
        try:
            return list(await asyncio.gather(*(_close(connectors, name, symbol) for name, symbol, _ in todo)))
        except asyncio.CancelledError:
            raise Aborted("flatten aborted by a second signal: positions may be open; run 'hedgectl flatten' "
                          "again") from None
        finally:
            signals.detach()


async def _close(connectors, name: str, symbol: str) -> dict[str, Any]:
    from hedgectl.errors import VenueError
    from hedgectl.execution.flatten import flatten_position

    connector = await connectors.get(name)
    config = connectors.config
    cancel_error = None
    try:
        # a resting order could fill after the close and open the position again
        await connector.cancel_all(symbol)
    except VenueError as exc:
        cancel_error = f"cancelling resting orders: {exc}"
    result = await flatten_position(
        connector,
        symbol,
        max_slippage=config.hedge.slippage.get(connector.venue),
        order_timeout=config.hedge.order_timeout_secs,
    )
    return {
        "connector": name,
        "symbol": symbol,
        "before": None if result.before is None else plain(result.before),
        "after": None if result.after is None else plain(result.after),
        "flat": result.flat,
        "orders": [
            {
                "client_order_index": o.intent.client_order_index,
                "side": o.intent.side.value,
                "size": plain(o.intent.size),
                "state": o.state.value,
                "filled_size": plain(o.filled_size),
            }
            for o in result.orders
        ],
        "errors": ([cancel_error] if cancel_error else []) + result.errors,
        "result": result.describe(),
    }


def _render(data: dict[str, Any]):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts = []
    if data["closed"]:
        table = Table(title="flatten", title_justify="left")
        for column in ("Connector", "Symbol", "Before", "Orders", "After", "Result"):
            table.add_column(column, justify="right" if column in ("Before", "After") else "left")
        for row in data["closed"]:
            orders = ", ".join(f"{o['side']} {o['filled_size']}/{o['size']} {o['state']}" for o in row["orders"])
            result = Text(row["result"], style="green" if row["flat"] else "bold red")
            if row["errors"]:
                result.append("\n" + "; ".join(row["errors"]), style="red")
            table.add_row(row["connector"], row["symbol"], row["before"] or "?", orders or "-", row["after"] or "?",
                          result)
        parts.append(table)
    else:
        parts.append(Text("nothing to close: no open positions were read"))
    for item in data["left_open"]:
        parts.append(Text(f"STILL OPEN: {item['connector']} {item['symbol']} {item['signed_size']}", "bold red"))
    for item in data["unknown"]:
        parts.append(Text(f"UNKNOWN: {item['connector']}: {item['error']}", "bold red"))
    if data["ok"]:
        parts.append(Text(f"flat: {', '.join(data['checked'])}", "green"))
    return Group(*parts)
