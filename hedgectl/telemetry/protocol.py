"""Wire facts of the heartbeat protocol shared by the sender, the collector and the board.

The protocol is the one the earlier Node collector spoke, so old bots and collectors keep working alongside hedgectl.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

AUTH_HEADER = "x-auth-token"

# A bot name is one URL path segment: ASCII letters and digits, then also '.', '_' and '-', at most 64 characters.
# Nothing that needs percent-encoding, so a name reads the same in a URL, a log line and a terminal.
BOT_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_BOT_NAME_RE = re.compile(BOT_NAME_PATTERN)

# The old collector assumed this interval when a payload did not state one.
DEFAULT_INTERVAL_SECS = 10.0

# The longest heartbeat interval a bot may announce; a longer one would keep a silent bot "online" for too long.
MAX_INTERVAL_SECS = 3600.0

# A bot counts as online while its last heartbeat is younger than this many intervals.
ONLINE_INTERVALS = 2


def is_valid_bot_name(name: str) -> bool:
    """Whether `name` matches BOT_NAME_PATTERN."""
    return _BOT_NAME_RE.fullmatch(name) is not None


def default_bot_name(role: str) -> str:
    """The bot name the old bots used for a role when the config named none."""
    return f"triad-{role.lower()}"


def payload_interval_secs(payload: Mapping[str, Any]) -> float:
    """The heartbeat interval a payload announces, or the default when it is missing, not a number or not positive.

    An interval above MAX_INTERVAL_SECS counts as MAX_INTERVAL_SECS: a payload cannot keep its bot online for longer.
    """
    value = payload.get("telemetry_interval_secs")
    if isinstance(value, bool):
        return DEFAULT_INTERVAL_SECS
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return DEFAULT_INTERVAL_SECS
    if isinstance(value, int) and not 0 < value <= MAX_INTERVAL_SECS:
        return MAX_INTERVAL_SECS if value > 0 else DEFAULT_INTERVAL_SECS
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return min(float(value), MAX_INTERVAL_SECS)
    return DEFAULT_INTERVAL_SECS


def offline_after_ms(payload: Mapping[str, Any]) -> float:
    """Milliseconds after its last heartbeat at which the bot that sent `payload` counts as offline."""
    return payload_interval_secs(payload) * ONLINE_INTERVALS * 1000.0
