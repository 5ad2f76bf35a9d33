"""Heartbeats: the payload each leg posts to the collector, a one-shot push, and a loop that never disturbs trading.

Positions and balances travel as plain decimal strings ("-0.0036"): the old collector stored payloads verbatim and the
old card printed them, so strings render as numbers did, without float rounding.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import httpx

from hedgectl.errors import VenueError
from hedgectl.retry import RetryPolicy
from hedgectl.registry import ROLES
from hedgectl.telemetry.protocol import AUTH_HEADER
from hedgectl.telemetry.settings import TelemetrySettings
from hedgectl.transport import transport_error, transport_row

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECS = 5.0
MAX_BACKOFF_SECS = 60.0
#: The shortest time between two heartbeats when a pushed change brings the next one forward.
PUSHED_HEARTBEAT_GAP_SECS = 1.0

# The event a source sets when what it reports changed by push (None: nothing to wait for right now).
WakeSource = Callable[[], "asyncio.Event | None"]


@dataclass(frozen=True)
class RoleReading:
    """What one leg reports: its symbol, direction ("long"/"short"), signed position, balance and last round trip."""

    symbol: str
    direction: str
    position_base: Decimal | None
    balance_total: Decimal | None
    latency_ms: float | None = None


# An async callable returning, per role, its reading or the exception that prevented the venue read.
ReadingsSource = Callable[[], Awaitable[Mapping[str, "RoleReading | BaseException"]]]

# "pending": the leg has not been read yet (a hedge that has just started); nothing to post and nothing wrong.
FailureKind = Literal["venue", "collector", "pending"]


class NotReadYet(Exception):
    """A leg whose position has not been read yet: no heartbeat is posted for it, and it is no failure to warn of."""

    def __init__(self, detail: str = "not read yet") -> None:
        super().__init__(detail)


@dataclass(frozen=True)
class RoleResult:
    """The outcome of one role's heartbeat: sent, not read yet, or which side failed (venue read, collector) and why."""

    role: str
    bot_name: str
    failure: FailureKind | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class PushReport:
    """Results of one heartbeat per role."""

    results: tuple[RoleResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def venue_failures(self) -> tuple[RoleResult, ...]:
        return tuple(result for result in self.results if result.failure == "venue")

    @property
    def collector_failures(self) -> tuple[RoleResult, ...]:
        return tuple(result for result in self.results if result.failure == "collector")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for `telemetry push --json`)."""
        return {
            "ok": self.ok,
            "results": [
                {"role": r.role, "bot": r.bot_name, "ok": r.ok, "failure": r.failure, "detail": r.detail}
                for r in self.results
            ],
        }


def _plain(name: str, value: Decimal | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Decimal):
        # A float here would already carry binary rounding; refuse it rather than publish it.
        raise TypeError(f"{name} must be a Decimal or None, got {type(value).__name__}")
    return format(value, "f")


def build_payload(
    settings: TelemetrySettings, role: str, reading: RoleReading, *, timestamp: float | None = None
) -> dict[str, Any]:
    """The heartbeat body the old bots posted: timestamp (Unix seconds), interval, group, role, symbol, direction,
    position_base and balance_total (decimal strings or null), latency (ms or null)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {list(ROLES)}")
    return {
        "timestamp": time.time() if timestamp is None else timestamp,
        "telemetry_interval_secs": settings.interval_secs,
        "group": settings.group,
        "role": role,
        "symbol": reading.symbol,
        "direction": reading.direction,
        "position_base": _plain("position_base", reading.position_base),
        "balance_total": _plain("balance_total", reading.balance_total),
        "latency": None if reading.latency_ms is None else round(reading.latency_ms, 1),
    }


class CollectorRejected(Exception):
    """The collector answered a heartbeat with an error status."""


def _describe(exc: BaseException, settings: TelemetrySettings) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return _hide_token(text, settings)


def _hide_token(text: str, settings: TelemetrySettings) -> str:
    # Defensive: nothing we raise carries the token, but a lower layer's message must not either.
    if settings.token:
        text = text.replace(settings.token, "<hidden>")
    return text


class HeartbeatSender:
    """Posts heartbeat payloads to the collector with httpx, adding x-auth-token when the settings carry one."""

    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_secs: float = DEFAULT_TIMEOUT_SECS,
    ) -> None:
        self.settings = settings
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_secs)
        self._headers = {AUTH_HEADER: settings.token} if settings.token else {}

    def __repr__(self) -> str:
        return f"HeartbeatSender(base_url={self.settings.base_url!r})"

    async def send(self, role: str, payload: Mapping[str, Any]) -> None:
        """Post one payload under the role's bot name; raises the transport failure as a VenueError (see
        ``hedgectl.transport``), or CollectorRejected."""
        try:
            response = await self._client.post(self.settings.ingest_url(role), json=payload, headers=self._headers)
        except Exception as exc:
            if transport_row(exc) is None:
                raise
            raise transport_error(exc, "heartbeat", message=f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise CollectorRejected(f"HTTP {response.status_code} {response.text[:200]}")

    async def push(self, readings: Mapping[str, RoleReading | BaseException]) -> PushReport:
        """One heartbeat per role, posted concurrently; roles whose venue read failed are not posted."""
        return PushReport(tuple(await asyncio.gather(*(self._push_role(role, readings) for role in ROLES))))

    async def _push_role(self, role: str, readings: Mapping[str, RoleReading | BaseException]) -> RoleResult:
        bot = self.settings.bot_name(role)
        reading = readings.get(role)
        if reading is None:
            return RoleResult(role, bot, "venue", "no reading")
        if isinstance(reading, NotReadYet):
            return RoleResult(role, bot, "pending", "not read yet")
        if isinstance(reading, BaseException):
            # A failed read is unknown, not zero: posting a made-up position would look healthy on the board.
            return RoleResult(role, bot, "venue", _describe(reading, self.settings))
        try:
            payload = build_payload(self.settings, role, reading)
        except (TypeError, ValueError) as exc:
            return RoleResult(role, bot, "venue", f"unusable reading: {exc}")
        try:
            await self.send(role, payload)
        except CollectorRejected as exc:
            return RoleResult(role, bot, "collector", _describe(exc, self.settings))
        except VenueError as exc:  # the collector could not be reached; the message names the transport's failure
            return RoleResult(role, bot, "collector", _hide_token(exc.message, self.settings))
        return RoleResult(role, bot)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> HeartbeatSender:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


async def _read(source: ReadingsSource, timeout_secs: float) -> Mapping[str, RoleReading | BaseException]:
    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that races the source's answer,
        # and a heartbeat task that ignores its cancel would keep a finished hedge from exiting
        async with asyncio.timeout(timeout_secs):
            return await source()
    except Exception as exc:  # noqa: BLE001 - any failure of the source is a failed venue read of every role
        return {role: exc for role in ROLES}


async def push_once(
    settings: TelemetrySettings,
    source: ReadingsSource,
    *,
    client: httpx.AsyncClient | None = None,
    timeout_secs: float = DEFAULT_TIMEOUT_SECS,
    read_timeout_secs: float = 30.0,
) -> PushReport:
    """Read every role once and post one heartbeat per role; the report says which roles failed and where."""
    async with HeartbeatSender(settings, client=client, timeout_secs=timeout_secs) as sender:
        return await sender.push(await _read(source, read_timeout_secs))


def _log_venue_failures(report: PushReport, failing_before: frozenset[str]) -> frozenset[str]:
    # Warn when a role starts failing and say when it recovers; a venue down for hours must not flood the log.
    # A leg not read yet (the hedge has just started) is expected, so it is only a debug line.
    for result in report.results:
        if result.failure == "pending":
            logger.debug("heartbeat %s skipped: position not read yet", result.role)
    failing = frozenset(result.role for result in report.venue_failures)
    for result in report.venue_failures:
        level = logging.DEBUG if result.role in failing_before else logging.WARNING
        logger.log(level, "heartbeat %s skipped: venue read failed: %s", result.role, result.detail)
    for role in sorted(failing_before - failing):
        logger.info("heartbeat %s: venue reads again", role)
    return failing


def _log_collector_failures(report: PushReport, failing_before: bool) -> bool:
    failing = bool(report.collector_failures)
    if failing:
        details = "; ".join(f"{r.role}: {r.detail}" for r in report.collector_failures)
        logger.warning("telemetry collector unreachable or refusing heartbeats (%s)", details)
    elif failing_before:
        logger.info("telemetry collector accepts heartbeats again")
    return failing


async def run_heartbeat_loop(
    settings: TelemetrySettings,
    source: ReadingsSource,
    *,
    client: httpx.AsyncClient | None = None,
    timeout_secs: float = DEFAULT_TIMEOUT_SECS,
    max_backoff_secs: float = MAX_BACKOFF_SECS,
    on_report: Callable[[PushReport], None] | None = None,
    wake: WakeSource | None = None,
) -> None:
    """Post heartbeats every `settings.interval_secs` until cancelled; when ``wake`` gives an event that gets set (a
    stream pushed a change of what the source reports), the next heartbeat goes out sooner, at most one every
    ``PUSHED_HEARTBEAT_GAP_SECS``, except while the collector fails.

    Never raises (except CancelledError): venue read failures and collector outages are logged at WARNING, and while
    the collector fails the pause doubles up to `max_backoff_secs`. Cancelling stops it at once, even mid-request.
    """
    interval = settings.interval_secs
    failing = False
    failures = 0
    venues_failing: frozenset[str] = frozenset()
    async with HeartbeatSender(settings, client=client, timeout_secs=timeout_secs) as sender:
        while True:
            started = time.monotonic()
            woken = wake() if wake is not None else None
            if woken is not None:
                woken.clear()  # what is pushed from here on is in this round or brings the next one forward
            try:
                report = await sender.push(await _read(source, max(interval, timeout_secs)))
                venues_failing = _log_venue_failures(report, venues_failing)
                failing = _log_collector_failures(report, failing)
                if on_report is not None:
                    on_report(report)
            except Exception:  # noqa: BLE001 - heartbeats must never break the hedge that runs them
                logger.exception("heartbeat round failed")
                failing = True
            failures = min(failures + 1, 32) if failing else 0
            # while the collector fails the pause doubles (2, 4, 8... intervals), up to max_backoff_secs
            backoff = RetryPolicy(first_delay_secs=2 * interval, max_delay_secs=max_backoff_secs, jitter=False)
            pause = max(interval, backoff.backoff_secs(failures)) if failures else interval
            if woken is None or failures:
                await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))
            else:
                await _pause_unless_pushed(woken, started, pause)


async def _pause_unless_pushed(woken: asyncio.Event, started: float, pause: float) -> None:
    """Wait until ``pause`` after ``started``, or only until ``PUSHED_HEARTBEAT_GAP_SECS`` after it once ``woken``
    is set."""
    try:
        async with asyncio.timeout(max(0.0, pause - (time.monotonic() - started))):
            await woken.wait()
    except TimeoutError:
        return
    await asyncio.sleep(max(0.0, min(pause, PUSHED_HEARTBEAT_GAP_SECS) - (time.monotonic() - started)))


def start_heartbeat_task(settings: TelemetrySettings, source: ReadingsSource, **options: Any) -> asyncio.Task[None]:
    """Run the heartbeat loop as a background task of the running loop; cancel the task to stop it."""
    return asyncio.get_running_loop().create_task(
        run_heartbeat_loop(settings, source, **options), name="telemetry-heartbeat"
    )
