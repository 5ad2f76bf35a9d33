"""Strings from the network made fit for a terminal: plain text, every control character visible, never markup.

A heartbeat's group, symbol or bot name is shown on an operator's terminal. Rich would read `[bold red]` or `[/]` in a
plain `str` as markup, and a terminal obeys escape sequences (`\\x1b[2J` clears it, OSC sequences set its title), so
every such string passes through `visible` and is drawn as a `rich.text.Text`, which Rich never parses.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

ELLIPSIS = "…"
DEFAULT_LIMIT = 64

# Categories a terminal may act on or that hide or reorder text: controls, formats (bidi overrides, zero widths),
# surrogates, private use, unassigned, and the line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """`value` as text a terminal shows as it is: control, format and invalid characters escaped (`\\x1b`),
    cut to `limit` characters (with an ellipsis)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an integer too long to convert
        text = "?"
    out: list[str] = []
    length = 0
    # Each character takes at least one place, so nothing past `limit + 1` characters can be shown.
    for char in text[: limit + 1]:
        piece = _escape(char) if unicodedata.category(char) in _HIDDEN_CATEGORIES else char
        if length + len(piece) > limit:
            out.append(ELLIPSIS)
            break
        out.append(piece)
        length += len(piece)
    return "".join(out)


def plain(value: object, limit: int = DEFAULT_LIMIT, *, style: str = "") -> Text:
    """A Rich Text of `visible(value)`: shown literally, whatever brackets or codes it holds."""
    return Text(visible(value, limit), style=style)
