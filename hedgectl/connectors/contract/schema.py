"""Expectations on venue documents: each field hedgectl reads, the type it must have and the range it must lie in,
checked so that a missing or retyped field is named by its path rather than found later as a parse error.

A path is dotted; ``name[]`` stands for every element of the list ``name`` (drifts name the element's index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

#: The longest text of a venue's value quoted in a report (the text is the venue's, so it is bounded and printable).
MAX_QUOTE_CHARS = 48


@dataclass(frozen=True)
class Kind:
    """A JSON type as hedgectl's parsers accept it."""

    description: str
    accepts: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_decimal(value: Any) -> Decimal | None:
    """The decimal a venue value stands for, as ``fields.decimal_field`` reads it; None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def _is_integer_text(value: Any) -> bool:
    if _is_int(value):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


DECIMAL = Kind("a decimal (string or number)", lambda value: as_decimal(value) is not None)
#: Compared with ``==`` against hedgectl's own integers: a string would silently never match.
INT = Kind("a JSON integer", _is_int)
#: Read through ``int()``, which takes digits in a string as well.
INTEGER = Kind("an integer (number or digits)", _is_integer_text)
DIGITS = Kind("digits in a string or a JSON integer", lambda value: _is_int(value) or (
    isinstance(value, str) and value.isdigit()))
TEXT = Kind("a string", lambda value: isinstance(value, str))
BOOL = Kind("a boolean", lambda value: isinstance(value, bool))
OBJECT = Kind("a JSON object", lambda value: isinstance(value, dict))
LIST = Kind("a JSON list", lambda value: isinstance(value, list))
ANY = Kind("any value", lambda value: True)


def positive(value: Any) -> str | None:
    number = as_decimal(value)
    return None if number is not None and number > 0 else "greater than 0"


def not_negative(value: Any) -> str | None:
    number = as_decimal(value)
    return None if number is not None and number >= 0 else "0 or more"


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "one of " + ", ".join(map(str, choices))

    return check


def int_between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        try:
            return None if low <= int(value) <= high else f"between {low} and {high}"
        except (TypeError, ValueError):
            return f"between {low} and {high}"

    return check


def hex_text(value: Any) -> str | None:
    text = value[2:] if isinstance(value, str) and value[:2].lower() == "0x" else value
    try:
        int(text, 16)
    except (TypeError, ValueError):
        return "hexadecimal text"
    return None


@dataclass(frozen=True)
class Expect:
    """One field hedgectl reads: ``path`` from the document's root, its ``kind``, whether it must be present, an
    optional range check (returns what was expected when the value is out of range) and an optional condition on the
    object holding the field (the field is only read when it holds)."""

    path: str
    kind: Kind
    required: bool = True
    check: Callable[[Any], str | None] | None = None
    when: Callable[[dict[str, Any]], bool] | None = None


@dataclass(frozen=True)
class Drift:
    """A field that is not what hedgectl reads it as: where, what was expected, what came instead."""

    path: str
    expected: str
    got: str
    more: int = 0  # further rows with the same drift

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "expected": self.expected, "got": self.got, "more_rows": self.more}

    def __str__(self) -> str:
        more = f" (and {self.more} more rows)" if self.more else ""
        return f"{self.path}: expected {self.expected}, got {self.got}{more}"


def describe(value: Any) -> str:
    """What a venue value is, for a report: its JSON type and a bounded, printable quote of it."""
    if value is _MISSING:
        return "nothing (field missing)"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    kind = "a boolean" if isinstance(value, bool) else "a string" if isinstance(value, str) else "a number"
    quoted = repr(value)
    quoted = "".join(ch if ch.isprintable() else "?" for ch in quoted)
    if len(quoted) > MAX_QUOTE_CHARS:
        quoted = quoted[:MAX_QUOTE_CHARS - 3] + "..."
    return f"{kind} {quoted}"


_MISSING = object()


def validate(document: Any, expectations: tuple[Expect, ...] | list[Expect], *, root: str = "") -> list[Drift]:
    """Every drift of ``document`` from ``expectations``; rows of a list drifting alike are reported once, counted."""
    found: dict[tuple[str, str], Drift] = {}
    seen: set[str] = set()
    for expect in expectations:
        for path, expected, got in _walk(document, expect.path.split("."), expect, root):
            if path in seen:  # a missing parent is named once, not once per field under it
                continue
            seen.add(path)
            key = (_template(path), expected)
            if key in found:
                first = found[key]
                found[key] = Drift(first.path, first.expected, first.got, first.more + 1)
            else:
                found[key] = Drift(path, expected, got)
    return list(found.values())


def _template(path: str) -> str:
    """A drift's path with its list indexes blanked, so that rows drifting alike count as one."""
    out, skipping = [], False
    for ch in path:
        if ch == "[":
            skipping = True
            out.append("[")
        elif ch == "]":
            skipping = False
            out.append("]")
        elif not skipping:
            out.append(ch)
    return "".join(out)


def _join(root: str, name: str) -> str:
    return f"{root}.{name}" if root else name


def _walk(value: Any, segments: list[str], expect: Expect, where: str):
    """Yield ``(path, expected, got)`` for each place ``expect`` does not hold under ``value``."""
    segment, rest = segments[0], segments[1:]
    each = segment.endswith("[]")
    name = segment[:-2] if each else segment
    if name == "" and each:  # the answer itself is the list
        path, child, value = where, value, {"": value}
    elif not isinstance(value, dict):
        return  # the parent's own expectation names it
    else:
        path = _join(where, name)
        child = value.get(name, _MISSING)
    last = not rest
    if last and expect.when is not None and not expect.when(value):
        return
    if child is _MISSING or child is None:
        if expect.required:
            wanted = LIST.description if each else expect.kind.description if last else OBJECT.description
            yield path, wanted, describe(child)
        return
    if each:
        if not isinstance(child, list):
            yield path or "(answer)", LIST.description, describe(child)
            return
        for index, item in enumerate(child):
            item_path = f"{path}[{index}]"
            if last:
                yield from _check_value(item, item_path, expect)
            elif not isinstance(item, dict):
                yield item_path, OBJECT.description, describe(item)
            else:
                yield from _walk(item, rest, expect, item_path)
        return
    if last:
        yield from _check_value(child, path, expect)
        return
    if not isinstance(child, dict):
        yield path, OBJECT.description, describe(child)
        return
    yield from _walk(child, rest, expect, path)


def _check_value(value: Any, path: str, expect: Expect):
    if not expect.kind.accepts(value):
        yield path, expect.kind.description, describe(value)
        return
    if expect.check is not None:
        wanted = expect.check(value)
        if wanted is not None:
            yield path, f"{expect.kind.description}, {wanted}", describe(value)
