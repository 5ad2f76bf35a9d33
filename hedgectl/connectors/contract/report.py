"""What a venue check found: per connector, each read with its verdict, the venue clock and the market rules; and
the exit code the whole check stands for."""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedgectl.config.secrets import redact
from hedgectl.connectors.contract.schema import Drift, Expect, validate
from hedgectl.decimals import plain
from hedgectl.errors import AuthError, ConfigError, ExitCode, HedgectlError, VenueTimeout, VenueUnavailable

#: Failures that make a connector unusable: nothing further can be learned from it until they are fixed.
UNUSABLE_ERRORS = (AuthError, VenueUnavailable, VenueTimeout, ConfigError)
#: The longest error quoted (it may carry the venue's own text, which is untrusted).
MAX_ERROR_CHARS = 240


class Verdict(enum.StrEnum):
    OK = "ok"
    DRIFT = "drift"  # the venue answered, but a field hedgectl reads is missing, retyped or out of range
    FAILED = "failed"  # the read was refused or unreadable
    UNUSABLE = "unusable"  # the venue cannot be reached or refuses the credentials


@dataclass
class CheckResult:
    """One read hedgectl relies on, and what its answer held."""

    name: str
    request: str
    verdict: Verdict
    drifts: list[Drift] = field(default_factory=list)
    error: str | None = None
    detail: str = ""
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "request": self.request, "status": self.verdict.value,
                "drifts": [drift.as_dict() for drift in self.drifts], "error": self.error, "detail": self.detail,
                "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None}


@dataclass(frozen=True)
class MarketFacts:
    """A configured market's rules as the venue gave them."""

    symbol: str
    step_size: Decimal
    tick_size: Decimal
    min_size: Decimal
    min_notional: Decimal | None = None
    max_leverage: Decimal | None = None
    leverage_source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return plain(value) if value is not None else None

        return {"symbol": self.symbol, "step_size": text(self.step_size), "tick_size": text(self.tick_size),
                "min_size": text(self.min_size), "min_notional": text(self.min_notional),
                "max_leverage": text(self.max_leverage), "max_leverage_source": self.leverage_source}


@dataclass(frozen=True)
class ClockReading:
    """The venue's clock against ours: ``offset_ms`` is venue minus local, known to within ``resolution_ms``."""

    offset_ms: float
    resolution_ms: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"offset_ms": round(self.offset_ms, 1), "resolution_ms": self.resolution_ms, "source": self.source}


class Unusable(Exception):
    """Raised inside a connector's check once it cannot go on (the reason is already recorded)."""


@dataclass
class ConnectorReport:
    connector: str
    venue: str
    checks: list[CheckResult] = field(default_factory=list)
    clock: ClockReading | None = None
    markets: list[MarketFacts] = field(default_factory=list)
    unusable: str | None = None

    @property
    def verdict(self) -> Verdict:
        if self.unusable is not None:
            return Verdict.UNUSABLE
        if any(check.verdict is not Verdict.OK for check in self.checks):
            return Verdict.DRIFT
        return Verdict.OK

    def as_dict(self) -> dict[str, Any]:
        return {"connector": self.connector, "venue": self.venue, "status": self.verdict.value,
                "unusable": self.unusable, "clock": self.clock.as_dict() if self.clock else None,
                "markets": [market.as_dict() for market in self.markets],
                "checks": [check.as_dict() for check in self.checks]}

    # --- recording reads ------------------------------------------------------------------------------------

    async def read(self, name: str, request: str, fetch: Callable[[], Awaitable[Any]],
                   expectations: tuple[Expect, ...] = (), *, root: str = "", detail: str = "") -> Any:
        """Run one read and check its answer against ``expectations``; returns the answer, or None when the read
        failed (recorded). An unusable venue raises Unusable after recording it."""
        started = time.perf_counter()
        try:
            document = await fetch()
        except HedgectlError as exc:
            self.fail(name, request, exc, latency_ms=(time.perf_counter() - started) * 1000)
            return None
        latency = (time.perf_counter() - started) * 1000
        self.record(name, request, validate(document, expectations, root=root), detail=detail, latency_ms=latency)
        return document

    def record(self, name: str, request: str, drifts: list[Drift], *, detail: str = "",
               latency_ms: float | None = None) -> CheckResult:
        result = CheckResult(name, request, Verdict.DRIFT if drifts else Verdict.OK, drifts, detail=detail,
                             latency_ms=latency_ms)
        self.checks.append(result)
        return result

    def fail(self, name: str, request: str, error: BaseException, *, latency_ms: float | None = None) -> None:
        """Record a read that failed; an unusable venue ends the connector's check (raises Unusable)."""
        text = error_text(self.connector, error)
        self.checks.append(CheckResult(name, request, Verdict.FAILED, error=text, latency_ms=latency_ms))
        if isinstance(error, UNUSABLE_ERRORS):
            self.unusable = f"{name}: {text}"
            raise Unusable(text)

    def drift(self, name: str, request: str, path: str, expected: str, got: str, *, detail: str = "") -> None:
        self.record(name, request, [Drift(path, expected, got)], detail=detail)

    def extend_last(self, drifts: list[Drift]) -> None:
        """Add drifts found by a second look at the last read's answer (a cross-field or cross-read rule)."""
        if drifts and self.checks:
            last = self.checks[-1]
            last.drifts.extend(drifts)
            if last.verdict is Verdict.OK:
                last.verdict = Verdict.DRIFT


def error_text(connector: str, error: BaseException) -> str:
    """A failure as one line without secrets, and without the connector's name repeated in front."""
    if isinstance(error, HedgectlError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    text = "".join(ch if ch.isprintable() else " " for ch in redact(text).removeprefix(f"{connector}: "))
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


@dataclass
class VenueCheckReport:
    connectors: list[ConnectorReport]

    @property
    def exit_code(self) -> ExitCode:
        verdicts = {report.verdict for report in self.connectors}
        if Verdict.UNUSABLE in verdicts:
            return ExitCode.USAGE
        if Verdict.DRIFT in verdicts:
            return ExitCode.FAILURE
        return ExitCode.OK

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": int(self.exit_code),
                "connectors": [report.as_dict() for report in self.connectors]}
