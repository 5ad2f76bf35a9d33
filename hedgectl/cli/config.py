"""``hedgectl config``: write a starter config, show the resolved one (secrets redacted), check it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hedgectl.cli.state import state
from hedgectl.errors import ExitCode

app = typer.Typer(help="Create, show and validate the configuration.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")


@app.command("init")
def init(
    ctx: typer.Context,
    path: Path | None = typer.Argument(None, help="Where to write (default: ~/.config/hedgectl/config.toml)."),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing config file (an existing .env is never touched)."
    ),
) -> None:
    """Write a complete starter config, and a .env (mode 0600) naming the secrets to fill in."""
    from hedgectl.config.loader import user_config_path
    from hedgectl.config.starter import secret_variables, starter_document, write_config

    terminal = state(ctx).terminal()
    target = (path or user_config_path()).expanduser()
    document = starter_document()
    written = write_config(target, document, {}, force=force)
    if written.dotenv_kept is not None:
        terminal.warn(f"{written.dotenv_kept} exists and was left alone; add these variables to it or to the "
                      "environment:")
        for variable in secret_variables(document):
            terminal.info(f"  {variable}")
    else:
        terminal.info(f"secrets go in {written.secrets_path} (mode 0600) or the environment")
    terminal.success(f"wrote {target}")
    terminal.info(f"next: fill in the secrets, then run: hedgectl --config {target} config check")


def _secret_view(connector) -> dict[str, str]:
    view = {name: f"*** ({secret.source})" for name, secret in connector.secrets.items()}
    for item in connector.missing_secrets:
        view[item.split(" ", 1)[0]] = "missing"
    return view


def config_view(config) -> dict[str, Any]:
    """The resolved config as plain data, every secret replaced by where it came from."""
    from hedgectl.cli.terminal import to_jsonable

    return {
        "path": str(config.path) if config.path else None,
        "general": to_jsonable(config.general),
        "connectors": {
            name: {
                "venue": c.venue,
                "base_url": c.base_url,
                "timeout_secs": c.timeout_secs,
                "read_retries": c.read_retries,
                **to_jsonable(c.options),
                "secrets": _secret_view(c),
            }
            for name, c in config.connectors.items()
        },
        "hedge": to_jsonable(config.hedge),
        "telemetry": {
            **to_jsonable(config.telemetry),
            "token": "***" if config.telemetry.token else None,
        },
        "telegram": {
            **to_jsonable(config.telegram),
            "bot_token": "***" if config.telegram.bot_token else None,
        },
        "min_order": to_jsonable(config.min_order),
    }


def _render_view(view: dict[str, Any]):
    from rich.tree import Tree

    tree = Tree(f"[bold]{view['path'] or 'config'}[/bold]")

    def add(node: Tree, value: Any, label: str) -> None:
        if isinstance(value, dict):
            branch = node.add(f"[cyan]{label}[/cyan]")
            for key, inner in value.items():
                add(branch, inner, str(key))
        else:
            shown = "missing" if value == "missing" else value
            style = "red" if shown == "missing" else ""
            node.add(f"{label} = [{style}]{shown}[/{style}]" if style else f"{label} = {shown}")

    for key, value in view.items():
        if key != "path":
            add(tree, value, key)
    return tree


@app.command("show")
def show(ctx: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Print the resolved config; secret values are never shown, only where they come from."""
    app_state = state(ctx)
    view = config_view(app_state.config())
    app_state.terminal(json_mode=json_output).result(view, lambda: _render_view(view))


@app.command("check")
def check(ctx: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Validate the config and its secrets; list every problem with its key path (exit 2 when invalid)."""
    from hedgectl.config.loader import find_config_path, inspect_config, searched_locations

    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    path = find_config_path(app_state.config_path)
    if path is None:
        problems = [f"no config file found (looked at {searched_locations()})"]
        result_ok, missing, connectors = False, [], 0
    else:
        result = inspect_config(path)
        problems, missing = result.problems, result.missing_secrets
        result_ok = result.ok
        connectors = len(result.config.connectors) if result.config else 0
    data = {"ok": result_ok, "path": str(path) if path else None, "problems": problems, "missing_secrets": missing}
    if json_output:
        terminal.result(data)
    else:
        for line in problems + missing:
            terminal.error(line)
        if result_ok:
            terminal.success(f"{path}: OK ({connectors} connectors)")
    if not result_ok:
        raise typer.Exit(ExitCode.USAGE)
