"""Commands registered by name and imported on first use, so that ``hedgectl --help`` and every command load only
the modules they need (the root help lists each command from its registered help text)."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from hedgectl.cli.coercion import install, install_params


@dataclass(frozen=True)
class LazyCommand:
    """A command of the root group: ``target`` is ``"module:attribute"``, a ``typer.Typer`` (a command group) or a
    command function; ``help`` is what the root help lists (the command's own first sentence)."""

    name: str
    target: str
    help: str


#: Whether this process holds the cycle collector off until a command's module is loaded (``hold_collector``).
_collector_held = False


def hold_collector() -> None:
    """Keep the cycle collector off while the command line and the command's module load, for a process that runs one
    command: start-up makes tens of thousands of objects that live as long as the process (modules, classes,
    functions) and next to no garbage, and the collector's runs over them cost about 7 ms of a `positions`."""
    global _collector_held
    _collector_held = True
    gc.disable()


def _release_collector() -> None:
    global _collector_held
    if _collector_held:
        _collector_held = False
        gc.freeze()  # start-up's objects stay for good: the collections of a long command need not walk them again
        gc.enable()


def load(entry: LazyCommand) -> Any:
    """Import and return the command's ``typer.Typer`` or function (the collector is back on from here)."""
    module_name, _, attribute = entry.target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    finally:
        _release_collector()


def build(entry: LazyCommand) -> Any:
    """The Click command of ``entry``, built as ``add_typer``/``command`` on the root app would build it."""
    target = load(entry)
    # A throwaway parent with the root's settings: Typer hands those (markup mode, exception style) down to what it
    # builds, and a parent with a callback always builds a group holding exactly this command.
    shell = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    shell.callback()(_no_options)
    if isinstance(target, typer.Typer):
        shell.add_typer(target, name=entry.name)
    else:
        shell.command(entry.name)(target)
    return install(typer.main.get_command(shell).commands[entry.name])


def _no_options() -> None:
    """The throwaway parent's callback."""


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name: the names (and their order) are known without importing anything, a command is
    imported and built the first time it is looked up."""

    def __init__(self, entries: list[LazyCommand]) -> None:
        self.entries = {entry.name: entry for entry in entries}
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            entry = self.entries[name]  # KeyError for an unknown command, as a dict would
            self._built[name] = build(entry)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        self.entries.setdefault(name, LazyCommand(name, "", command.get_short_help_str(limit=10_000)))

    def __delitem__(self, name: str) -> None:
        del self.entries[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries


class LazyGroup(TyperGroup):
    """The root group: its commands come from ``COMMANDS`` (set by a subclass) and load on use."""

    COMMANDS: list[LazyCommand] = []

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        install_params(self.params)
        commands = LazyCommands(list(self.COMMANDS))
        for name, command in dict(self.commands).items():  # commands registered on the app the usual way
            commands[name] = command
        self.commands = commands

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            install_params([option])
        return option

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from the registered help texts, without importing any command."""
        entries = [self.commands.entries[name] for name in self.list_commands(ctx)]
        if not entries:
            return
        limit = formatter.width - 6 - max(len(entry.name) for entry in entries)
        rows = [(entry.name, TyperCommand(entry.name, help=entry.help).get_short_help_str(limit)) for entry in entries]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
