"""The ``hedgectl`` command line: one Typer app, one module per command group, all output through Terminal.

Command modules import only Typer and light hedgectl modules at import time, so ``hedgectl --help`` never loads
the Lighter SDK, eth_account or aiohttp.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hedgectl import __version__
from hedgectl.cli import config as config_cmd
from hedgectl.cli import connectors as connectors_cmd
from hedgectl.cli import flatten as flatten_cmd
from hedgectl.cli import hedge as hedge_cmd
from hedgectl.cli import history as history_cmd
from hedgectl.cli import min_order as min_order_cmd
from hedgectl.cli import nonce as nonce_cmd
from hedgectl.cli import notify as notify_cmd
from hedgectl.cli import order as order_cmd
from hedgectl.cli import positions as positions_cmd
from hedgectl.cli import sim as sim_cmd
from hedgectl.cli import smoke_test as smoke_test_cmd
from hedgectl.cli import telemetry as telemetry_cmd
from hedgectl.cli import venue as venue_cmd
from hedgectl.cli.state import AppState
from hedgectl.errors import ExitCode

app = typer.Typer(
    name="hedgectl",
    help="Operate a tri-venue crypto hedge (Backpack + two Lighter accounts), live or against paper venues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(connectors_cmd.app, name="connectors")
app.add_typer(sim_cmd.app, name="sim")
app.add_typer(hedge_cmd.app, name="hedge")
app.command("history")(history_cmd.history)
app.add_typer(telemetry_cmd.app, name="telemetry")
app.add_typer(notify_cmd.app, name="notify")
app.command("positions")(positions_cmd.positions)
app.add_typer(nonce_cmd.app, name="nonce")
app.add_typer(min_order_cmd.app, name="min-order")
app.command("smoke-test")(smoke_test_cmd.smoke_test)
app.add_typer(order_cmd.app, name="order")
app.command("flatten")(flatten_cmd.flatten)
app.add_typer(venue_cmd.app, name="venue")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hedgectl {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="HEDGECTL_CONFIG", help="Config file (default: ./hedgectl.toml, then "
        "~/.config/hedgectl/config.toml).", dir_okay=False
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar=["HEDGECTL_DEBUG", "XTB_DEBUG"], help="Verbose logs and tracebacks."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only warnings and errors, in every command (exit codes still speak)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    from hedgectl.cli.logs import setup_logging

    ctx.obj = AppState(config_path=config, debug=debug, quiet=quiet)
    setup_logging(debug=debug, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every error into a one-line message and a documented exit code."""
    from hedgectl.cli.terminal import Terminal
    from hedgectl.errors import ConfigError, HedgectlError

    debug = "--debug" in (argv or sys.argv)
    try:
        # without standalone mode, Typer returns typer.Exit's code instead of raising it
        returned = app(args=argv, prog_name="hedgectl", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # bad usage: unknown option, missing argument, bad value
        Terminal().error(_usage_line(exc))
        return ExitCode.USAGE
    except (typer.Abort, KeyboardInterrupt):
        Terminal().error("interrupted")
        return ExitCode.INTERRUPTED
    except ConfigError as exc:
        terminal = Terminal()
        for problem in exc.problems:
            terminal.error(problem)
        return exc.exit_code
    except HedgectlError as exc:
        Terminal().error(str(exc))
        return exc.exit_code
    except Exception as exc:  # the last line of defence: one line, never a traceback unless asked
        if debug:
            raise
        Terminal().error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return ExitCode.FAILURE
    return returned if isinstance(returned, int) else ExitCode.OK


def _usage_line(exc: typer.TyperException) -> str:
    """Typer's usage error as one line, with where to find help (scripts read one line, not a usage block)."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.help_option_names:
        return f"{message} (see '{ctx.command_path} {ctx.help_option_names[0]}')"
    return message


def run() -> None:
    from hedgectl.runtime import hold_signals_until_exit, ignore_stop_signals

    hold_signals_until_exit()  # this process ends with the command: its signal handling lasts until the exit
    code = main()
    ignore_stop_signals()
    sys.exit(code)
