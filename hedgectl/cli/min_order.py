"""``hedgectl min-order probe``: send the smallest market order each target accepts and report every attempt."""

from __future__ import annotations

from typing import Any

import typer

from hedgectl.cli.common import JSON_OPTION, YES_OPTION, confirm_or_stop, ensure_can_confirm, venue_session
from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import run, state
from hedgectl.errors import ConfigError, ExitCode, UsageError

app = typer.Typer(help="Diagnose minimum order sizes, client order indexes and nonces.", no_args_is_help=True)


@app.command("probe")
def probe(
    ctx: typer.Context,
    targets: list[str] | None = typer.Option(
        None, "--target", "-t",
        help="CONNECTOR:DIRECTION[:reduce_only][:xMULT], e.g. lighter1:buy, lighter1:long or lighter2:sell:x2 (repeatable; "
        "default: [min_order] targets).",
    ),
    attempts: int | None = typer.Option(None, "--attempts", help="Tries per target until one fills (default: "
                                        "[min_order] attempts)."),
    keep: bool = typer.Option(False, "--keep", help="Leave the positions the probe opened instead of closing them."),
    yes: bool = YES_OPTION,
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """Send, per target, a market order of the market's minimum size times the multiplier, wait for its final state,
    and list each attempt (client order index, api key and nonce on Lighter, outcome, fill, latency, reason).
    Afterwards every touched position is brought back to where it was, unless --keep.

    Exit 0 when every target filled, 1 when one did not (positions restored), 4 when something is left open or an
    order's outcome is unknown.
    """
    from hedgectl.strategies.min_order import ProbeTarget

    if attempts is not None and not 1 <= attempts <= 20:
        raise UsageError(f"--attempts must be between 1 and 20, got {attempts}")
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    parsed = []
    for text in targets or ():
        try:
            parsed.append(ProbeTarget.parse(text))
        except ValueError as exc:
            raise UsageError(f"--target: {exc}") from None
    ensure_can_confirm(yes=yes)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        config = session.config
        if not parsed:
            parsed = _config_targets(config)
        for target in parsed:
            config.connector(target.connector)
            config.symbol_for(target.connector)
        report = run(_probe(session, terminal, parsed, attempts or config.min_order.attempts, keep, yes))
    terminal.result(report.as_dict(), lambda: _render(report))
    if report.left_open or report.unresolved or any(now is None for _, _, _, now in report.kept):
        raise typer.Exit(ExitCode.POSITION_OPEN)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILURE)


def _config_targets(config) -> list:
    from hedgectl.strategies.min_order import ProbeTarget

    if not config.min_order.targets:
        raise UsageError("no targets: pass --target CONNECTOR:DIRECTION or set [min_order] targets")
    parsed, problems = [], []
    for index, text in enumerate(config.min_order.targets):
        try:
            parsed.append(ProbeTarget.parse(text))
        except ValueError as exc:
            problems.append(f"min_order.targets[{index}]: {exc}")
    if problems:
        raise ConfigError(problems)
    return parsed


async def _probe(session, terminal, targets, attempts: int, keep: bool, yes: bool):
    from hedgectl.errors import Aborted
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.runtime import under_stop_signals
    from hedgectl.strategies.min_order import MinOrderProbe

    listing = ", ".join(str(target) for target in targets)
    after = "and leave the positions open" if keep else "then close what they opened"
    confirm_or_stop(terminal, f"send minimum market orders for {listing}, {after}?", yes=yes)
    async with ConnectorSet(session.config, data_dir=session.data_dir, lock_for="min-order probe") as connectors:
        probe = MinOrderProbe(
            connectors, targets, attempts=attempts, restore=not keep,
            order_timeout=session.config.hedge.order_timeout_secs,
        )
        # the probe ends by putting back what it opened: a first signal lets it get there (a cancelled send could
        # land after the clean-up read the position), a second aborts it
        return await under_stop_signals(
            probe.run(), what="the minimum-order probe",
            stopped=lambda _: Aborted(
                "minimum-order probe aborted: positions it opened may be open; check 'hedgectl positions' and run "
                "'hedgectl flatten NAME' for each connector it probed"
            ),
        )

def _render(report):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title="min-order probe", title_justify="left")
    for column in ("Target", "#", "Size", "Client order index", "Api key", "Nonce", "Outcome", "Filled", "Latency",
                   "Reason"):
        table.add_column(column, justify="right" if column in ("#", "Size", "Filled", "Latency") else "left")
    for attempt in report.attempts:
        data = attempt.as_dict()
        style = "green" if attempt.filled else "bold red" if attempt.outcome == "unknown" else "red"
        table.add_row(
            data["target"], str(data["attempt"]), data["size"], _text(data["client_order_index"]),
            _text(data["api_key_index"]), _text(data["nonce"]), Text(data["outcome"], style=style),
            data["filled_size"], f"{data['latency_ms']:.0f}ms", Text(data["reason"] or "", style="red"),
        )
    parts: list[Any] = [table]
    for result in report.restored:
        moved = f" with {len(result.orders)} order(s)" if result.orders else ""
        parts.append(Text(f"afterwards: {result.describe()}{moved}", "green" if result.reached else "bold red"))
    for connector, symbol, before, now in report.kept:
        parts.append(Text(
            f"kept as asked: {connector} {symbol} now {_text(now)} (was {_text(before)})",
            "yellow" if now is not None else "bold red",
        ))
    for attempt in report.unresolved:
        parts.append(Text(
            f"order {attempt.client_order_index} on {attempt.connector}: outcome unknown; check the venue",
            "bold red",
        ))
    return Group(*parts)


def _text(value) -> str:
    if value is None:
        return "-"
    from hedgectl.decimals import plain

    return plain(value) if not isinstance(value, (int, str)) else str(value)
