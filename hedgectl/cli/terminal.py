"""The one object that owns hedgectl's output: Rich for people, JSON for scripts, nothing for --quiet.

Commands build plain data and hand it here with a way to render it; no command prints on its own. Human output goes
to stdout, diagnostics to stderr; in JSON mode stdout carries only JSON (one document, or one object per line for
event streams), so ``hedgectl ... --json | jq`` always works.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgectl.config.secrets import Secret, redact
from hedgectl.decimals import plain

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


def to_jsonable(value: Any) -> Any:
    """Convert hedgectl's values for JSON: Decimal as a plain decimal string, enums by value, secrets masked."""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, BaseException):
        return redact(str(value))
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    return redact(json.dumps(to_jsonable(value), indent=indent, sort_keys=False))


class Terminal:
    """Decides, in one place, how results, messages and events reach the operator. Rich's consoles are made on
    first use: JSON output and clean exits never load Rich."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        stdout: Any = None,
        stderr: Any = None,
        width: int | None = None,
    ):
        self.json_mode = json_mode
        self.quiet = quiet
        self._stdout = stdout or sys.stdout
        self._stderr = stderr or sys.stderr
        if width is None and not _isatty(self._stdout):
            # a file or a pipe (cron, a log): do not wrap rows at 80 columns, they are read by scripts and people
            width = int(os.environ.get("COLUMNS", "0") or 0) or 160
        self._width = width
        self._out: Console | None = None
        self._err: Console | None = None
        self._closed = False

    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            self._out = Console(file=self._stdout, width=self._width, highlight=False, soft_wrap=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(file=self._stderr, width=self._width, highlight=False, stderr=True)
        return self._err

    @property
    def interactive(self) -> bool:
        """A person at a terminal: live views and prompts make sense."""
        return not self.json_mode and not self.quiet and self.out.is_terminal

    # --- results ---------------------------------------------------------------------------------------------

    def result(self, data: Any, render: RenderableType | Callable[[], RenderableType] | None = None) -> None:
        """A command's result: JSON of ``data`` in JSON mode, else ``render`` (or a pretty dump of data)."""
        if self.json_mode:
            self._write(dumps(data, indent=2) + "\n")
            return
        if self.quiet:
            return
        renderable = render() if callable(render) else render
        if renderable is None:
            self.out.print_json(dumps(data))
        else:
            self.out.print(renderable)

    def event(self, name: str, data: dict[str, Any], *, text: str | None = None, ts: float | None = None) -> None:
        """One event of a stream: a JSON line in JSON mode, a line of text otherwise."""
        if self.json_mode:
            import time

            record = {"event": name, "ts": ts if ts is not None else time.time(), **data}
            self._write(dumps(record) + "\n")
        elif not self.quiet and text:
            self.out.print(_literal(text))

    def _write(self, text: str) -> None:
        """Write to stdout; a reader that went away (``| head``) ends the output, never the command's work."""
        if self._closed:
            return
        # stdout as Rich would write it: beneath the proxy a live view puts in front of it
        out = getattr(self._stdout, "rich_proxied_file", self._stdout)
        try:
            out.write(text)
            out.flush()
        except BrokenPipeError:
            self._closed = True
            # keep the interpreter's final flush from failing on the same pipe
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, out.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            finally:
                os.close(devnull)

    # --- messages (stderr, never mixed into JSON) -------------------------------------------------------------

    def info(self, text: str) -> None:
        if not self.quiet and not self.json_mode:
            self.out.print(_literal(text))

    def success(self, text: str) -> None:
        if not self.quiet and not self.json_mode:
            self.out.print(f"[green]{redact(text)}[/green]")

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(redact(text))}", markup=True)

    def error(self, text: str) -> None:
        self.err.print(f"[red]error:[/red] {_escape(redact(text))}", markup=True, soft_wrap=True)

    # --- interaction ------------------------------------------------------------------------------------------

    def confirm(self, question: str, *, assume_yes: bool) -> bool:
        """Ask unless ``assume_yes``; refuse (False) when nobody can answer (no TTY on stdin)."""
        if assume_yes:
            return True
        if not sys.stdin.isatty():
            return False
        from rich.prompt import Confirm

        return Confirm.ask(question, console=self.err, default=False)

    @contextmanager
    def live(self, render: Callable[[], RenderableType], *, refresh_per_second: float = 4) -> Iterator[Callable[[], None]]:
        """A Rich Live region on a TTY; elsewhere a no-op. Yields ``refresh()`` to redraw after a change."""
        if not self.interactive:
            yield lambda: None
            return
        import logging

        from rich.live import Live

        # the live region shows the events itself; INFO lines written between its redraws would tear it
        quieted = [h for h in logging.getLogger().handlers if getattr(h, "_hedgectl", False)]
        levels = [h.level for h in quieted]
        for handler in quieted:
            handler.setLevel(max(handler.level, logging.WARNING))
        try:
            with Live(render(), console=self.out, refresh_per_second=refresh_per_second, transient=False) as live:
                yield lambda: live.update(render())
        finally:
            for handler, level in zip(quieted, levels):
                handler.setLevel(level)


def _literal(text: str):
    """A message as plain text: it may quote a venue, so brackets in it are not markup."""
    from rich.text import Text

    return Text(redact(text))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
