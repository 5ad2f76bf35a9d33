"""The telemetry board's data: the legs of each hedge group from a collector's /api/status, and the client that reads
it (and prunes offline bots). Plain values only; the command line draws them.

Every string that came over the network is made visible (``hedgectl.text.visible``) before it is kept, and a leg
whose heartbeat is older than its online window is never marked online.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from hedgectl.registry import ROLES
from hedgectl.telemetry.protocol import AUTH_HEADER, offline_after_ms
from hedgectl.text import visible

_ROLE_ORDER = {role: index for index, role in enumerate(ROLES)}


@dataclass(frozen=True)
class LegRow:
    """One leg as the board shows it. `online`/`age_ms` are None where liveness means nothing (direct venue reads)."""

    label: str
    role: str | None = None
    symbol: str | None = None
    direction: str | None = None
    position: Decimal | None = None
    balance: Decimal | None = None
    latency_ms: float | None = None
    online: bool | None = None
    age_ms: float | None = None


@dataclass(frozen=True)
class BoardGroup:
    """The legs of one hedge group; `name` None holds the bots that announced no group."""

    name: str | None
    rows: tuple[LegRow, ...]


def net_position(rows: Iterable[LegRow]) -> Decimal | None:
    """Sum of the signed positions, or None when any leg's position is unknown or stale (its bot offline)."""
    total = Decimal(0)
    for row in rows:
        if row.position is None or row.online is False:
            return None
        total += row.position
    return total


def format_age(age_ms: float | None) -> str:
    """A short age: 850ms, 12s, 3m05s, 2h10m."""
    if age_ms is None or not math.isfinite(age_ms):
        return "-"
    if age_ms >= _LONGEST_AGE_MS:
        return ">99d"
    if age_ms < 1000:
        return f"{int(age_ms)}ms"
    seconds = int(age_ms // 1000)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86_400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86_400}d{seconds % 86_400 // 3600:02d}h"


_LONGEST_AGE_MS = 100 * 86_400_000.0
# Positions and balances beyond this many digits either side of the point are not figures a venue reports.
_MAX_DECIMAL_DIGITS = 40


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)):
        try:
            text = value.strip() if isinstance(value, str) else str(value)
        except ValueError:  # an integer too long to convert
            return None
        if len(text) > 2 * _MAX_DECIMAL_DIGITS:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        if not number.is_finite() or (number and abs(number.adjusted()) > _MAX_DECIMAL_DIGITS):
            return None
        return number
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _is_online(bot: Mapping[str, Any], payload: Mapping[str, Any], age_ms: float | None) -> bool:
    """Online by the collector's word and by the board's own clock: a collector that does not bound intervals
    (the old one) would call a bot announcing a huge interval online forever."""
    if bot.get("online") is not True or age_ms is None:
        return False
    return age_ms < offline_after_ms(payload)


def _to_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def leg_row_from_status(bot: Mapping[str, Any]) -> LegRow:
    """A board row from one entry of /api/status `bots`; malformed fields show as unknown rather than failing."""
    payload = bot.get("payload")
    if not isinstance(payload, Mapping):
        payload = {}
    role = _to_text(payload.get("role"))
    age_ms = _to_float(bot.get("last_update_ms_ago"))
    if age_ms is not None and age_ms < 0:
        age_ms = None
    return LegRow(
        label=visible(bot.get("name", "?")),
        role=role.upper() if role else None,
        symbol=_to_text(payload.get("symbol")),
        direction=_to_text(payload.get("direction")),
        position=_to_decimal(payload.get("position_base")),
        balance=_to_decimal(payload.get("balance_total")),
        latency_ms=_to_float(payload.get("latency")),
        online=_is_online(bot, payload, age_ms),
        age_ms=age_ms,
    )


def _row_order(row: LegRow) -> tuple[int, str]:
    return (_ROLE_ORDER.get(row.role or "", len(ROLES)), row.label)


def board_groups(status: Mapping[str, Any]) -> list[BoardGroup]:
    """Bots of a status document grouped by payload.group (sorted), legs in role order BP, L1, L2; ungrouped last."""
    bots = status.get("bots")
    grouped: dict[str | None, list[LegRow]] = {}
    for bot in bots if isinstance(bots, list) else []:
        if not isinstance(bot, Mapping):
            continue
        payload = bot.get("payload")
        group = _to_text(payload.get("group")) if isinstance(payload, Mapping) else None
        grouped.setdefault(group or None, []).append(leg_row_from_status(bot))
    names = sorted(name for name in grouped if name is not None)
    if None in grouped:
        names.append(None)
    return [BoardGroup(name, tuple(sorted(grouped[name], key=_row_order))) for name in names]


class BoardError(Exception):
    """The collector could not be reached or refused the request; the message never contains the token."""


class BoardClient:
    """Reads /api/status and calls /admin/prune on a collector (hedgectl's or the old Node one)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_secs: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_secs)
        self._headers = {AUTH_HEADER: token} if token else {}

    def __repr__(self) -> str:
        return f"BoardClient(base_url={self.base_url!r})"

    async def _request(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = await self._client.request(method, self.base_url + path, headers=self._headers, **options)
        except httpx.HTTPError as exc:
            raise BoardError(self._scrub(f"{type(exc).__name__}: {exc}")) from None
        if response.status_code == 401:
            raise BoardError("collector refused the token (401)")
        if response.status_code != 200:
            raise BoardError(self._scrub(f"HTTP {response.status_code} from {path}: {response.text[:200]}"))
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise BoardError(f"{path} did not answer JSON the board can read") from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "<hidden>") if self._token else text

    async def status(self) -> dict[str, Any]:
        """The /api/status document."""
        document = await self._request("GET", "/api/status")
        if not isinstance(document, dict) or not isinstance(document.get("bots"), list):
            raise BoardError("/api/status answered something other than a status document")
        return document

    async def prune(self, older_ms: int | None = None) -> list[str]:
        """Remove bots silent for `older_ms` (default: the offline ones); returns the removed names when told."""
        params = {} if older_ms is None else {"older_ms": str(older_ms)}
        document = await self._request("POST", "/admin/prune", params=params)
        # The old Node collector's answer may not list names.
        removed = document.get("removed") if isinstance(document, dict) else None
        return [visible(name) for name in removed] if isinstance(removed, list) else []

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> BoardClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
