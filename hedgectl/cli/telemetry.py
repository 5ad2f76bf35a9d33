"""``hedgectl telemetry``: push heartbeats, serve the collector, watch the status board."""

from __future__ import annotations

import os
import sys

import typer

from hedgectl.cli.paper import PAPER_OPTION, SEED_OPTION, command_env
from hedgectl.cli.state import GROUP_OPTION, run, state
from hedgectl.errors import ExitCode, UsageError

app = typer.Typer(help="Heartbeats, the collector they go to, and a live board of it.", no_args_is_help=True)

TOKEN_ENV = "HEDGECTL_TELEMETRY_TOKEN"

TOKEN_HELP = f"Shared token: visible to every local user in `ps`, prefer ${TOKEN_ENV} or --token-file (warns)."
TOKEN_FILE_HELP = "File holding the shared token, mode 0600 (refused when group or others can read it)."


def _explicit_token(option: str | None, token_file: str | None, ctx: typer.Context) -> str | None:
    """--token-file, else --token (with a warning), else $HEDGECTL_TELEMETRY_TOKEN; empty means none."""
    from hedgectl.telemetry.token import COMMAND_LINE_WARNING, TokenFileError, read_token_file

    if token_file is not None:
        if option:
            raise UsageError("give the token once: --token or --token-file, not both")
        try:
            return read_token_file(token_file)
        except TokenFileError as exc:
            raise UsageError(str(exc)) from None
    if option:
        state(ctx).terminal().warn(COMMAND_LINE_WARNING)
        return option
    return os.environ.get(TOKEN_ENV) or None


def _token(option: str | None, token_file: str | None, ctx: typer.Context) -> str | None:
    """The token as `_explicit_token` finds it, else the config's token."""
    explicit = _explicit_token(option, token_file, ctx)
    if explicit is not None:
        return explicit
    from hedgectl.config.loader import find_config_path

    app_state = state(ctx)
    if find_config_path(app_state.config_path) is not None:
        token = app_state.config().telemetry.token
        return token.reveal() if token else None
    return None


@app.command("push")
def push(
    ctx: typer.Context,
    paper: bool = PAPER_OPTION,
    seed: int | None = SEED_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    group: str | None = GROUP_OPTION,
) -> None:
    """Post one heartbeat per role (BP, L1, L2) from live venue reads, then exit (for cron)."""
    from hedgectl.telemetry.heartbeat import push_once
    from hedgectl.telemetry.readings import read_roles
    from hedgectl.telemetry.settings import settings_from_config

    app_state = state(ctx, group=group)
    terminal = app_state.terminal(json_mode=json_output)
    with command_env(app_state, paper=paper, seed=seed) as env:
        try:
            settings = settings_from_config(env.config.telemetry)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

        async def push_all():
            from hedgectl.connectors.factory import ConnectorSet

            async with ConnectorSet(env.config, data_dir=app_state.data_dir(env.config)) as connectors:
                readings = await read_roles(connectors, env.config.hedge)

                async def source():
                    return readings

                return await push_once(settings, source)

        report = run(push_all())
    data = report.to_dict()

    def render():
        from rich.table import Table
        from rich.text import Text

        from hedgectl.cli.plain import plain

        table = Table("role", "bot", "result", "detail", title=plain(f"heartbeats to {settings.base_url}", 200))
        for result in report.results:
            if result.ok:
                verdict = Text("sent", style="green")
            elif result.failure == "pending":
                verdict = Text("not read yet", style="yellow")
            else:
                verdict = Text(f"{result.failure} failed", style="red")
            table.add_row(plain(result.role), plain(result.bot_name), verdict, plain(result.detail or "", 200))
        return table

    terminal.result(data, render)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILURE)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback unless told otherwise)."),
    port: int = typer.Option(10123, "--port", min=0, max=65535, help="Port; 0 picks a free one."),
    token: str | None = typer.Option(None, "--token", help=TOKEN_HELP),
    token_file: str | None = typer.Option(None, "--token-file", help=TOKEN_FILE_HELP),
) -> None:
    """Run the heartbeat collector (protocol-compatible with the old Node one) until Ctrl-C.

    The token comes from --token-file or $HEDGECTL_TELEMETRY_TOKEN; without one, the collector asks for none.
    """
    from hedgectl.telemetry.collector import serve as serve_collector

    terminal = state(ctx).terminal()
    secret = _explicit_token(token, token_file, ctx)

    def ready(url: str) -> None:
        terminal.success(f"collector listening on {url} ({'token required' if secret else 'no token'})")

    try:
        run(serve_collector(host=host, port=port, token=secret, on_ready=ready))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@app.command("watch")
def watch(
    ctx: typer.Context,
    url: str | None = typer.Option(None, "--url", help="Collector URL (default: the config's telemetry base_url)."),
    token: str | None = typer.Option(None, "--token", help=TOKEN_HELP),
    token_file: str | None = typer.Option(None, "--token-file", help=TOKEN_FILE_HELP),
    interval: float = typer.Option(2.0, "--interval", min=0.2, help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Render one frame and exit."),
    prune: bool = typer.Option(False, "--prune", help="Prune offline bots before the first frame."),
    json_output: bool = typer.Option(False, "--json", help="Print the collector's status as JSON and exit."),
) -> None:
    """A live board of the collector's bots, grouped by hedge group and role (keys: r refresh, p prune, q quit)."""
    from hedgectl.cli import board_view
    from hedgectl.config.schema import check_url
    from hedgectl.telemetry import board

    app_state = state(ctx)
    if url is None:
        from hedgectl.config.loader import find_config_path

        if find_config_path(app_state.config_path) is not None:
            url = app_state.config().telemetry.base_url
        if not url:
            raise UsageError("no collector URL: pass --url or set [telemetry] base_url")
    try:
        url = check_url(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    secret = _token(token, token_file, ctx)
    terminal = app_state.terminal(json_mode=json_output)
    if json_output:

        async def status():
            async with board.BoardClient(url, secret) as client:
                return await client.status()

        try:
            document = run(status())
        except board.BoardError as exc:
            terminal.error(str(exc))
            raise typer.Exit(ExitCode.FAILURE) from None
        terminal.result(document)
        return
    keys_fd = sys.stdin.fileno() if (sys.stdin.isatty() and not once) else None
    try:
        ok = run(
            board_view.watch(terminal.out, url, secret, interval_secs=interval, once=once, prune_first=prune,
                        keys_fd=keys_fd)
        )
    except KeyboardInterrupt:
        ok = True
    if not ok:
        raise typer.Exit(ExitCode.FAILURE)
