"""Where heartbeats go and under which names: validated telemetry settings, and a reader for the old telemetry.json."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hedgectl.registry import ROLES
from hedgectl.telemetry.protocol import (
    DEFAULT_INTERVAL_SECS,
    MAX_INTERVAL_SECS,
    default_bot_name,
    is_valid_bot_name,
)


@dataclass(frozen=True)
class TelemetrySettings:
    """Collector address, optional shared token, hedge group and bot name per role (BP, L1, L2).

    Roles missing from `bots` get the old default names (`triad-bp`, ...). The token is left out of repr and str.
    """

    base_url: str
    token: str | None = None
    group: str | None = None
    bots: dict[str, str] = field(default_factory=dict)
    interval_secs: float = DEFAULT_INTERVAL_SECS

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", _check_base_url(self.base_url))
        check_token(self.token)
        _check_group(self.group)
        object.__setattr__(self, "bots", _check_bots(self.bots))
        object.__setattr__(self, "interval_secs", _check_interval(self.interval_secs))

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'<hidden>'"
        return (
            f"TelemetrySettings(base_url={self.base_url!r}, token={token}, group={self.group!r}, "
            f"bots={self.bots!r}, interval_secs={self.interval_secs!r})"
        )

    __str__ = __repr__

    def bot_name(self, role: str) -> str:
        """The bot name heartbeats of `role` are posted under."""
        return self.bots[role]

    def ingest_url(self, role: str) -> str:
        """`POST` target for heartbeats of `role`."""
        return f"{self.base_url}/ingest/{self.bot_name(role)}"


def _check_base_url(base_url: object) -> str:
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("telemetry base_url must be a non-empty http(s) URL")
    text = base_url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"telemetry base_url must be an http:// or https:// URL with a host, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError("telemetry base_url must not carry a query string or fragment")
    if parts.username or parts.password:
        raise ValueError("telemetry base_url must not carry credentials; set the token instead")
    return text


def check_token(token: object) -> None:
    """Raise ValueError unless `token` is None or a token that can travel in the x-auth-token header."""
    if token is None:
        return
    if not isinstance(token, str):
        raise ValueError("telemetry token must be a string")
    if not token:
        raise ValueError("telemetry token must not be empty; leave it unset to send no token")
    # The token travels in an HTTP header: control characters or surrounding spaces would be mangled or rejected.
    if token != token.strip() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token) or not token.isascii():
        raise ValueError("telemetry token must be printable ASCII without leading or trailing spaces")


def _check_group(group: object) -> None:
    if group is None:
        return
    if not isinstance(group, str) or not group.strip():
        raise ValueError("telemetry group must be a non-empty string when set")


def _check_bots(bots: object) -> dict[str, str]:
    if not isinstance(bots, Mapping):
        raise ValueError("telemetry bots must map roles (BP, L1, L2) to bot names")
    unknown = sorted(str(role) for role in bots if role not in ROLES)
    if unknown:
        raise ValueError(f"telemetry bots has unknown roles {unknown}; roles are {list(ROLES)}")
    names: dict[str, str] = {}
    for role in ROLES:
        name = bots.get(role, default_bot_name(role))
        if not isinstance(name, str) or not is_valid_bot_name(name):
            raise ValueError(
                f"telemetry bots.{role} must be 1-64 characters of letters, digits, '.', '_' or '-' "
                f"starting with a letter or digit, got {name!r}"
            )
        names[role] = name
    if len(set(names.values())) != len(names):
        raise ValueError(f"telemetry bots must give each role its own name, got {names}")
    return names


def _check_interval(interval: object) -> float:
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise ValueError(f"telemetry interval_secs must be a number of seconds, got {interval!r}")
    value = float(interval)
    if not math.isfinite(value) or value <= 0 or value > MAX_INTERVAL_SECS:
        raise ValueError(f"telemetry interval_secs must be above 0 and at most {MAX_INTERVAL_SECS:g}, got {interval!r}")
    return value


def settings_from_old_json(document: Mapping[str, Any], *, interval_secs: float | None = None) -> TelemetrySettings:
    """Settings from the parsed old telemetry.json: base_url, token, group, bots{BP,L1,L2}.

    The old files carried no interval; `interval_secs`, when given, wins over an `interval_secs` or
    `telemetry_interval_secs` key in the document, and the default applies when neither is there.
    An empty token or group means "none", as it did for the old bots.
    """
    if not isinstance(document, Mapping):
        raise ValueError("telemetry config must be a JSON object")
    if "base_url" not in document:
        raise ValueError("telemetry config lacks base_url")
    if interval_secs is None:
        interval_secs = document.get("interval_secs", document.get("telemetry_interval_secs", DEFAULT_INTERVAL_SECS))
    bots = document.get("bots")
    return TelemetrySettings(
        base_url=document["base_url"],
        token=document.get("token") or None,
        group=document.get("group") or None,
        bots={} if bots is None else bots,
        interval_secs=interval_secs,
    )


def load_old_telemetry_json(path: str | Path, *, interval_secs: float | None = None) -> TelemetrySettings:
    """Read an old telemetry.json file; OSError when it cannot be read, ValueError when it is not valid."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"telemetry config {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return settings_from_old_json(document, interval_secs=interval_secs)


def settings_from_config(telemetry: Any) -> TelemetrySettings:
    """Settings from the config's [telemetry] table (``hedgectl.config.model.TelemetryConfig``)."""
    if not telemetry.base_url:
        raise ValueError("telemetry base_url is not configured (set [telemetry] base_url)")
    return TelemetrySettings(
        base_url=telemetry.base_url,
        token=telemetry.token.reveal() if telemetry.token else None,
        group=telemetry.group,
        bots=dict(telemetry.bots),
        interval_secs=telemetry.interval_secs,
    )
