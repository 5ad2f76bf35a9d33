"""The minimum-order probe: the smallest market order each target accepts, followed to its final state, with what a
sizing or nonce problem needs for diagnosis; afterwards each touched position is brought back to where it started.

A target is ``CONNECTOR:DIRECTION[:reduce_only][:xMULT]`` (``lighter1:buy``, ``lighter2:short:reduce_only:x2``); the
size is the market's minimum (size, or notional at the current price) times the multiplier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import Connector, MarketRules
from hedgectl.decimals import ROUND_CEILING, ZERO, plain, quantize
from hedgectl.errors import VenueError
from hedgectl.execution.flatten import FlattenResult, flatten_position, read_position
from hedgectl.model.orders import OrderState, Side
from hedgectl.execution.outcome import UNKNOWN, send_and_wait
from hedgectl.connectors.factory import ConnectorSet

logger = logging.getLogger(__name__)

REDUCE_ONLY_WORDS = ("reduce_only", "reduce-only", "ro")
#: A target's direction in the words of orders (buy, sell) or of the hedge (long, short), as ``hedge run`` speaks.
DIRECTIONS = {"buy": Side.BUY, "sell": Side.SELL, "long": Side.BUY, "short": Side.SELL}


@dataclass(frozen=True)
class ProbeTarget:
    """One order to probe: which connector, which side, reduce-only or not, and the multiple of the minimum."""

    connector: str
    side: Side
    reduce_only: bool = False
    multiplier: Decimal = Decimal(1)

    @classmethod
    def parse(cls, text: str) -> ProbeTarget:
        """Read ``CONNECTOR:DIRECTION[:reduce_only][:xMULT]``; ValueError says what is wrong."""
        parts = [part.strip() for part in text.split(":")]
        if len(parts) < 2 or not parts[0]:
            raise ValueError(f"target '{text}' is not CONNECTOR:DIRECTION[:reduce_only][:xMULT]")
        side = DIRECTIONS.get(parts[1].lower())
        if side is None:
            raise ValueError(f"target '{text}': direction must be buy, sell, long or short, got '{parts[1]}'")
        reduce_only = False
        multiplier = Decimal(1)
        for part in parts[2:]:
            word = part.lower()
            if word in REDUCE_ONLY_WORDS and not reduce_only:
                reduce_only = True
            elif word.startswith("x") and multiplier == 1:
                multiplier = _multiplier(text, word[1:])
            else:
                raise ValueError(f"target '{text}': unexpected '{part}' (expected reduce_only or xMULT, once each)")
        return cls(parts[0], side, reduce_only, multiplier)

    def __str__(self) -> str:
        text = f"{self.connector}:{self.side.value}"
        if self.reduce_only:
            text += ":reduce_only"
        if self.multiplier != 1:
            text += f":x{plain(self.multiplier)}"
        return text


def _multiplier(text: str, raw: str) -> Decimal:
    from hedgectl.decimals import to_decimal

    try:
        value = to_decimal(raw, what="multiplier")
    except ValueError:
        raise ValueError(f"target '{text}': multiplier 'x{raw}' is not a number") from None
    if value <= 0:
        raise ValueError(f"target '{text}': multiplier must be positive, got {raw}")
    return value


def minimum_order_size(rules: MarketRules, price: Decimal | None) -> Decimal:
    """The smallest size the market accepts: its minimum size, raised to meet a minimum notional at ``price``."""
    size = rules.min_size
    if rules.min_notional > 0 and price:
        size = max(size, quantize(rules.min_notional / price, rules.step_size, ROUND_CEILING))
    return max(size, rules.step_size)


@dataclass(frozen=True)
class ProbeAttempt:
    """One order the probe sent (or tried to): what it was, what the venue made of it, and how long that took."""

    target: str
    connector: str
    symbol: str
    side: Side
    reduce_only: bool
    size: Decimal
    attempt: int
    client_order_index: int | None
    api_key_index: int | None
    nonce: int | None
    outcome: str  # an order state (filled, cancelled, failed, unknown), or "refused" when nothing was sent
    filled_size: Decimal
    average_price: Decimal | None
    latency_ms: float
    reason: str | None = None
    error_type: str | None = None

    @property
    def filled(self) -> bool:
        return self.outcome == OrderState.FILLED.value

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "connector": self.connector,
            "symbol": self.symbol,
            "side": self.side.value,
            "reduce_only": self.reduce_only,
            "size": plain(self.size),
            "attempt": self.attempt,
            "client_order_index": self.client_order_index,
            "api_key_index": self.api_key_index,
            "nonce": self.nonce,
            "outcome": self.outcome,
            "filled_size": plain(self.filled_size),
            "average_price": None if self.average_price is None else plain(self.average_price),
            "latency_ms": round(self.latency_ms, 1),
            "reason": self.reason,
            "error_type": self.error_type,
        }


@dataclass
class ProbeReport:
    """Every attempt, in order, and what was done afterwards to each position the probe touched."""

    attempts: list[ProbeAttempt] = field(default_factory=list)
    restored: list[FlattenResult] = field(default_factory=list)
    kept: list[tuple[str, str, Decimal | None, Decimal | None]] = field(default_factory=list)  # left as asked
    targets: list[str] = field(default_factory=list)

    def target_ok(self, target: str) -> bool:
        return any(a.filled for a in self.attempts if a.target == target)

    @property
    def ok(self) -> bool:
        """Every target got a filled order."""
        return all(self.target_ok(target) for target in self.targets)

    @property
    def left_open(self) -> list[FlattenResult]:
        """Positions that could not be brought back (or read) after the probe."""
        return [result for result in self.restored if not result.reached]

    @property
    def unresolved(self) -> list[ProbeAttempt]:
        """Orders whose outcome the venue never confirmed."""
        return [a for a in self.attempts if a.outcome == UNKNOWN]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "attempts": [attempt.as_dict() for attempt in self.attempts],
            "restored": [
                {
                    "connector": r.connector,
                    "symbol": r.symbol,
                    "before": None if r.before is None else plain(r.before),
                    "target": plain(r.target),
                    "after": None if r.after is None else plain(r.after),
                    "orders": len(r.orders),
                    "ok": r.reached,
                    "errors": r.errors,
                }
                for r in self.restored
            ],
            "kept": [
                {
                    "connector": connector,
                    "symbol": symbol,
                    "started": None if before is None else plain(before),
                    "now": None if now is None else plain(now),
                }
                for connector, symbol, before, now in self.kept
            ],
        }


AttemptListener = Callable[[ProbeAttempt], None]


def _not_sent(target: ProbeTarget, symbol: str, reason: str, error: Exception) -> ProbeAttempt:
    return ProbeAttempt(
        target=str(target), connector=target.connector, symbol=symbol, side=target.side,
        reduce_only=target.reduce_only, size=ZERO, attempt=1, client_order_index=None, api_key_index=None,
        nonce=None, outcome="refused", filled_size=ZERO, average_price=None, latency_ms=0.0, reason=reason,
        error_type=type(error).__name__,
    )


@dataclass
class MinOrderProbe:
    """Runs the targets one after the other (so nonces and indexes appear in order), then restores positions."""

    connectors: ConnectorSet
    targets: Sequence[ProbeTarget]
    attempts: int = 1
    restore: bool = True
    order_timeout: float = 15.0
    on_attempt: AttemptListener | None = None
    _baselines: dict[tuple[str, str], Decimal] = field(default_factory=dict, init=False)

    async def run(self) -> ProbeReport:
        report = ProbeReport(targets=[str(target) for target in self.targets])
        try:
            for target in self.targets:
                await self._probe(target, report)
        finally:
            await self._leave(report)
        return report

    async def _probe(self, target: ProbeTarget, report: ProbeReport) -> None:
        config = self.connectors.config
        symbol = config.symbol_for(target.connector)
        try:
            connector = await self.connectors.get(target.connector)
            rules = await connector.prepare(symbol)
            key = (target.connector, symbol)
            if key not in self._baselines:
                # read before anything is sent, so that the position can be put back exactly
                self._baselines[key] = (await read_position(connector, symbol)).signed_size
            book = await connector.top_of_book(symbol)
        except VenueError as exc:
            # without the rules, the price or the starting position nothing is sent for this target
            self._record(report, _not_sent(target, symbol, f"before sending: {exc}", exc))
            return
        size = quantize(minimum_order_size(rules, book.mid) * target.multiplier, rules.step_size, ROUND_CEILING)
        slippage = config.hedge.slippage.get(connector.venue)
        for number in range(1, self.attempts + 1):
            attempt = await self._fire(connector, target, symbol, size, number, slippage)
            self._record(report, attempt)
            if attempt.filled or attempt.outcome == UNKNOWN:
                return

    def _record(self, report: ProbeReport, attempt: ProbeAttempt) -> None:
        report.attempts.append(attempt)
        if self.on_attempt is not None:
            self.on_attempt(attempt)

    async def _fire(
        self, connector: Connector, target: ProbeTarget, symbol: str, size: Decimal, number: int,
        slippage: Decimal | None,
    ) -> ProbeAttempt:
        try:
            intent = await connector.build_intent(symbol, target.side, size, reduce_only=target.reduce_only)
        except VenueError as exc:
            return replace(_not_sent(target, symbol, str(exc), exc), size=size, attempt=number)
        outcome = await send_and_wait(connector, intent, timeout=self.order_timeout, max_slippage=slippage)
        snapshot = outcome.snapshot
        return ProbeAttempt(
            target=str(target),
            connector=connector.name,
            symbol=symbol,
            side=target.side,
            reduce_only=target.reduce_only,
            size=intent.size,
            attempt=number,
            client_order_index=intent.client_order_index,
            api_key_index=outcome.info.get("api_key_index"),
            nonce=outcome.info.get("nonce"),
            outcome=outcome.state,
            filled_size=outcome.filled_size,
            average_price=snapshot.average_price if snapshot else None,
            latency_ms=outcome.latency_ms,
            reason=outcome.reason,
            error_type=type(outcome.error).__name__ if outcome.error is not None else None,
        )

    async def _leave(self, report: ProbeReport) -> None:
        for (name, symbol), baseline in self._baselines.items():
            connector = await self.connectors.get(name)
            if self.restore:
                slippage = self.connectors.config.hedge.slippage.get(connector.venue)
                result = await flatten_position(
                    connector, symbol, target=baseline, max_slippage=slippage, order_timeout=self.order_timeout
                )
                if not result.reached:
                    logger.error("%s: the probe could not put the position back: %s", name, result.describe())
                report.restored.append(result)
                continue
            try:
                now = (await read_position(connector, symbol)).signed_size
            except VenueError as exc:
                logger.warning("%s: position after the probe unknown: %s", name, exc)
                now = None
            report.kept.append((name, symbol, baseline, now))
