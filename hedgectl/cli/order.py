"""``hedgectl order``: manual market and limit orders and cancel-all on one connector, confirmed before sending."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import typer

from hedgectl.cli.common import (
    JSON_OPTION,
    SYMBOL_OPTION,
    YES_OPTION,
    confirm_or_stop,
    ensure_can_confirm,
    market_rules,
    parse_side,
    parse_size,
    venue_session,
)
from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import run, state
from hedgectl.decimals import plain
from hedgectl.errors import ExitCode, InvalidOrder, UsageError
from hedgectl.model.orders import Side

app = typer.Typer(help="Send a manual order, or cancel every resting order of a connector.", no_args_is_help=True)

NAME_ARGUMENT = typer.Argument(..., help="Connector name.")
SIDE_OPTION = typer.Option(..., "--side", help="buy or sell.")
SIZE_OPTION = typer.Option(..., "--size", help="Base size; rounded down to the market's step.")
REDUCE_ONLY_OPTION = typer.Option(False, "--reduce-only", help="Only reduce an existing position.")


@app.command("market")
def market(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    side: str = SIDE_OPTION,
    size: str = SIZE_OPTION,
    symbol: str | None = SYMBOL_OPTION,
    reduce_only: bool = REDUCE_ONLY_OPTION,
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """Send a market order (bounded by the venue's slippage in [hedge] slippage) and wait for its final state.

    Exit 0 when filled, 1 when refused or (partly) cancelled, 4 when its outcome is unknown.
    """
    request = OrderRequest("market", name, parse_side(side), parse_size(size), symbol, reduce_only)
    _order(ctx, request, yes=yes, json_output=json_output, paper=paper, seed=seed)


@app.command("limit")
def limit(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    side: str = SIDE_OPTION,
    size: str = SIZE_OPTION,
    price: str = typer.Option(..., "--price", help="Limit price; rounded to the tick, never to a worse price."),
    symbol: str | None = SYMBOL_OPTION,
    reduce_only: bool = REDUCE_ONLY_OPTION,
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """Place a limit order and report it once the venue has it (resting or filled).

    Exit 0 when resting or filled, 1 when refused or cancelled, 4 when its outcome is unknown.
    """
    request = OrderRequest(
        "limit", name, parse_side(side), parse_size(size), symbol, reduce_only, parse_size(price, option="--price")
    )
    _order(ctx, request, yes=yes, json_output=json_output, paper=paper, seed=seed)


@dataclass(frozen=True)
class OrderRequest:
    """A manual order as the operator typed it (size and price not yet fitted to the market)."""

    kind: str  # "market" or "limit"
    connector: str
    side: Side
    size: Decimal
    symbol: str | None
    reduce_only: bool
    price: Decimal | None = None


def _order(ctx: typer.Context, request: OrderRequest, *, yes: bool, json_output: bool, paper: bool, seed) -> None:
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    ensure_can_confirm(yes=yes)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        session.config.connector(request.connector)
        outcome = run(_send(session, terminal, request, yes))
    terminal.result(outcome.as_dict(), lambda: _render_outcome(outcome))
    raise typer.Exit(_exit_code(request.kind, outcome))


async def _send(session, terminal, request: OrderRequest, yes: bool):
    from hedgectl.model.orders import OrderType
    from hedgectl.errors import Aborted
    from hedgectl.execution.outcome import is_acknowledged, is_final, send_and_wait
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.runtime import under_stop_signals

    config = session.config
    name = request.connector
    symbol = request.symbol or config.symbol_for(name)
    order_type = OrderType.LIMIT if request.kind == "limit" else OrderType.MARKET
    async with ConnectorSet(config, data_dir=session.data_dir, lock_for="order") as connectors:
        connector = await connectors.get(name)
        await market_rules(connector, symbol)
        try:
            intent = await connector.build_intent(
                symbol, request.side, request.size, order_type=order_type, price=request.price,
                reduce_only=request.reduce_only,
            )
        except InvalidOrder as exc:
            raise UsageError(f"{name}: {exc.message}") from None
        where = f"at {plain(intent.price)}" if intent.price is not None else "at market"
        confirm_or_stop(
            terminal,
            f"{intent.side.value} {plain(intent.size)} {symbol} on {name} {where}"
            f"{' (reduce-only)' if intent.reduce_only else ''}?",
            yes=yes,
        )
        slippage = config.hedge.slippage.get(connector.venue) if order_type is OrderType.MARKET else None
        sending = send_and_wait(
            connector,
            intent,
            timeout=config.hedge.order_timeout_secs,
            max_slippage=slippage,
            settled=is_acknowledged if order_type is OrderType.LIMIT else is_final,
        )
        # once sent, the order's answer is what tells the operator where the position stands: a first signal
        # lets the wait for it finish, a second gives up on it
        return await under_stop_signals(
            sending, what="the order",
            stopped=lambda _: Aborted(
                f"stopped waiting for order {intent.client_order_index} on {name}: it may have been executed; "
                f"check 'hedgectl positions {name}'"
            ),
        )


def _exit_code(kind: str, outcome) -> int:
    from hedgectl.model.orders import OrderState

    if not outcome.known or not outcome.settled:
        return ExitCode.POSITION_OPEN
    good = {OrderState.FILLED.value}
    if kind == "limit":
        good |= {OrderState.OPEN.value, OrderState.PARTIALLY_FILLED.value}
    return ExitCode.OK if outcome.state in good else ExitCode.FAILURE


def _render_outcome(outcome):
    from rich.table import Table

    data = outcome.as_dict()
    style = {"filled": "green", "open": "green", "partially_filled": "yellow", "unknown": "bold red"}.get(
        data["state"], "red"
    )
    table = Table(show_header=False, title=f"{data['order_type']} order on {data['connector']}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, key in (
        ("symbol", "symbol"), ("side", "side"), ("size", "size"), ("price", "price"), ("reduce-only", "reduce_only"),
        ("client order index", "client_order_index"), ("venue order id", "venue_order_id"),
        ("filled", "filled_size"), ("average price", "average_price"), ("latency ms", "latency_ms"),
    ):
        if data[key] is not None:
            table.add_row(label, str(data[key]))
    table.add_row("state", f"[{style}]{data['state']}[/{style}]")
    if data["reason"]:
        table.add_row("reason", f"[red]{_escape(data['reason'])}[/red]")
    if not outcome.settled and outcome.known:
        table.add_row("note", "[yellow]no final answer in time: the order may still be working[/yellow]")
    elif not outcome.known:
        table.add_row("note", "[bold red]the outcome is unknown: check the venue before sending again[/bold red]")
    return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command("cancel-all")
def cancel_all(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    symbol: str | None = SYMBOL_OPTION,
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """Cancel every resting order of the connector in one market; then read back what is still open.

    Exit 0 when nothing is left resting, 4 when orders remain (or cannot be read).
    """
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    ensure_can_confirm(yes=yes)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        session.config.connector(name)
        data = run(_cancel_all(session, terminal, name, symbol, yes))
    terminal.result(data, lambda: _render_cancel(data))
    raise typer.Exit(ExitCode.OK if data["ok"] else ExitCode.POSITION_OPEN)


async def _cancel_all(session, terminal, name: str, symbol: str | None, yes: bool) -> dict:
    from hedgectl.errors import Aborted, VenueError
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.runtime import under_stop_signals

    symbol = symbol or session.config.symbol_for(name)
    async with ConnectorSet(session.config, data_dir=session.data_dir, lock_for="order") as connectors:
        connector = await connectors.get(name)
        await market_rules(connector, symbol)
        before = await connector.open_orders(symbol)
        data = {"connector": name, "symbol": symbol, "open_before": len(before), "cancelled": False, "ok": True,
                "still_open": [], "error": None}
        if not before:
            return data
        confirm_or_stop(terminal, f"cancel {len(before)} resting order(s) of {name} in {symbol}?", yes=yes)
        try:
            await under_stop_signals(
                connector.cancel_all(symbol), what="cancelling resting orders",
                stopped=lambda _: Aborted(
                    f"stopped cancelling the resting orders of {name}: some may still rest; check "
                    f"'hedgectl order cancel-all {name}' again"
                ),
            )
            data["cancelled"] = True
        except VenueError as exc:
            data["error"] = str(exc)
        try:
            left = await connector.open_orders(symbol)
        except VenueError as exc:
            data["error"] = "; ".join(filter(None, [data["error"], f"open orders unknown: {exc}"]))
            data["ok"] = False
            return data
        data["still_open"] = [
            {"client_order_index": o.client_order_index, "venue_order_id": o.venue_order_id, "side": o.side.value,
             "size": plain(o.size), "price": None if o.price is None else plain(o.price)}
            for o in left
        ]
        data["ok"] = not left
        return data


def _render_cancel(data: dict):
    from rich.text import Text

    where = f"{data['connector']} {data['symbol']}"
    if not data["open_before"]:
        return Text(f"{where}: no resting orders")
    if data["ok"]:
        return Text(f"{where}: cancelled {data['open_before']} resting order(s); nothing is left resting", "green")
    lines = [f"{where}: {len(data['still_open'])} order(s) still resting"]
    lines += [f"  {o['side']} {o['size']} at {o['price']} (client order index {o['client_order_index']})"
              for o in data["still_open"]]
    if data["error"]:
        lines.append(f"  error: {data['error']}")
    return Text("\n".join(lines), "bold red")
