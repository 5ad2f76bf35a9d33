"""Typed reading of TOML tables that collects every problem with its key path instead of stopping at the first."""

from __future__ import annotations

import difflib
import math
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hedgectl.decimals import to_decimal
from hedgectl.registry import REQUIRED

#: Default meaning "this key must be present".


class Problems:
    """An ordered list of ``key.path: message`` lines."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}" if path else message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self):
        return iter(self.items)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_keys(table: dict[str, Any], allowed: Iterable[str], path: str, problems: Problems) -> None:
    """Report every key of ``table`` not in ``allowed``, with the closest known key as a hint."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            fix = f" (did you mean '{hint[0]}'?)" if hint else f" (known keys: {', '.join(allowed)})"
            problems.add(join(path, str(key)), f"unknown key{fix}")


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def read(
    table: dict[str, Any],
    key: str,
    kind: str,
    path: str,
    problems: Problems,
    *,
    default: Any = REQUIRED,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    base_dir: Path | None = None,
) -> Any:
    """Read ``table[key]`` as ``kind``; on a problem record it and return the default (or None)."""
    where = join(path, key)
    if key not in table:
        if default is REQUIRED:
            problems.add(where, "missing required key")
            return None
        return default
    value = table[key]
    fallback = None if default is REQUIRED else default
    try:
        result = _convert(value, kind, choices, base_dir)
    except ValueError as exc:
        problems.add(where, str(exc))
        return fallback
    if kind in ("int", "float", "decimal") and result is not None:
        if minimum is not None and result < minimum:
            problems.add(where, f"must be at least {minimum}, got {value!r}")
            return fallback
        if maximum is not None and result > maximum:
            problems.add(where, f"must be at most {maximum}, got {value!r}")
            return fallback
    return result


def _convert(value: Any, kind: str, choices: tuple[str, ...], base_dir: Path | None) -> Any:
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a non-empty string, got {_type_name(value)}")
        return value.strip()
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_type_name(value)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_type_name(value)}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_type_name(value)}")
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return float(value)
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"expected a number or a decimal string, got {_type_name(value)}")
        return to_decimal(value, what="value")
    if kind == "choice":
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value
    if kind == "url":
        if not isinstance(value, str):
            raise ValueError(f"expected a URL string, got {_type_name(value)}")
        return check_url(value)
    if kind == "ws_url":
        if not isinstance(value, str):
            raise ValueError(f"expected a ws:// or wss:// URL string, got {_type_name(value)}")
        return check_ws_url(value)
    if kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a file path string, got {_type_name(value)}")
        if "\0" in value:
            raise ValueError("a path cannot contain a NUL character")
        try:
            candidate = Path(value).expanduser()
        except RuntimeError:  # ~user of a user that does not exist
            raise ValueError(f"cannot expand {value.split('/', 1)[0]!r} to a home directory") from None
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        return candidate
    if kind == "str_list":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"expected an array of strings, got {_type_name(value)}")
        return tuple(value)
    if kind in ("str_map", "decimal_map", "int_map"):
        if not isinstance(value, dict):
            raise ValueError(f"expected a table, got {_type_name(value)}")
        converted = {}
        for sub_key, sub_value in value.items():
            inner = {"str_map": "str", "decimal_map": "decimal", "int_map": "int"}[kind]
            try:
                converted[sub_key] = _convert(sub_value, inner, (), base_dir)
            except ValueError as exc:
                raise ValueError(f"key '{sub_key}': {exc}") from None
        return converted
    raise AssertionError(f"unknown kind {kind}")


def check_ws_url(value: str) -> str:
    """Accept a ws(s) URL with a host (a venue's stream); return it without a trailing slash."""
    parsed = urllib.parse.urlparse(value.strip())
    if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
        raise ValueError(f"expected a ws:// or wss:// URL, got {value!r}")
    try:
        parsed.port
    except ValueError:
        raise ValueError(f"bad port in URL {value!r}") from None
    return value.strip().rstrip("/")


def check_url(value: str) -> str:
    """Accept an http(s) URL with a host; return it without a trailing slash."""
    parsed = urllib.parse.urlparse(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    try:
        parsed.port
    except ValueError:
        raise ValueError(f"bad port in URL {value!r}") from None
    return value.strip().rstrip("/")
