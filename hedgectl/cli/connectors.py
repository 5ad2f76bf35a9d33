"""``hedgectl connectors``: the configured connectors and their venue kinds."""

from __future__ import annotations

import typer

from hedgectl.cli.state import state

app = typer.Typer(help="List the configured venue connectors.", no_args_is_help=True)


@app.command("list")
def list_connectors(ctx: typer.Context, json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show each configured connector: name, venue, base URL, role in the hedge, secrets present."""
    app_state = state(ctx)
    config = app_state.config()
    roles = {name: role for role, name in config.hedge.roles.items()}
    rows = [
        {
            "name": c.name,
            "venue": c.venue,
            "base_url": c.base_url,
            "role": roles.get(c.name),
            "account": c.options.get("account_index"),
            "secrets_ok": not c.missing_secrets,
        }
        for c in config.connectors.values()
    ]

    def render():
        from rich.table import Table

        table = Table("connector", "venue", "role", "base url", "account", "secrets", title="connectors")
        for row in rows:
            table.add_row(
                row["name"],
                row["venue"],
                row["role"] or "",
                row["base_url"],
                "" if row["account"] is None else str(row["account"]),
                "[green]ok[/green]" if row["secrets_ok"] else "[red]missing[/red]",
            )
        return table

    app_state.terminal(json_mode=json_output).result({"connectors": rows}, render)
