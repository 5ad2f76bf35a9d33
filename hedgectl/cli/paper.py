"""``--paper`` for any command: start embedded paper venues with fresh accounts and use a config pointing at them.

The venues run in a background thread for the duration of the command and stop with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from hedgectl.cli.state import AppState
from hedgectl.config.model import Config

if TYPE_CHECKING:
    from hedgectl.sim.runner import ThreadedPaperVenues

PAPER_OPTION = typer.Option(
    False, "--paper", help="Run against embedded paper venues with fresh accounts (no config file needed)."
)
SEED_OPTION = typer.Option(None, "--seed", help="Seed of the paper market (with --paper).")


@dataclass(frozen=True)
class CommandEnv:
    """What a venue command runs with: its config, and the embedded paper venues when ``--paper`` was given."""

    config: Config
    paper_venues: ThreadedPaperVenues | None = None


@contextmanager
def command_env(app_state: AppState, *, paper: bool, seed: int | None = None) -> Iterator[CommandEnv]:
    if not paper:
        yield CommandEnv(app_state.config())
        return
    from hedgectl.config.loader import find_config_path
    from hedgectl.config.starter import paper_config
    from hedgectl.sim.runner import ThreadedPaperVenues

    # a config file, when there is one, only contributes its data directory; paper needs none
    data_dir = app_state.config().general.data_dir if find_config_path(app_state.config_path) else None
    options = {} if seed is None else {"seed": seed}
    if not app_state.debug:
        # the embedded venues' own trade log would drown the command's output; --debug shows it
        logging.getLogger("hedgectl.sim").setLevel(logging.WARNING)
    from hedgectl.config.groups import select_group

    with ThreadedPaperVenues(**options) as venues:
        config = paper_config(venues.accounts_document(), data_dir=data_dir)
        yield CommandEnv(select_group(config, app_state.group), venues)
