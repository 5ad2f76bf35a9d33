"""``hedgectl venue check``: the read-only contract check of each venue, before the first live run and after every
venue upgrade."""

from __future__ import annotations

import typer

from hedgectl.cli.common import JSON_OPTION, select_connectors, venue_session
from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import run, state

app = typer.Typer(help="Check that each venue still answers as hedgectl reads it.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    names: list[str] | None = typer.Argument(None, help="Connectors to check (default: all)."),
    all_connectors: bool = typer.Option(False, "--all", help="Check every configured connector."),
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """Make every read hedgectl relies on (markets and their rules, account, positions, balance, open orders, order
    and fill history, the nonce and api key on Lighter, the login on GRVT, the venue clock) and check every field
    hedgectl reads for presence, type and range. Never sends an order.

    Exit 0 when everything holds, 1 when a field drifted or a read was refused, 2 when a venue is unusable
    (unreachable, or the credentials are refused).
    """
    from hedgectl.connectors.contract import check_venues

    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        selected = select_connectors(session.config, names, all_connectors, default_all=True)
        report = run(check_venues(session.config, selected, data_dir=session.data_dir))
    terminal.result(report.as_dict(), lambda: _render(report))
    raise typer.Exit(int(report.exit_code))


def _render(report):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from hedgectl.connectors.contract import Verdict

    styles = {Verdict.OK: "green", Verdict.DRIFT: "bold yellow", Verdict.FAILED: "bold red",
              Verdict.UNUSABLE: "bold red"}
    parts = []
    for connector in report.connectors:
        title = Text(f"{connector.connector} ({connector.venue}): ")
        title.append(connector.verdict.value, style=styles[connector.verdict])
        table = Table(title=title, title_justify="left")
        for column in ("Check", "Result", "Latency", "Detail"):
            table.add_column(column, justify="right" if column == "Latency" else "left")
        for check in connector.checks:
            if check.drifts:
                detail = "\n".join(str(drift) for drift in check.drifts)
            else:
                detail = check.error or check.detail
            latency = f"{check.latency_ms:.0f}ms" if check.latency_ms is not None else ""
            table.add_row(Text(check.name), Text(check.verdict.value, style=styles[check.verdict]), latency,
                          Text(detail))
        parts.append(table)
        facts = []
        if connector.unusable:
            facts.append(Text(f"unusable: {connector.unusable}", style="bold red"))
        if connector.clock is not None:
            clock = connector.clock
            facts.append(Text(f"venue clock {clock.offset_ms:+.0f} ms against ours (to within "
                              f"{clock.resolution_ms:g} ms, {clock.source})"))
        for market in connector.markets:
            line = market.as_dict()
            leverage = f", max leverage {line['max_leverage']} ({line['max_leverage_source']})" \
                if line["max_leverage"] else ", max leverage not published"
            notional = f", min notional {line['min_notional']}" if line["min_notional"] else ""
            facts.append(Text(f"{market.symbol}: step {line['step_size']}, tick {line['tick_size']}, "
                              f"min size {line['min_size']}{notional}{leverage}"))
        parts.extend(facts)
    verdict = {0: Text("every venue answers as hedgectl reads it", style="green"),
               1: Text("drift: a venue answers otherwise than hedgectl reads it (see above)", style="bold yellow"),
               2: Text("unusable: a venue cannot be reached or refuses the credentials", style="bold red")}
    parts.append(verdict[int(report.exit_code)])
    return Group(*parts)
