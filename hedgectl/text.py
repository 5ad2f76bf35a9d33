"""Text from the network made fit for a terminal and a log: every control, format or invalid character shown as an
escape (``\\x1b``), the length bounded. Rich never sees it as markup when it is drawn as a ``rich.text.Text``.

A venue's error message, a heartbeat's symbol or a bot's name reaches an operator's terminal; a terminal obeys
escape sequences (``\\x1b[2J`` clears it, OSC sequences set its title), so such strings pass through ``visible``.
"""

from __future__ import annotations

import unicodedata

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
    """``value`` as text a terminal shows as it is: control, format and invalid characters escaped (``\\x1b``),
    cut to ``limit`` characters (with an ellipsis)."""
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
