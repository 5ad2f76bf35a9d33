"""Strings from the network made fit for a terminal: plain text, every control character visible, never markup.

A heartbeat's group, symbol or bot name is shown on an operator's terminal. Rich would read `[bold red]` or `[/]` in a
plain `str` as markup, and a terminal obeys escape sequences (`\\x1b[2J` clears it, OSC sequences set its title), so
every such string passes through `visible` and is drawn as a `rich.text.Text`, which Rich never parses.
"""

from __future__ import annotations

from rich.text import Text

from hedgectl.text import DEFAULT_LIMIT, ELLIPSIS, visible

__all__ = ["DEFAULT_LIMIT", "ELLIPSIS", "plain", "visible"]


def plain(value: object, limit: int = DEFAULT_LIMIT, *, style: str = "") -> Text:
    """A Rich Text of `visible(value)`: shown literally, whatever brackets or codes it holds."""
    return Text(visible(value, limit), style=style)
