"""``hedgectl nonce``: a Lighter api key's next nonce at the venue beside the one hedgectl keeps, and a refresh."""

from __future__ import annotations

from typing import Any

import typer

from hedgectl.cli.common import JSON_OPTION, venue_session
from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION
from hedgectl.cli.state import run, state
from hedgectl.errors import ExitCode, UsageError

app = typer.Typer(help="Show and refresh the nonces of Lighter api keys.", no_args_is_help=True)

NAME_ARGUMENT = typer.Argument(..., help="A Lighter connector.")


async def _nonce_connector(connectors, name: str):
    connector = await connectors.get(name)
    if not callable(getattr(connector, "nonce_status", None)):
        raise UsageError(f"{name} is a {connector.venue} connector; only Lighter connectors have nonces")
    return connector


def _expected_local(status) -> int | None:
    """The nonce this host would use next: this process's, else the one after the last it recorded."""
    if status.local_next is not None:
        return status.local_next
    if status.persisted_last_used is not None:
        return status.persisted_last_used + 1
    return None


def status_view(name: str, status) -> dict[str, Any]:
    local = _expected_local(status)
    if local is None:
        verdict = "no local record"
    elif local == status.server_next:
        verdict = "in step"
    elif local < status.server_next:
        verdict = "behind the venue"
    else:
        verdict = "ahead of the venue"
    return {
        "connector": name,
        "account_index": status.account_index,
        "api_key_index": status.api_key_index,
        "server_next": status.server_next,
        "local_next": status.local_next,
        "persisted_last_used": status.persisted_last_used,
        "expected_local_next": local,
        "in_step": None if local is None else local == status.server_next,
        "verdict": verdict,
    }


EXPLANATIONS = {
    "behind the venue": "another process (or another tool) used this api key since hedgectl last did; the next "
    "order would be refused with 21104 until the nonce is refreshed (hedgectl refreshes and retries by itself)",
    "ahead of the venue": "hedgectl counted transactions the venue never accepted; refresh to adopt the venue's",
    "no local record": "hedgectl has not used this api key from this data directory yet",
    "in step": "",
}


@app.command("show")
def show(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    check: bool = typer.Option(False, "--check", help="Exit 1 when the local nonce is out of step with the venue."),
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """The venue's next nonce for the connector's api key, and the one hedgectl would use next."""
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        session.config.connector(name)
        view = run(_show(session, name))
    terminal.result(view, lambda: _render_status(view))
    if check and view["in_step"] is False:
        raise typer.Exit(ExitCode.FAILURE)


async def _show(session, name: str) -> dict[str, Any]:
    from hedgectl.connectors.factory import ConnectorSet

    async with ConnectorSet(session.config, data_dir=session.data_dir) as connectors:
        connector = await _nonce_connector(connectors, name)
        return status_view(name, await connector.nonce_status())


def _render_status(view: dict[str, Any]):
    from rich.table import Table

    style = {"in step": "green", "no local record": "dim"}.get(view["verdict"], "bold yellow")
    table = Table(show_header=False, title=f"nonce of {view['connector']}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("account index", str(view["account_index"]))
    table.add_row("api key index", str(view["api_key_index"]))
    table.add_row("venue's next nonce", str(view["server_next"]))
    table.add_row("this process's next", _text(view["local_next"]))
    table.add_row("last used (recorded)", _text(view["persisted_last_used"]))
    table.add_row("state", f"[{style}]{view['verdict']}[/{style}]")
    if EXPLANATIONS[view["verdict"]]:
        table.add_row("", EXPLANATIONS[view["verdict"]])
    return table


def _text(value) -> str:
    return "-" if value is None else str(value)


@app.command("refresh")
def refresh(
    ctx: typer.Context,
    name: str = NAME_ARGUMENT,
    api_key_index: int | None = typer.Option(
        None, "--api-key-index", help="The api key to refresh (default: the connector's)."
    ),
    json_output: bool = JSON_OPTION,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
) -> None:
    """Adopt the venue's next nonce for an api key, and say what changed."""
    if api_key_index is not None and not 0 <= api_key_index <= 254:
        raise UsageError(f"--api-key-index must be between 0 and 254, got {api_key_index}")
    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    with venue_session(app_state, paper=paper, seed=seed) as session:
        session.config.connector(name)
        data = run(_refresh(session, name, api_key_index))
    terminal.result(data, lambda: _render_refresh(data))


async def _refresh(session, name: str, api_key_index: int | None) -> dict[str, Any]:
    from hedgectl.connectors.factory import ConnectorSet

    async with ConnectorSet(session.config, data_dir=session.data_dir) as connectors:
        connector = await _nonce_connector(connectors, name)
        change = await connector.refresh_nonce(api_key_index)
    return {
        "connector": name,
        "api_key_index": change.api_key_index,
        "before": change.before,
        "after": change.after,
        "changed": change.changed,
    }


def _render_refresh(data: dict[str, Any]):
    from rich.text import Text

    where = f"{data['connector']} api key {data['api_key_index']}"
    if not data["changed"]:
        return Text(f"{where}: local nonce already {data['after']}, the venue's next; nothing changed", "green")
    before = "none" if data["before"] is None else data["before"]
    return Text(f"{where}: local nonce {before} -> {data['after']} (the venue's next)", "yellow")
