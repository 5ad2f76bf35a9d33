"""The ``hedgectl`` command line: one Typer app, one module per command group, all output through Terminal.

Command modules are registered by name and imported only when used (``cli/lazy.py``), so ``hedgectl --help`` loads
none of them, and a command loads only its own.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import typer

from hedgectl import __version__
from hedgectl.cli.lazy import LazyCommand, LazyGroup
from hedgectl.errors import ExitCode

#: Every command of the root, in the order the help lists them: imported only when the command runs (or is asked
#: for its own help). The help text is the command's own first sentence, kept here so the root help imports nothing.
COMMANDS = [
    LazyCommand("history", "hedgectl.cli.history:history", "Past hedge cycles, newest first."),
    LazyCommand(
        "positions", "hedgectl.cli.positions:positions",
        "Show signed positions, entry, mark, PnL, liquidation price and collateral per connector, and the hedge NET.",
    ),
    LazyCommand(
        "smoke-test", "hedgectl.cli.smoke_test:smoke_test",
        "A post-only limit order that follows the top of the book until filled, then a reduce-only market order that"
        " closes it; then the position must be back where it started and no order of the test resting.",
    ),
    LazyCommand(
        "flatten", "hedgectl.cli.flatten:flatten",
        "Close every open position: cancel the market's resting orders, then send reduce-only market orders sized"
        " from the signed position read just before each one, and read the positions again to prove they are flat.",
    ),
    LazyCommand("config", "hedgectl.cli.config:app", "Create, show and validate the configuration."),
    LazyCommand("connectors", "hedgectl.cli.connectors:app", "List the configured venue connectors."),
    LazyCommand("sim", "hedgectl.cli.sim:app", "Paper venues: serve them, inject faults, inspect their state."),
    LazyCommand("hedge", "hedgectl.cli.hedge:app", "Run the tri-venue hedge, watch it, recover it after a crash."),
    LazyCommand("fleet", "hedgectl.cli.fleet:app", "Run every hedge group's loop at once, and show them all."),
    LazyCommand(
        "telemetry", "hedgectl.cli.telemetry:app", "Heartbeats, the collector they go to, and a live board of it."
    ),
    LazyCommand("notify", "hedgectl.cli.notify:app", "Telegram notifications."),
    LazyCommand("nonce", "hedgectl.cli.nonce:app", "Show and refresh the nonces of Lighter api keys."),
    LazyCommand(
        "min-order", "hedgectl.cli.min_order:app", "Diagnose minimum order sizes, client order indexes and nonces."
    ),
    LazyCommand(
        "order", "hedgectl.cli.order:app", "Send a manual order, or cancel every resting order of a connector."
    ),
    LazyCommand("venue", "hedgectl.cli.venue:app", "Check that each venue still answers as hedgectl reads it."),
]


class RootGroup(LazyGroup):
    COMMANDS = COMMANDS


app = typer.Typer(
    name="hedgectl",
    cls=RootGroup,
    help="Operate a tri-venue crypto hedge (Backpack + two Lighter accounts), live or against paper venues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    from hedgectl.cli.state import AppState

    ctx.obj = AppState(config_path=config, debug=debug, quiet=quiet)
    setup_logging(debug=debug, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every error into a one-line message and a documented exit code."""
    from hedgectl.errors import ConfigError, HedgectlError

    debug = "--debug" in (argv or sys.argv)
    try:
        # without standalone mode, Typer returns typer.Exit's code instead of raising it
        returned = app(args=argv, prog_name="hedgectl", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # bad usage: unknown option, missing argument, bad value
        _error(_usage_line(exc))
        return ExitCode.USAGE
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted")
        return ExitCode.INTERRUPTED
    except ConfigError as exc:
        _error(*exc.problems)
        return exc.exit_code
    except HedgectlError as exc:
        _error(str(exc))
        return exc.exit_code
    except Exception as exc:  # the last line of defence: one line, never a traceback unless asked
        if debug:
            raise
        if _trades(argv if argv is not None else sys.argv[1:]):
            # exit 1 would say "nothing is left open", which a command that trades cannot know after a bug
            _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details); this command "
                   "trades: orders or positions may be open, check 'hedgectl positions --all'")
            return ExitCode.POSITION_OPEN
        _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return ExitCode.FAILURE
    return returned if isinstance(returned, int) else ExitCode.OK


#: The commands that send orders, as the words that name them.
_TRADING_COMMANDS = ({"hedge", "run"}, {"fleet", "run"}, {"hedge", "recover"}, {"order", "market"}, {"order", "limit"},
                     {"order", "cancel-all"}, {"min-order", "probe"}, {"smoke-test"}, {"flatten"})


def _trades(args: list[str]) -> bool:
    """Whether the command line names a command that sends orders (a stray value of the same word only makes the
    answer more careful)."""
    words = {arg for arg in args if not arg.startswith("-")}
    return any(command <= words for command in _TRADING_COMMANDS)


def _error(*lines: str) -> None:
    """Print each line as an error through Terminal (imported only now: help and clean exits never load Rich)."""
    from hedgectl.cli.terminal import Terminal

    terminal = Terminal()
    for line in lines:
        terminal.error(line)


def _usage_line(exc: typer.TyperException) -> str:
    """Typer's usage error as one line, with where to find help (scripts read one line, not a usage block)."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.help_option_names:
        return f"{message} (see '{ctx.command_path} {ctx.help_option_names[0]}')"
    return message


def run() -> None:
    from hedgectl.cli.lazy import hold_collector
    from hedgectl.runtime import hold_signals_until_exit, ignore_stop_signals

    hold_collector()
    hold_signals_until_exit()  # this process ends with the command: its signal handling lasts until the exit
    code = main()
    ignore_stop_signals()
    # The interpreter's shutdown runs the cycle collector over every object still alive, most of them the imported
    # modules' classes and functions: about 30 ms of CPU after a `positions`, as long as its reads. The exit handlers
    # still run and the modules are still torn down; only objects alive now are left out of that collection, and
    # a command has closed what it wrote (journal, files, locks) before it returns.
    gc.freeze()
    sys.exit(code)
