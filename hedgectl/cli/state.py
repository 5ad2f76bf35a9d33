"""What every command shares: the root options, the output object, the config, and running async work."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer

from hedgectl.cli.terminal import Terminal
from hedgectl.config.model import Config

T = TypeVar("T")


@dataclass
class AppState:
    """The root options of one invocation, and the config they lead to (loaded on first use)."""

    config_path: Path | None = None
    debug: bool = False
    quiet: bool = False
    #: the hedge group a command was pointed at (``--group``); None: the config's [hedge], the default group
    group: str | None = None
    _config: Config | None = field(default=None, repr=False)

    def terminal(self, *, json_mode: bool = False) -> Terminal:
        return Terminal(json_mode=json_mode, quiet=self.quiet)

    def config(self) -> Config:
        """The config from the documented lookup order (ConfigError, exit 2, when missing or invalid)."""
        if self._config is None:
            from hedgectl.config.loader import load_config

            from hedgectl.config.groups import select_group

            self._config = select_group(load_config(self.config_path), self.group)
        return self._config

    def data_dir(self, config: Config) -> Path:
        """The config's data directory (paper runs: their own), created private; ConfigError when unusable."""
        from hedgectl.config.datadir import data_dir_path, ensure_data_dir

        return ensure_data_dir(data_dir_path(config, paper=config.paper))


def state(ctx: typer.Context, *, group: str | None = None) -> AppState:
    """The command's shared state; ``group`` (a command's ``--group``) narrows its config to that group."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    if group is not None:
        from hedgectl.config.groups import valid_group_name
        from hedgectl.errors import UsageError

        if not valid_group_name(group):
            raise UsageError(f"--group takes a group name (letters, digits, '-', '_'), got {group!r}")
        root.obj.group = group
        root.obj._config = None
    return root.obj


GROUP_OPTION = typer.Option(None, "--group", metavar="NAME", help="The hedge group ([groups.NAME]; without "
                            "[groups]: 'default', the [hedge] table).")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's async body to completion on a fresh event loop."""
    return asyncio.run(coro)
