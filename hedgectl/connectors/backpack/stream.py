"""The Backpack account stream: ``account.orderUpdate`` and ``account.positionUpdate``, subscribed with a fresh
signature of ``instruction=subscribe&timestamp=T&window=W``, read into the connector's own order reports. Every frame
is untrusted: what does not read is dropped, never trusted and never fatal.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.connectors.backpack import wire
from hedgectl.connectors.base import OrderReport, Position
from hedgectl.connectors.stream import AccountStream
from hedgectl.errors import VenueError
from hedgectl.text import visible



class StreamOwner(Protocol):
    """What the stream needs of its connector (the connector module imports this one, not the other way)."""

    name: str

    def venue_time_ms(self) -> int: ...

    def sign_stream_subscription(self, timestamp_ms: int, window_ms: int) -> list[str]: ...

    async def positions(self) -> list[Position]: ...

    def pushed_report(self, report: OrderReport, reason: str | None = None,
                      info: dict[str, Any] | None = None) -> bool: ...

    def wake_confirmations(self) -> None: ...

logger = logging.getLogger(__name__)

ORDER_STREAM = "account.orderUpdate"
POSITION_STREAM = "account.positionUpdate"
SUBSCRIBE_WINDOW_MS = 5000
#: the stream's statuses in the REST vocabulary (the same words)
STATUSES = frozenset({"New", "PartiallyFilled", "Filled", "Cancelled", "Expired", "TriggerPending", "TriggerFailed"})
MAX_NUMBER_TEXT = 40
#: the origins of an order the venue placed to close the account's position: a liquidation or an auto-deleveraging
#: Origins of an order the venue makes on the account when it liquidates it (Backpack changelog 2025-02-11); a
#: backstop liquidity provider takes over a liquidated position, so it counts too (it can only start an exit early)
LIQUIDATION_ORIGINS = frozenset({"LIQUIDATION_AUTOCLOSE", "ADL_AUTOCLOSE", "BACKSTOP_LIQUIDITY_PROVIDER"})


class BackpackAccountStream(AccountStream):
    """The order and position streams of one Backpack connector's account."""

    venue = "backpack"

    def __init__(self, connector: StreamOwner, url: str, *, clock: Clock = SYSTEM_CLOCK,
                 silence_secs: float = 150.0, heartbeat_secs: float = 30.0):
        # a quiet account gets only the venue's protocol pings (every 60 s), which aiohttp answers unseen: the
        # client's own pings (heartbeat) find a dead socket, and the silence window is longer than the venue's ping
        super().__init__(connector.name, url, reconcile=self._reconcile_from_rest, clock=clock,
                         silence_secs=silence_secs, heartbeat_secs=heartbeat_secs)
        self.connector = connector
        #: signed position size by symbol, as the stream last told it (rebased on every reconciliation)
        self.positions: dict[str, Decimal] = {}
        #: order events of the account's liquidations and deleveragings (``LIQUIDATION_ORIGINS``), newest last (bounded)
        self.liquidations: deque[dict[str, Any]] = deque(maxlen=100)

    async def subscribe(self, ws: Any) -> None:
        # signed just before sending: a subscribe frame is never replayed after a reconnect
        signature = self.connector.sign_stream_subscription(self.connector.venue_time_ms(), SUBSCRIBE_WINDOW_MS)
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [ORDER_STREAM, POSITION_STREAM],
                                      "signature": signature}))

    async def _reconcile_from_rest(self) -> None:
        positions = await self.connector.positions()
        self.positions = {position.symbol: position.signed_size for position in positions}
        self.connector.wake_confirmations()

    async def handle(self, frame: dict[str, Any]) -> None:
        if "error" in frame:
            error = frame.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            logger.info("%s: backpack stream error: %s", self.name, visible(message, 200))
            return
        stream, data = frame.get("stream"), frame.get("data")
        if not isinstance(stream, str) or not isinstance(data, dict):
            return
        if stream == ORDER_STREAM or stream.startswith(ORDER_STREAM + "."):
            self._order(data)
        elif stream == POSITION_STREAM or stream.startswith(POSITION_STREAM + "."):
            self._position(data)

    def _order(self, data: dict[str, Any]) -> None:
        status = data.get("X")
        if status not in STATUSES or not isinstance(data.get("s"), str):
            return
        if data.get("O") in LIQUIDATION_ORIGINS:
            self.liquidations.append(data)
            self._count_liquidation(data["s"])
        # the REST shape, so the report comes from the same reader as a REST answer
        document = {"id": data.get("i"), "clientId": data.get("c"), "symbol": data["s"], "side": data.get("S"),
                    "quantity": data.get("q"), "executedQuantity": data.get("z"),
                    "executedQuoteQuantity": data.get("Z"), "status": status, "price": data.get("p"),
                    "reduceOnly": data.get("r")}
        if not all(_number_text(document[key]) for key in ("quantity", "executedQuantity", "executedQuoteQuantity",
                                                            "price")):
            return
        try:
            report = wire.order_report(document)
        except (VenueError, ValueError, TypeError, ArithmeticError, KeyError):
            return
        if report.client_order_index is None or not 0 <= report.filled_size <= report.size:
            return
        reason = data.get("R") if isinstance(data.get("R"), str) else None
        if self.connector.pushed_report(report, reason, info={"status": report.status}):
            self.changed.set()

    def position_of(self, symbol: str) -> Decimal | None:
        return self.positions.get(symbol)

    def _position(self, data: dict[str, Any]) -> None:
        symbol, quantity = data.get("s"), data.get("q")
        if not isinstance(symbol, str) or len(symbol) > 40 or not _number_text(quantity) or quantity is None:
            return
        try:
            size = Decimal(str(quantity))
        except InvalidOperation:
            return
        if not size.is_finite():
            return
        self.positions[symbol] = size
        self.changed.set()


def _number_text(value: Any) -> bool:
    """Absent, or a short finite decimal (string or JSON number): what a numeric field may be."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > MAX_NUMBER_TEXT:
        return False
    try:
        return Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False
