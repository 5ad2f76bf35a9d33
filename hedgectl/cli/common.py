"""What the venue commands share: choosing connectors, reading sizes and sides, confirming a trade, opening venues."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hedgectl.cli.paper import command_env
from hedgectl.cli.state import AppState
from hedgectl.cli.terminal import Terminal
from hedgectl.config.model import Config
from hedgectl.errors import ExitCode, InvalidOrder, UsageError

if TYPE_CHECKING:
    from hedgectl.connectors.base import Connector, MarketRules
    from hedgectl.model.orders import Side

JSON_OPTION = typer.Option(False, "--json", help="Print JSON.")
YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (required without a terminal).")
SYMBOL_OPTION = typer.Option(None, "--symbol", help="Market symbol (default: the venue's symbol in [hedge] symbols).")


@dataclass(frozen=True)
class VenueSession:
    """The config a venue command runs with and the data directory its connectors keep state in."""

    config: Config
    data_dir: Path


@contextmanager
def venue_session(app_state: AppState, *, paper: bool, seed: int | None = None) -> Iterator[VenueSession]:
    """The live config, or embedded paper venues for the duration of the command when ``paper``."""
    with command_env(app_state, paper=paper, seed=seed) as env:
        yield VenueSession(env.config, app_state.data_dir(env.config))


def select_connectors(
    config: Config, names: Sequence[str] | None, all_connectors: bool, *, default_all: bool
) -> list[str]:
    """The connector names a command works on, checked against the config (UsageError for unknown ones).

    Without names, ``--all`` (or ``default_all``) means every configured connector.
    """
    names = list(dict.fromkeys(names or ()))
    if names and all_connectors:
        raise UsageError("name connectors or pass --all, not both")
    if not names:
        if not (all_connectors or default_all):
            raise UsageError("name at least one connector, or pass --all")
        names = list(config.connectors)
        if not names:
            raise UsageError("no connectors are configured")
    for name in names:
        config.connector(name)
    return names


def parse_size(text: str, *, option: str = "--size") -> Decimal:
    """A positive, finite decimal from the command line (never through float)."""
    from hedgectl.decimals import to_decimal

    try:
        size = to_decimal(text, what=option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if size <= 0:
        raise UsageError(f"{option} must be positive, got {text}")
    return size


def parse_side(text: str) -> Side:
    from hedgectl.model.orders import Side

    try:
        return Side(text.strip().lower())
    except ValueError:
        raise UsageError(f"--side must be buy or sell, got '{text}'") from None


#: The shortest polling interval: faster reads would eat into the rate limit a running hedge shares.
MIN_INTERVAL_SECS = 0.2


def check_interval(seconds: float, *, option: str = "--interval") -> float:
    if not seconds >= MIN_INTERVAL_SECS:
        raise UsageError(f"{option} must be at least {MIN_INTERVAL_SECS:g} seconds, got {seconds:g}")
    return seconds


async def market_rules(connector: Connector, symbol: str) -> MarketRules:
    """The market's rules; an unknown symbol is a usage error (nothing was attempted), not a venue failure."""
    try:
        return await connector.market_rules(symbol)
    except InvalidOrder as exc:
        raise UsageError(f"{connector.name}: unknown symbol '{symbol}' ({exc.message})") from None


def ensure_can_confirm(*, yes: bool) -> None:
    """Refuse early (a usage error) when a confirmation will be needed and nobody can give it (no terminal)."""
    if not yes and not sys.stdin.isatty():
        raise UsageError("no terminal to confirm on; pass --yes to go ahead without confirmation")


def confirm_or_stop(terminal: Terminal, question: str, *, yes: bool) -> None:
    """Go on only when the operator agreed (or passed --yes); a refusal ends the command with nothing sent."""
    if yes:
        return
    ensure_can_confirm(yes=yes)
    if not terminal.confirm(question, assume_yes=False):
        terminal.info("nothing was sent")
        raise typer.Exit(ExitCode.INTERRUPTED)
