"""What the collector accepts as a heartbeat: a JSON object within fixed bounds, checked completely before it is stored.

Everything stored must always be servable: a payload that passed `check_heartbeat` re-encodes to at most
MAX_PAYLOAD_BYTES of plain ASCII JSON, nests at most MAX_DEPTH deep and holds only finite numbers in range, so no
later `/api/status` answer can fail on it. docs/telemetry.md lists the bounds.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hedgectl.telemetry.protocol import MAX_INTERVAL_SECS

# The body as sent, before parsing; a heartbeat is a few hundred bytes.
MAX_BODY_BYTES = 16 * 1024
# The payload as stored and served (compact JSON): the per-bot memory bound.
MAX_PAYLOAD_BYTES = 4 * 1024
# The payload object itself is depth 1; its fields' values 2, and so on.
MAX_DEPTH = 4
MAX_STRING_CHARS = 256
MAX_KEY_CHARS = 64
MAX_CONTAINER_ITEMS = 64
MAX_VALUES = 256
# The fields the board shows as names: short enough to fit a table cell.
MAX_NAME_CHARS = 64
# JSON readers in JavaScript (the old board) lose integers beyond 2**53; floats are held to the same magnitude.
MAX_ABS_NUMBER = 2**53 - 1
# The longest integer literal accepted before converting it: bounds the parsing work of a 4,000-digit number.
_MAX_INT_DIGITS = 20

_NAME_FIELDS = ("group", "role", "symbol", "direction")
_DECIMAL_FIELDS = ("position_base", "balance_total")
_NON_NEGATIVE_FIELDS = ("timestamp", "latency")
# A plain decimal as the bots write it ("-0.0036", "1204.55"), optionally with a short exponent ("1e-05").
_DECIMAL_RE = re.compile(r"[+-]?(?:\d{1,40}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][+-]?\d{1,2})?")


class HeartbeatRejected(ValueError):
    """A heartbeat body the collector refuses; `status` is the HTTP status to answer, the message says why."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _bounded_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError("integer out of range")
    return int(text)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_bounded_float, parse_int=_bounded_int)
    except RecursionError:
        raise HeartbeatRejected(f"body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise HeartbeatRejected("body is not valid JSON (numbers must be finite)") from None


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_string(text: str, where: str, limit: int) -> None:
    if len(text) > limit:
        raise HeartbeatRejected(f"{where}: string longer than {limit} characters")
    if _has_lone_surrogate(text):
        raise HeartbeatRejected(f"{where}: string is not valid unicode")


def _check_number(value: int | float, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise HeartbeatRejected(f"{where}: number is not finite")
    if abs(value) > MAX_ABS_NUMBER:
        raise HeartbeatRejected(f"{where}: number out of range (at most {MAX_ABS_NUMBER} in magnitude)")


def _check_tree(payload: dict[str, Any]) -> None:
    """Depth, container sizes, strings and numbers of every value, walked without recursion."""
    stack: list[tuple[Any, int, str]] = [(payload, 1, "body")]
    values = 0
    while stack:
        value, depth, where = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise HeartbeatRejected(f"body holds more than {MAX_VALUES} values")
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise HeartbeatRejected(f"body nests deeper than {MAX_DEPTH} levels")
            if len(value) > MAX_CONTAINER_ITEMS:
                raise HeartbeatRejected(f"{where}: more than {MAX_CONTAINER_ITEMS} items")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_string(key, where, MAX_KEY_CHARS)
                    stack.append((item, depth + 1, key if where == "body" else f"{where}.{key}"))
            else:
                stack.extend((item, depth + 1, f"{where}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_string(value, where, MAX_STRING_CHARS)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (int, float)):
            _check_number(value, where)
        else:  # pragma: no cover - json.loads yields nothing else
            raise HeartbeatRejected(f"{where}: unsupported value")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_interval(value: Any) -> None:
    if value is None:
        return
    number: float | None = None
    if _is_number(value):
        number = float(value)
    elif isinstance(value, str) and _DECIMAL_RE.fullmatch(value.strip()):
        number = float(value)
    if number is None or not 0 < number <= MAX_INTERVAL_SECS:
        raise HeartbeatRejected(f"telemetry_interval_secs must be a number of seconds above 0 and at most "
                                f"{MAX_INTERVAL_SECS:g}")


def _check_known_fields(payload: dict[str, Any]) -> None:
    """The fields the board and /api/status read must have the types they are read as."""
    _check_interval(payload.get("telemetry_interval_secs"))
    for name in _NAME_FIELDS:
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            raise HeartbeatRejected(f"{name} must be a string or null")
        if value is not None and len(value) > MAX_NAME_CHARS:
            raise HeartbeatRejected(f"{name} longer than {MAX_NAME_CHARS} characters")
    for name in _DECIMAL_FIELDS:
        value = payload.get(name)
        if value is None or _is_number(value):
            continue
        if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value):
            raise HeartbeatRejected(f"{name} must be a decimal string, a number or null")
    for name in _NON_NEGATIVE_FIELDS:
        value = payload.get(name)
        if value is not None and not (_is_number(value) and value >= 0):
            raise HeartbeatRejected(f"{name} must be a non-negative number or null")


def check_heartbeat(body: bytes) -> tuple[dict[str, Any], bytes]:
    """The payload of a heartbeat body and its compact JSON encoding (what is stored and served).

    Raises HeartbeatRejected (status 400, or 413 when the payload is too large to store) with a short reason.
    """
    if len(body) > MAX_BODY_BYTES:
        raise HeartbeatRejected(f"body over {MAX_BODY_BYTES} bytes", 413)
    payload = _parse(body)
    if not isinstance(payload, dict):
        raise HeartbeatRejected("body must be a JSON object")
    _check_tree(payload)
    _check_known_fields(payload)
    encoded = json.dumps(payload, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise HeartbeatRejected(f"payload over {MAX_PAYLOAD_BYTES} bytes once stored as compact JSON", 413)
    return payload, encoded
