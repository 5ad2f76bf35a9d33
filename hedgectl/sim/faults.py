"""Fault injection for paper venues: the fault kinds, their options, and the board that arms, consumes and clears them.

A ``Fault`` is armed on one venue's ``FaultBoard`` (over HTTP at ``POST /_sim/faults`` or from Python). Request-level
kinds (latency, error, rate_limit, down while it lasts) are applied by the venue server's middleware; order-level
kinds (reject, drop_after_execute, partial_fill) are taken by the venue's order handlers with ``FaultBoard.take``;
record kinds (lag) by the handlers that list orders, trades and transactions, on venues that declare them with
``FaultBoard.handles``;
immediate kinds (liquidate, price_move, down, nonce_skew) run the action the venue registered with
``FaultBoard.on_arm`` at the moment they are armed. Each fault may be scoped to an account name and a request path
prefix, and limited to ``count`` uses (None = until cleared).
"""

from __future__ import annotations

import enum
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any

logger = logging.getLogger(__name__)


class FaultKind(str, enum.Enum):
    LATENCY = "latency"
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    REJECT = "reject"
    DROP_AFTER_EXECUTE = "drop_after_execute"
    PARTIAL_FILL = "partial_fill"
    NONCE_SKEW = "nonce_skew"
    LIQUIDATE = "liquidate"
    PRICE_MOVE = "price_move"
    DOWN = "down"
    LAG = "lag"
    REJECT_AFTER_ACCEPT = "reject_after_accept"
    STREAM_DISCONNECT = "stream_disconnect"
    STREAM_STALL = "stream_stall"
    STREAM_MISS = "stream_miss"
    STREAM_DUPLICATE = "stream_duplicate"
    STREAM_DELAY = "stream_delay"


REQUEST_KINDS = frozenset({FaultKind.LATENCY, FaultKind.ERROR, FaultKind.RATE_LIMIT})
ORDER_KINDS = frozenset({FaultKind.REJECT, FaultKind.DROP_AFTER_EXECUTE, FaultKind.PARTIAL_FILL})
IMMEDIATE_KINDS = frozenset({FaultKind.NONCE_SKEW, FaultKind.LIQUIDATE, FaultKind.PRICE_MOVE, FaultKind.DOWN,
                             FaultKind.STREAM_DISCONNECT, FaultKind.STREAM_STALL})
#: Kinds a venue's account streams apply to their pushes (only venues that serve streams declare them).
STREAM_KINDS = frozenset({FaultKind.STREAM_MISS, FaultKind.STREAM_DUPLICATE, FaultKind.STREAM_DELAY})
#: Kinds a venue applies in its record listings; only venues that declare them (``FaultBoard.handles``) accept them.
RECORD_KINDS = frozenset({FaultKind.LAG})
#: Kinds only the venues that declare them (``FaultBoard.handles``) accept: the record kinds, and a transaction that
#: fails after it was accepted (Lighter).
DECLARED_KINDS = RECORD_KINDS | STREAM_KINDS | {FaultKind.REJECT_AFTER_ACCEPT}


class DropMode(str, enum.Enum):
    """How ``drop_after_execute`` loses the answer: close the connection, or answer 504 after ``delay_ms``."""

    CLOSE = "close"
    GATEWAY_TIMEOUT = "504"


class FaultError(ValueError):
    """A fault description that cannot be armed (unknown kind, bad option, missing account)."""


@dataclass(frozen=True)
class Bound:
    """The range a numeric fault option must lie in (ends included unless open), and what it measures."""

    low: Decimal
    high: Decimal
    unit: str = ""
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: Decimal) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}{unit}"


#: Every numeric fault option's range. A paper venue must recover from whatever it is told: a latency or outage
#: beyond these outlasts any client's patience, and a nonce pushed far beyond what a second process could have used
#: leaves the venue refusing every order until it is restarted.
BOUNDS: dict[str, Bound] = {
    "count": Bound(Decimal(1), Decimal(1_000_000), "uses"),
    "ms": Bound(Decimal(0), Decimal(600_000), "ms"),
    "jitter_ms": Bound(Decimal(0), Decimal(600_000), "ms"),
    "delay_ms": Bound(Decimal(0), Decimal(600_000), "ms"),
    "status": Bound(Decimal(500), Decimal(599)),
    "retry_after": Bound(Decimal(0), Decimal(3600), "s"),
    "amount": Bound(Decimal(1), Decimal(1000), "nonces"),
    # Lighter's api key indexes
    "api_key_index": Bound(Decimal(0), Decimal(254)),
    "fraction": Bound(Decimal(0), Decimal(1), low_open=True, high_open=True),
    "percent": Bound(Decimal(-99), Decimal(100), "%"),
    "seconds": Bound(Decimal(0), Decimal(3600), "s", low_open=True),
}
#: The longest text a fault option may carry (account and symbol names, paths, reject codes and messages).
MAX_TEXT_LENGTH = 200


def bounds_help(name: str) -> str:
    """The range of option ``name`` as the command line's help says it."""
    return f"range {BOUNDS[name].describe()}"


@dataclass
class Fault:
    """One armed fault. Only the options of its kind matter; the others keep their defaults.

    Options by kind (the range of every numeric option is in ``BOUNDS``):
      latency: ``ms`` fixed delay plus uniform ``jitter_ms``, per request.
      error: ``status`` (5xx, default 500).
      rate_limit: ``retry_after`` seconds (Telegram's ``parameters.retry_after``; Backpack sends none).
      reject: ``code`` and ``message`` of the venue error (venue defaults: insufficient margin).
      reject_after_accept: the order is accepted, its nonce consumed, then its transaction fails with ``message``.
      drop_after_execute: ``mode`` close | 504, ``delay_ms`` before the 504.
      partial_fill: ``fraction`` of the order's quantity that fills (0 < fraction < 1), rest cancelled.
      nonce_skew: ``amount`` the server-side nonce jumps ahead (Lighter; needs ``api_key_index`` or all keys).
      liquidate: ``account`` whose positions are liquidated now.
      price_move: ``percent`` (signed) shock to the mid of ``symbol`` (base asset, e.g. ETH; all when omitted).
      down: ``seconds`` during which the venue refuses connections.
      lag: ``ms`` by which the venue's order, trade and transaction records trail its engine: while armed, those
        listings leave out what is younger than ``ms`` (positions and balances stay current), as the indexes of a
        real venue trail its sequencer. ``count`` limits the number of listings it affects.
      stream_disconnect: the account streams (of ``account``, or all) are closed now; clients reconnect.
      stream_stall: the account streams stay open but send nothing (no data, no pings) for ``seconds``; what
        happens meanwhile is never pushed.
      stream_miss: the next ``count`` pushes (default 1) to ``account``'s streams are never sent.
      stream_duplicate: the next ``count`` pushes (default 1) are sent twice.
      stream_delay: pushes are delivered ``ms`` (plus ``jitter_ms``) late, in order, for ``count`` pushes.
    """

    kind: FaultKind
    account: str | None = None
    count: int | None = None
    venue: str | None = None
    path: str | None = None
    ms: int = 0
    jitter_ms: int = 0
    status: int = 500
    retry_after: int = 1
    code: str | None = None
    message: str | None = None
    mode: DropMode = DropMode.CLOSE
    delay_ms: int = 0
    fraction: Decimal = Decimal("0.5")
    amount: int = 1
    api_key_index: int | None = None
    percent: Decimal = Decimal("0")
    symbol: str | None = None
    seconds: float = 1.0
    fault_id: int = 0
    used: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """Build and validate a fault from its JSON description (the body of ``POST /_sim/faults``)."""
        if not isinstance(data, dict):
            raise FaultError("a fault is a JSON object")
        known = {f.name for f in fields(cls)} - {"fault_id", "used"}
        unknown = set(data) - known
        if unknown:
            raise FaultError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        try:
            kind = FaultKind(data.get("kind"))
        except ValueError:
            raise FaultError(f"unknown fault kind {data.get('kind')!r}; one of {', '.join(k.value for k in FaultKind)}") from None
        values: dict[str, Any] = {"kind": kind}
        try:
            for name in ("account", "venue", "path", "code", "message", "symbol"):
                if data.get(name) is not None:
                    values[name] = str(data[name])
            for name in ("count", "ms", "jitter_ms", "status", "retry_after", "delay_ms", "amount", "api_key_index"):
                if data.get(name) is not None:
                    values[name] = _integer(name, data[name])
            for name in ("fraction", "percent"):
                if data.get(name) is not None:
                    values[name] = Decimal(str(data[name]))
            if data.get("seconds") is not None:
                values["seconds"] = float(data["seconds"])
            if data.get("mode") is not None:
                values["mode"] = DropMode(str(data["mode"]))
        except (ValueError, InvalidOperation) as exc:
            raise FaultError(f"bad fault option: {exc}") from None
        if kind in (FaultKind.STREAM_MISS, FaultKind.STREAM_DUPLICATE):
            values.setdefault("count", 1)
        fault = cls(**values)
        fault.validate()
        return fault

    def validate(self) -> None:
        """Refuse (FaultError) any option outside its documented range (``BOUNDS``), whatever the kind."""
        if self.kind is FaultKind.ERROR and not 500 <= self.status <= 599:
            raise FaultError(f"error status must be a 5xx, in {BOUNDS['status'].describe()}")
        for name, bound in BOUNDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            number = Decimal(str(value))
            if not number.is_finite() or not bound.contains(number):
                raise FaultError(f"{name} must be in {bound.describe()}, got {_shown(value)}")
        for name in ("account", "venue", "path", "code", "message", "symbol"):
            text = getattr(self, name)
            if text is not None and len(text) > MAX_TEXT_LENGTH:
                raise FaultError(f"{name} must be at most {MAX_TEXT_LENGTH} characters, got {len(text)}")
        if self.kind is FaultKind.LIQUIDATE and not self.account:
            raise FaultError("liquidate needs an account")
        if self.kind is FaultKind.LAG and not self.ms > 0:
            raise FaultError(f"lag ms must be in (0, {BOUNDS['ms'].high}] ms")

    def to_json(self) -> dict[str, Any]:
        """The fault with every option, JSON-able (what ``GET /_sim/faults`` lists)."""
        document: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, Decimal):
                value = format(value, "f")
            document[f.name] = value
        return document

    def matches(self, account: str | None, path: str | None) -> bool:
        """True when this fault applies to a request by ``account`` on ``path``."""
        if self.account is not None and self.account != account:
            return False
        return self.path is None or (path is not None and path.startswith(self.path))


ArmAction = Callable[[Fault], Awaitable[None] | None]


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > 40):
        raise ValueError(f"{name} must be an integer in {BOUNDS[name].describe()}")
    number = int(value)
    if number != Decimal(str(value)):
        raise ValueError(f"{name} must be an integer")
    return number


@dataclass
class FaultBoard:
    """The faults armed on one venue, and the actions the venue runs for immediate kinds.

    ``rng`` supplies latency jitter (pass ``Market.rng("faults:<venue>")`` so it follows the run's seed).
    """

    venue: str
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    faults: list[Fault] = field(default_factory=list)
    _actions: dict[FaultKind, ArmAction] = field(default_factory=dict, repr=False)
    _handled: set[FaultKind] = field(default_factory=set, repr=False)
    _ids: Any = field(default_factory=lambda: itertools.count(1), repr=False)

    def on_arm(self, kind: FaultKind, action: ArmAction) -> None:
        """Run ``action(fault)`` (sync or async) whenever a fault of immediate ``kind`` is armed on this venue."""
        self._actions[kind] = action

    def handles(self, kind: FaultKind) -> None:
        """Declare that this venue applies ``kind`` (a record kind such as lag, or reject_after_accept)."""
        self._handled.add(kind)

    def supports(self, kind: FaultKind) -> bool:
        if kind in IMMEDIATE_KINDS:
            return kind in self._actions
        return kind not in DECLARED_KINDS or kind in self._handled

    def admit(self, fault: Fault) -> Fault:
        """Check that this venue can arm ``fault`` and give it its id, without arming it yet."""
        if fault.venue is not None and fault.venue != self.venue:
            raise FaultError(f"fault for venue {fault.venue!r} armed on {self.venue!r}")
        if not self.supports(fault.kind):
            raise FaultError(f"{self.venue} does not support fault kind {fault.kind.value}")
        fault.venue = self.venue
        if not fault.fault_id:
            fault.fault_id = next(self._ids)
        return fault

    async def arm(self, fault: Fault) -> Fault:
        """Arm ``fault``: immediate kinds run their action now, the others wait on the board for matching requests."""
        self.admit(fault)
        logger.info("%s: arming fault %s", self.venue, _describe(fault))
        if fault.kind in IMMEDIATE_KINDS:
            outcome = self._actions[fault.kind](fault)
            if outcome is not None:
                await outcome
            fault.used = 1
            return fault
        self.faults.append(fault)
        return fault

    def clear(self, kind: FaultKind | None = None) -> int:
        """Remove armed faults (of ``kind`` only, when given); returns how many were removed."""
        before = len(self.faults)
        self.faults = [fault for fault in self.faults if kind is not None and fault.kind is not kind]
        return before - len(self.faults)

    def peek(self, kind: FaultKind, account: str | None = None, path: str | None = None) -> Fault | None:
        """The first armed fault of ``kind`` that applies, without using it."""
        for fault in self.faults:
            if fault.kind is kind and fault.matches(account, path):
                return fault
        return None

    def take(self, kind: FaultKind, account: str | None = None, path: str | None = None) -> Fault | None:
        """The first armed fault of ``kind`` that applies, using one of its count (removed when used up)."""
        fault = self.peek(kind, account, path)
        if fault is None:
            return None
        fault.used += 1
        if fault.count is not None and fault.used >= fault.count:
            self.faults.remove(fault)
        return fault

    def latency_seconds(self, fault: Fault) -> float:
        jitter = self.rng.uniform(0, fault.jitter_ms) if fault.jitter_ms else 0.0
        return (fault.ms + jitter) / 1000.0

    def listing(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self.faults]


def _describe(fault: Fault) -> str:
    scope = f" account={fault.account}" if fault.account else ""
    count = f" count={fault.count}" if fault.count else ""
    return f"{fault.kind.value}{scope}{count}"
