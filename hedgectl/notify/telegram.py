"""Telegram notifications via the Bot API's sendMessage: the notifier, the hedge message formats, the old key file.

A notification never raises into trading: every outcome, failures included, comes back as a NotifyResult. The bot
token is part of every Bot API URL, so it is only put into the URL at the last moment, below httpx's logging and
error reporting, which see `/botREDACTED/` instead.
"""

from __future__ import annotations

import asyncio
import html
import logging
import socket
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from hedgectl.errors import RateLimited, VenueError, VenueUnavailable
from hedgectl.retry import RetryPolicy, Sleep, retry
from hedgectl.transport import status_row, transport_error, transport_row

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org"
MASK = "REDACTED"
_MASKED_SEGMENT = f"/bot{MASK}/".encode()

DEFAULT_TIMEOUT_SECS = 10.0
DEFAULT_MAX_ATTEMPTS = 3
# A notification is worth a short wait, not a stalled emergency exit: a longer retry_after is a failure.
DEFAULT_MAX_RETRY_AFTER_SECS = 30.0
TRANSPORT_RETRY_PAUSE_SECS = 0.5
MESSAGE_LIMIT = 4096


@dataclass(frozen=True)
class NotifyResult:
    """Outcome of one notification: delivered (with Telegram's message id) or why not, after how many attempts."""

    ok: bool
    attempts: int
    message_id: int | None = None
    status_code: int | None = None
    error: str | None = None
    retry_after_secs: float | None = None


@dataclass(frozen=True)
class TelegramKeys:
    """Bot token and chat id; the token is left out of repr."""

    bot_token: str = field(repr=False)
    chat_id: str


def _check_token(bot_token: object) -> str:
    if not isinstance(bot_token, str) or not bot_token:
        raise ValueError("telegram bot_token must be a non-empty string")
    # It becomes one URL path segment; anything else would break the URL or reveal a typo in the wrong place.
    if not bot_token.isascii() or any(ch.isspace() or ch in "/?#%" or not ch.isprintable() for ch in bot_token):
        raise ValueError("telegram bot_token must be printable ASCII without spaces, '/', '?', '#' or '%'")
    return bot_token


def _check_chat_id(chat_id: object) -> str:
    if isinstance(chat_id, bool) or not isinstance(chat_id, (str, int)) or not str(chat_id).strip():
        raise ValueError("telegram chat_id must be a non-empty string or integer")
    return str(chat_id).strip()


class _BotTokenTransport(httpx.AsyncBaseTransport):
    """Swaps the masked path segment for the real token just before the request goes on the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport, bot_token: str) -> None:
        self._inner = inner
        self._segment = f"/bot{quote(bot_token, safe=':')}/".encode()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw_path = request.url.raw_path
        if _MASKED_SEGMENT in raw_path:
            request = httpx.Request(
                request.method,
                request.url.copy_with(raw_path=raw_path.replace(_MASKED_SEGMENT, self._segment, 1)),
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class TelegramNotifier:
    """Sends HTML messages to one chat through the Bot API at `base_url` (Telegram's, or the paper sink in tests)."""

    def __init__(
        self,
        bot_token: str,
        chat_id: str | int,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_secs: float = DEFAULT_TIMEOUT_SECS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_retry_after_secs: float = DEFAULT_MAX_RETRY_AFTER_SECS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._token = _check_token(bot_token)
        self.chat_id = _check_chat_id(chat_id)
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("telegram base_url must be an http:// or https:// URL")
        if max_attempts < 1:
            raise ValueError("telegram max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        # Backoff without jitter (one sender, no herd to spread): 0.5 s, then 1 s, ...
        self._retry_policy = RetryPolicy(attempts=max_attempts, first_delay_secs=TRANSPORT_RETRY_PAUSE_SECS,
                                         max_delay_secs=max_retry_after_secs, jitter=False,
                                         max_retry_after_secs=max_retry_after_secs)
        self._sleep = sleep
        transport = _BotTokenTransport(httpx.AsyncHTTPTransport(), self._token)
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout_secs)

    def __repr__(self) -> str:
        return f"TelegramNotifier(base_url={self.base_url!r}, chat_id={self.chat_id!r})"

    def _url(self, method: str) -> str:
        return f"{self.base_url}/bot{MASK}/{method}"

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, MASK).replace(quote(self._token, safe=""), MASK)

    async def send_html(self, text: str) -> NotifyResult:
        """Send `text` as HTML (its variable parts must already be escaped); never raises except on cancellation."""
        try:
            return await self._send(text)
        except Exception as exc:  # noqa: BLE001 - a notification must never break the trading that called it
            logger.warning("telegram notification failed: %s", self._scrub(f"{type(exc).__name__}: {exc}"))
            return NotifyResult(False, 0, error=self._scrub(f"{type(exc).__name__}: {exc}"))

    async def send_text(self, text: str) -> NotifyResult:
        """Send plain text, HTML-escaped."""
        return await self.send_html(html.escape(text, quote=False))

    async def _send(self, text: str) -> NotifyResult:
        if len(text) > MESSAGE_LIMIT:
            return NotifyResult(False, 0, error=f"message longer than Telegram's {MESSAGE_LIMIT} characters")
        body = {"chat_id": self.chat_id, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}
        attempts = 0

        async def attempt() -> NotifyResult:
            nonlocal attempts
            attempts += 1
            try:
                response = await self._client.post(self._url("sendMessage"), json=body)
            except Exception as exc:
                if transport_row(exc) is None:
                    raise
                error = self._scrub(f"{type(exc).__name__}: {exc}")
                logger.warning("telegram sendMessage attempt %d failed: %s", attempts, error)
                raise transport_error(exc, "sendMessage", message=error) from None
            answer = _json_or_empty(response)
            status = response.status_code
            if status == 200 and answer.get("ok") is True:
                message = answer.get("result") if isinstance(answer.get("result"), dict) else {}
                message_id = message.get("message_id")
                return NotifyResult(True, attempts, message_id if isinstance(message_id, int) else None, 200)
            description = self._scrub(str(answer.get("description") or response.reason_phrase or "no description"))
            if status == 429:
                raise RateLimited(description, status=429, retry_after=_retry_after(answer, response))
            if status >= 500:
                logger.warning("telegram answered %d (%s)", status, description)
                raise status_row(status).error(description, status=status)
            logger.warning("telegram refused the message: %d %s", status, description)
            return NotifyResult(False, attempts, status_code=status, error=description)

        try:
            # The message may have arrived without its answer; a duplicate beats a lost emergency message, so every
            # transport failure is retried, whether or not the request may have been sent.
            return await retry(attempt, policy=self._retry_policy, retry_on=_worth_retrying, what="telegram",
                               sleep=self._sleep, log=logger)
        except RateLimited as exc:
            logger.warning("telegram rate limit: retry after %gs, giving up", exc.retry_after)
            return NotifyResult(False, attempts, status_code=429, error=exc.message, retry_after_secs=exc.retry_after)
        except VenueError as exc:
            return NotifyResult(False, attempts, status_code=exc.status, error=exc.message)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> TelegramNotifier:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


def _worth_retrying(error: BaseException) -> bool:
    """A failure that may pass: any transport failure, a server error, or a rate limit (waited for when short)."""
    return isinstance(error, (VenueUnavailable, RateLimited)) or (
        isinstance(error, VenueError) and error.possibly_sent is not None
    )


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _retry_after(answer: Mapping[str, Any], response: httpx.Response) -> float:
    parameters = answer.get("parameters")
    value: Any = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if value is None:
        value = response.headers.get("retry-after")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 1.0
    return seconds if seconds >= 0 else 1.0


async def send_test_message(notifier: TelegramNotifier) -> NotifyResult:
    """The message of `hedgectl notify test`: says which host sent it and when."""
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return await notifier.send_html(
        f"<b>hedgectl test message</b>\nfrom {html.escape(socket.gethostname())} at {html.escape(when)}"
    )


# ----- message formats --------------------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def _amount(value: Decimal) -> str:
    return format(value, "f")


def _signed(value: Decimal) -> str:
    text = format(value, "f")
    return text if value < 0 else f"+{text}"


def format_duration(seconds: float) -> str:
    """1h02m, 3m05s or 42s."""
    whole = max(0, int(round(seconds)))
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    if whole >= 60:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole}s"


def _leg_lines(legs: Mapping[str, Decimal], render: Callable[[Decimal], str]) -> list[str]:
    return [f"  {_esc(role)}: {_esc(render(value))}" for role, value in legs.items()]


def format_hedge_start(
    *, direction: str, size: Decimal, symbol: str | None = None, venues: Mapping[str, str], cycle: str | None = None
) -> str:
    """Hedge started: direction, base size (and symbol), and the venue or account behind each role."""
    title = "<b>Hedge started</b>" + (f" (cycle {_esc(cycle)})" if cycle else "")
    lines = [
        title,
        f"Direction: <b>{_esc(direction)}</b>",
        f"Size: {_esc(_amount(size))}" + (f" {_esc(symbol)}" if symbol else ""),
        "Venues:",
    ]
    lines += [f"  {_esc(role)}: {_esc(venue)}" for role, venue in venues.items()]
    return "\n".join(lines)


def format_hedge_finish(
    *, pnl_by_leg: Mapping[str, Decimal], duration_secs: float, outcome: str = "completed", cycle: str | None = None
) -> str:
    """Hedge finished: outcome, duration, realised PnL per leg (fees included) and in total."""
    total = sum(pnl_by_leg.values(), Decimal(0))
    lines = [
        "<b>Hedge finished</b>" + (f" (cycle {_esc(cycle)})" if cycle else ""),
        f"Outcome: {_esc(outcome)}",
        f"Duration: {_esc(format_duration(duration_secs))}",
        "PnL per leg (fees included):",
        *_leg_lines(pnl_by_leg, _signed),
        f"Total PnL: <b>{_esc(_signed(total))}</b>",
    ]
    return "\n".join(lines)


def format_emergency_exit(
    *, reason: str, flattened: Mapping[str, Decimal], still_open: Mapping[str, Decimal], cycle: str | None = None
) -> str:
    """Emergency exit: why, what was flattened (signed size closed per leg), and what, if anything, is still open."""
    lines = [
        "\N{POLICE CARS REVOLVING LIGHT} <b>EMERGENCY EXIT</b>" + (f" (cycle {_esc(cycle)})" if cycle else ""),
        f"Reason: {_esc(reason)}",
    ]
    if flattened:
        lines.append("Flattened:")
        lines += _leg_lines(flattened, _amount)
    else:
        lines.append("Flattened: nothing")
    open_legs = {role: size for role, size in still_open.items() if size != 0}
    if open_legs:
        lines.append("<b>STILL OPEN, act now:</b>")
        lines += _leg_lines(open_legs, _amount)
    else:
        lines.append("Nothing is left open.")
    return "\n".join(lines)


def format_liquidation_warning(
    *,
    role: str,
    distance_pct: Decimal,
    mark_price: Decimal | None = None,
    liquidation_price: Decimal | None = None,
    threshold_pct: Decimal | None = None,
) -> str:
    """A leg is close to liquidation: which leg, how far (percent of mark), and the prices behind it."""
    lines = [
        "\N{WARNING SIGN} <b>Liquidation warning</b>",
        f"Leg: <b>{_esc(role)}</b>",
        f"Distance to liquidation: <b>{_esc(_amount(distance_pct))}%</b>"
        + (f" (threshold {_esc(_amount(threshold_pct))}%)" if threshold_pct is not None else ""),
    ]
    if mark_price is not None:
        lines.append(f"Mark price: {_esc(_amount(mark_price))}")
    if liquidation_price is not None:
        lines.append(f"Liquidation price: {_esc(_amount(liquidation_price))}")
    return "\n".join(lines)


# ----- the old key file -------------------------------------------------------------------------------------------


def parse_telegram_keys(text: str) -> TelegramKeys:
    """Parse the old key file format: lines `bot_token: ...` and `chat_id: ...` (values may be quoted; other lines
    and `#` comments are ignored)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ":" not in stripped:
            continue
        key, value = stripped.split(":", 1)
        values[key.strip().lower()] = value.strip().strip("'\"").strip()
    missing = [key for key in ("bot_token", "chat_id") if not values.get(key)]
    if missing:
        raise ValueError(f"telegram key file lacks {' and '.join(missing)}")
    return TelegramKeys(_check_token(values["bot_token"]), _check_chat_id(values["chat_id"]))


def load_telegram_key_file(path: str | Path) -> TelegramKeys:
    """Read the old key file; warns (logging) when it is readable by group or others. OSError when unreadable."""
    path = Path(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "telegram key file %s is accessible by group or others (mode %03o); chmod 600 it", path, mode & 0o777
        )
    try:
        return parse_telegram_keys(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
