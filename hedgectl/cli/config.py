"""``hedgectl config``: write a starter config, show the resolved one (secrets redacted), check it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hedgectl.cli.state import run, state
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
            # which chat the alerts reach is a secret of the .env as much as the token
            "chat_id": "***" if config.telegram.chat_id else None,
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


def _data_dir_problems(config) -> list[str]:
    """The data directory a command of this config would use, made (private) and proven writable."""
    from hedgectl.config.datadir import data_dir_path, ensure_data_dir
    from hedgectl.errors import ConfigError

    try:
        ensure_data_dir(data_dir_path(config, paper=False))
    except ConfigError as exc:
        return exc.problems
    return []


@app.command("check")
def check(
    ctx: typer.Context,
    online: bool = typer.Option(
        False, "--online", help="Also authenticate with each venue (a signed read) and Telegram; report per connector."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Validate the config and its secrets; list every problem with its key path (exit 2 when invalid).

    Offline, each secret's form is checked (and that the Backpack secret belongs to its API key); with --online
    each connector also authenticates with its venue (exit 1 when one fails).
    """
    from hedgectl.config.loader import find_config_path, inspect_config, searched_locations
    from hedgectl.config.validate import secret_problems

    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    path = find_config_path(app_state.config_path)
    config = None
    if path is None:
        problems = [f"no config file found (looked at {searched_locations()})"]
        missing = []
    else:
        result = inspect_config(path)
        config = result.config
        problems = list(result.problems)
        if config is not None:
            problems += secret_problems(config) + _data_dir_problems(config)
        missing = result.missing_secrets
    result_ok = config is not None and not problems and not missing
    data: dict[str, Any] = {"ok": result_ok, "path": str(path) if path else None, "problems": problems,
                            "missing_secrets": missing}
    online_results = None
    if online and result_ok:
        from hedgectl.connectors.online_check import check_online

        online_results = run(check_online(config, data_dir=app_state.data_dir(config)))
        data["online"] = {item.name: item.as_dict() for item in online_results}
        data["ok"] = all(item.ok for item in online_results)
    if json_output:
        terminal.result(data)
    else:
        for line in problems + missing:
            terminal.error(line)
        if online and not result_ok:
            terminal.info("not checked online: fix the problems above first")
        for item in online_results or []:
            if item.ok:
                terminal.success(f"{item.name}: {item.detail}")
            else:
                terminal.error(f"{item.name}: {item.detail}")
        if data["ok"]:
            terminal.success(f"{path}: OK ({len(config.connectors)} connectors{', online' if online else ''})")
    if not result_ok:
        raise typer.Exit(ExitCode.USAGE)
    if not data["ok"]:
        raise typer.Exit(ExitCode.FAILURE)
