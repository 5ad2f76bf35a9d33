"""The GRVT account stream: ``v1.order``, ``v1.fill`` and ``v1.position`` of the connector's sub-account on the
trades host's ``/ws/full`` (JSON-RPC), the connection authenticated by the session cookie the REST calls use. Order
feeds are the REST order document and are read by the same function; positions likewise. Sequence numbers are kept
per ``(stream, selector)``: a gap reconciles by REST, a number going back reconnects.

Every frame is untrusted: what does not read is dropped, never trusted and never fatal.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.connectors.base import OrderReport, Position
from hedgectl.connectors.grvt import wire
from hedgectl.connectors.stream import AccountStream, StreamClosed, StreamGap
from hedgectl.errors import VenueError
from hedgectl.text import visible


class StreamOwner(Protocol):
    """What the stream needs of its connector (the connector module imports this one, not the other way)."""

    name: str

    async def stream_headers(self) -> dict[str, str]: ...

    async def stream_sub_account(self) -> int: ...

    def forget_session(self) -> None: ...

    async def positions(self) -> list[Position]: ...

    def pushed_report(self, report: OrderReport, reason: str | None = None,
                      info: dict[str, Any] | None = None) -> bool: ...

    def wake_confirmations(self) -> None: ...


logger = logging.getLogger(__name__)

ORDER_STREAM = "v1.order"
FILL_STREAM = "v1.fill"
POSITION_STREAM = "v1.position"
STREAMS = (ORDER_STREAM, FILL_STREAM, POSITION_STREAM)
STATUSES = frozenset({"PENDING", "OPEN", "FILLED", "REJECTED", "CANCELLED"})
#: the venue's "authenticate first" code: the session cookie is no longer good, log in again
SESSION_CODE = 1000
MAX_TEXT = 100
MAX_NUMBER_TEXT = 40
#: no size or price of an account is this large: a number beyond it is a hostile or broken frame
MAX_MAGNITUDE = Decimal(10) ** 18
MAX_SEQUENCE_DIGITS = 24
#: GRVT documents no heartbeat and a quiet sub-account's streams send nothing: protocol pings (heartbeat) find a
#: dead socket; the silence window only bounds how long an unheard stream is trusted (ccxt keeps GRVT's for 5 min)
HEARTBEAT_SECS = 15.0
SILENCE_SECS = 300.0


class GrvtAccountStream(AccountStream):
    """The order, fill and position streams of one GRVT connector's sub-account."""

    venue = "grvt"

    def __init__(self, connector: StreamOwner, url: str, *, clock: Clock = SYSTEM_CLOCK,
                 silence_secs: float = SILENCE_SECS, heartbeat_secs: float = HEARTBEAT_SECS):
        super().__init__(connector.name, url, reconcile=self._reconcile_from_rest, clock=clock,
                         silence_secs=silence_secs, heartbeat_secs=heartbeat_secs)
        self.connector = connector
        self.sub_account_id: int | None = None
        #: signed position size by instrument, as the stream last told it (rebased on every reconciliation)
        self.positions: dict[str, Decimal] = {}
        #: the sub-account's liquidation fills the stream pushed, newest last (bounded)
        self.liquidations: deque[dict[str, Any]] = deque(maxlen=100)
        #: (stream, selector) -> the last delta's sequence number, or the one before the first expected
        self._last: dict[tuple[str, str], int] = {}
        self.gaps = 0

    async def connect_headers(self) -> dict[str, str]:
        # the venue authenticates the upgrade itself: the REST session's cookie and account id
        self.sub_account_id = await self.connector.stream_sub_account()
        return await self.connector.stream_headers()

    async def subscribe(self, ws: Any) -> None:
        self._last = {}
        for request_id, stream in enumerate(STREAMS, start=1):
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "id": request_id,
                                          "params": {"stream": stream, "selectors": [str(self.sub_account_id)]}},
                                         separators=(",", ":")))

    async def _reconcile_from_rest(self) -> None:
        positions = await self.connector.positions()
        self.positions = {position.symbol: position.signed_size for position in positions}
        self.connector.wake_confirmations()

    async def handle(self, frame: dict[str, Any]) -> None:
        if "error" in frame:
            self._error(frame.get("error"))
        elif "result" in frame:
            self._subscribed(frame.get("result"))
        else:
            await self._feed(frame)

    def _error(self, error: Any) -> None:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        if code == SESSION_CODE:
            self.connector.forget_session()  # the next connection logs in again
        # a subscription the venue refused delivers nothing: the stream is not to be trusted as it is
        raise StreamClosed(f"subscription refused: {visible(message, 200)} (code {visible(code, 12)})")

    def _subscribed(self, result: Any) -> None:
        if not isinstance(result, dict) or result.get("stream") not in STREAMS:
            return
        subs, firsts = result.get("subs"), result.get("first_sequence_number")
        if not isinstance(subs, list) or not isinstance(firsts, list) or len(subs) > 10:
            return
        for selector, first in zip(subs, firsts):
            number = _sequence(first)
            if isinstance(selector, str) and number is not None and number >= 1:
                self._last[(result["stream"], selector)] = number - 1

    async def _feed(self, frame: dict[str, Any]) -> None:
        stream, selector, feed = frame.get("stream"), frame.get("selector"), frame.get("feed")
        if stream not in STREAMS or not isinstance(selector, str) or len(selector) > MAX_TEXT \
                or not isinstance(feed, dict):
            return
        sequence = _sequence(frame.get("sequence_number"))
        if sequence is None or str(feed.get("sub_account_id")) != str(self.sub_account_id):
            return
        gap = False
        if sequence > 0:  # 0 is a snapshot
            key = (stream, selector)
            last = self._last.get(key)
            if last is not None and sequence == last:
                return  # a duplicate: already applied
            if last is not None and sequence < last:
                raise StreamClosed(f"{stream} sequence went back from {last} to {sequence}")
            gap = last is not None and sequence != last + 1
            self._last[key] = sequence
        if stream == ORDER_STREAM:
            self._order(feed)
        elif stream == POSITION_STREAM:
            self._position(feed)
        else:
            self._fill(feed)
        if gap:
            self.gaps += 1
            logger.info("%s: grvt %s stream skipped sequence numbers; reconciling by REST", self.name, stream)
            raise StreamGap(stream)

    def _order(self, feed: dict[str, Any]) -> None:
        legs, state = feed.get("legs"), feed.get("state")
        if not isinstance(legs, list) or len(legs) != 1 or not isinstance(legs[0], dict) \
                or not isinstance(state, dict):
            return
        leg = legs[0]
        numbers = [leg.get("size"), leg.get("limit_price"), *_short_list(state.get("traded_size")),
                   *_short_list(state.get("avg_fill_price"))]
        if not _text(leg.get("instrument")) or state.get("status") not in STATUSES \
                or not all(_number_text(value) for value in numbers):
            return
        try:
            report = wire.order_report(feed)
        except (VenueError, ValueError, TypeError, ArithmeticError, KeyError):
            return
        if report.client_order_index is None or not 0 <= report.filled_size <= report.size:
            return
        _, reason = wire.order_status(feed)
        reason = visible(reason, MAX_TEXT) if report.done else None
        if self.connector.pushed_report(report, reason, info={"status": report.status}):
            self.changed.set()

    def position_of(self, symbol: str) -> Decimal | None:
        """The signed position of ``symbol`` the stream last pushed (or reconciled), None when it never said."""
        return self.positions.get(symbol)

    def _position(self, feed: dict[str, Any]) -> None:
        if not _text(feed.get("instrument")) or not all(
                _number_text(feed.get(key)) for key in ("size", "entry_price", "mark_price", "unrealized_pnl",
                                                        "realized_pnl", "est_liquidation_price")):
            return
        try:
            position = wire.position(feed, connector=self.name)
        except (VenueError, ValueError, TypeError, ArithmeticError):
            return
        self.positions[position.symbol] = position.signed_size
        self.changed.set()

    def _fill(self, feed: dict[str, Any]) -> None:
        if feed.get("is_liquidation") is not True or not _text(feed.get("instrument")) \
                or not _number_text(feed.get("size")) or not _number_text(feed.get("price")):
            return
        self.liquidations.append({"instrument": feed["instrument"], "size": str(feed.get("size")),
                                  "price": str(feed.get("price")), "is_buyer": feed.get("is_buyer") is True,
                                  "trade_id": visible(feed.get("trade_id"), 40)})
        self._count_liquidation(feed["instrument"])


def _sequence(value: Any) -> int | None:
    """A sequence number (a decimal string or a JSON integer), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit() and len(value) <= MAX_SEQUENCE_DIGITS:
        return int(value)
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT


def _short_list(values: Any) -> list[Any]:
    """A per-leg list (one leg): its values, or one unreadable value when it is anything else."""
    if values is None:
        return []
    return values if isinstance(values, list) and len(values) <= 1 else [object()]


def _number_text(value: Any) -> bool:
    """Absent, or a short finite decimal of a sane magnitude (string or JSON number): what a numeric field may be."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > MAX_NUMBER_TEXT:
        return False
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return False
    return number.is_finite() and abs(number) < MAX_MAGNITUDE
