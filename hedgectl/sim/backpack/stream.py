"""Paper Backpack's account WebSocket stream at ``/ws``: signed ``SUBSCRIBE`` of ``account.orderUpdate`` and
``account.positionUpdate`` (bare or per symbol), ``{"stream", "data"}`` frames with the venue's single-letter keys
(``orderAccepted``, ``orderFill``, ``orderCancelled``, ``orderExpired``; a position snapshot without ``e`` on
subscribe, then ``positionOpened``/``positionAdjusted``/``positionClosed``), protocol pings, and the stream faults.

The venue calls ``publish`` after a change; each session diffs the engine's orders, fills and positions against what
it last pushed. A push costs half the latency a request costs (one way).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from hedgectl.sim.backpack.documents import position_document
from hedgectl.sim.exchange.records import CancelReason, Fill, Order, OrderStatus, OrderType, Side, TradeKind
from hedgectl.sim.faults import Fault, FaultKind


logger = logging.getLogger(__name__)

PATH = "/ws"
ORDER_STREAM = "account.orderUpdate"
POSITION_STREAM = "account.positionUpdate"
MAX_CLIENT_FRAME = 64 * 1024
MAX_STREAMS = 50
MAX_WINDOW_MS = 60_000
#: The venue pings every 60 s and closes a client that has not answered within 120 s.
PING_SECS = 60.0


@dataclass
class _Cursor:
    orders: dict[int, tuple[str, str]] = field(default_factory=dict)
    fills: int = 0
    positions: dict[str, str] = field(default_factory=dict)


class _Session:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.account: str | None = None
        self.streams: set[str] = set()
        self.cursor = _Cursor()
        self.queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self.silent_until = 0.0
        self.loop = asyncio.get_running_loop()

    def wants(self, base: str, symbol: str) -> str | None:
        """The stream name a frame about ``symbol`` goes out under, or None when not subscribed."""
        if f"{base}.{symbol}" in self.streams:
            return f"{base}.{symbol}"
        return base if base in self.streams else None


class BackpackStreams:
    """Every open stream session of one paper Backpack venue."""

    def __init__(self, venue: Any) -> None:
        # ``venue`` is the PaperBackpack that serves these streams (its module imports this one)
        self.venue = venue
        self.sessions: set[_Session] = set()
        venue.faults.on_arm(FaultKind.STREAM_DISCONNECT, self._arm_disconnect)
        venue.faults.on_arm(FaultKind.STREAM_STALL, self._arm_stall)
        for kind in (FaultKind.STREAM_MISS, FaultKind.STREAM_DUPLICATE, FaultKind.STREAM_DELAY):
            venue.faults.handles(kind)
        venue.market.subscribe(self.publish)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_FRAME, autoping=True, heartbeat=PING_SECS)
        await ws.prepare(request)
        session = _Session(ws)
        self.sessions.add(session)
        writer = asyncio.get_running_loop().create_task(self._writer(session))
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self._on_client_frame(session, message.data)
        finally:
            self.sessions.discard(session)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    # ----- subscriptions -----------------------------------------------------------------------------------------

    def _on_client_frame(self, session: _Session, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or frame.get("method") not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            self._error(session, 4000, "Invalid request")
            return
        params = frame.get("params")
        if not isinstance(params, list) or not params or len(params) > MAX_STREAMS \
                or not all(isinstance(name, str) and len(name) <= 100 for name in params):
            self._error(session, 4006, "Invalid stream")
            return
        if frame["method"] == "UNSUBSCRIBE":
            session.streams.difference_update(params)
            return
        for name in params:
            if not _known_stream(name, self.venue.exchange.rules):
                self._error(session, 4006, "Invalid stream")
                return
        account = self._verify(frame.get("signature"))
        if account is None:
            self._error(session, 4005, "Invalid signature")
            return
        if session.account is not None and session.account != account:
            self._error(session, 4005, "Signature is for another account")
            return
        session.account = account
        new = [name for name in params if name not in session.streams]
        session.streams.update(params)
        # the orders and fills from now on are pushed; the positions as they stand are sent at once
        cursor = session.cursor
        if not cursor.orders and not cursor.fills:
            cursor.fills = len(self.venue.exchange.fills)
            for order in self.venue.exchange.find_orders(account):
                cursor.orders[order.order_id] = _version(order)
        delay = self._push_delay(account)
        for name in new:
            if name.startswith(POSITION_STREAM):
                symbol = name[len(POSITION_STREAM) + 1:] or None
                for position in self._positions(account, cursor, everything=True):
                    if symbol is None or position["s"] == symbol:
                        self._queue(session, {"stream": name, "data": position}, delay)

    def _verify(self, signature: Any) -> str | None:
        """The account whose key signed ``instruction=subscribe&timestamp=T&window=W`` within its window."""
        if not isinstance(signature, list) or len(signature) != 4 or not all(isinstance(p, str) for p in signature):
            return None
        key, signed, timestamp, window = signature
        if not timestamp.isdigit() or not window.isdigit() or int(window) > MAX_WINDOW_MS or len(timestamp) > 16:
            return None
        if self.venue.now_ms() > int(timestamp) + int(window):
            return None
        verify_key = self.venue._verify_keys.get(key)
        if verify_key is None:
            return None
        try:
            raw = base64.b64decode(signed, validate=True)
            verify_key.verify(f"instruction=subscribe&timestamp={timestamp}&window={window}".encode(), raw)
        except (binascii.Error, ValueError, Exception):
            return None
        return self.venue.api_keys[key].account

    def _error(self, session: _Session, code: int, message: str) -> None:
        self._queue(session, {"id": None, "error": {"code": code, "message": message}}, 0.0)

    # ----- what is pushed ----------------------------------------------------------------------------------------

    def _order_events(self, account: str, cursor: _Cursor) -> list[dict[str, Any]]:
        exchange = self.venue.exchange
        now_us = self.venue.now_ms() * 1000
        events: list[dict[str, Any]] = []
        fills = exchange.fills[cursor.fills:]
        cursor.fills = len(exchange.fills)
        own_fills = [fill for fill in fills if fill.account == account and fill.order_id is not None]
        for order in exchange.find_orders(account):
            version = _version(order)
            before = cursor.orders.get(order.order_id)
            if before == version:
                continue
            cursor.orders[order.order_id] = version
            if before is None:
                events.append(_order_event("orderAccepted", order, now_us, status="New", executed=Decimal(0),
                                           executed_quote=Decimal(0)))
            executed = Decimal(before[1]) if before is not None else Decimal(0)
            quote = executed * (order.average_price or Decimal(0))
            for fill in (f for f in own_fills if f.order_id == order.order_id):
                executed += fill.quantity
                quote += fill.quantity * fill.price
                status = "Filled" if order.quote_quantity is None and executed >= order.quantity \
                    else "PartiallyFilled"
                events.append(_order_event("orderFill", order, now_us, status=status, executed=executed,
                                           executed_quote=quote, fill=fill))
            if order.status is OrderStatus.CANCELLED:
                kind = "orderCancelled" if order.cancel_reason is CancelReason.USER else "orderExpired"
                events.append(_order_event(kind, order, now_us, status="Cancelled" if kind == "orderCancelled"
                                           else "Expired", executed=order.executed_quantity,
                                           executed_quote=order.executed_quote))
        # the venue closes a liquidated position with an order of its own, pushed like the account's orders
        events.extend(_liquidation_event(fill, now_us) for fill in fills
                      if fill.account == account and fill.order_id is None and fill.kind is TradeKind.LIQUIDATION)
        return events

    def _positions(self, account: str, cursor: _Cursor, *, everything: bool) -> list[dict[str, Any]]:
        exchange = self.venue.exchange
        now_us = self.venue.now_ms() * 1000
        frames = []
        for symbol, position in sorted(exchange.account(account).positions.items()):
            before = cursor.positions.get(symbol)
            size = str(position.size)
            if not everything and before == size:
                continue
            if everything and position.size == 0:
                cursor.positions[symbol] = size
                continue
            cursor.positions[symbol] = size
            document = position_document(self.venue.exchange, account, symbol)
            data = {"E": now_us, "T": now_us, "s": symbol, "q": document["netQuantity"],
                    "Q": document["netExposureQuantity"], "n": document["netExposureNotional"],
                    "B": document["entryPrice"], "b": document["breakEvenPrice"], "M": document["markPrice"],
                    "f": document["imf"], "m": document["mmf"], "i": int(document["positionId"]),
                    "p": document["pnlRealized"], "P": document["pnlUnrealized"],
                    "l": document["estLiquidationPrice"]}
            if not everything:
                opened = before is None or Decimal(before) == 0
                data = {"e": "positionClosed" if position.size == 0 else
                        "positionOpened" if opened else "positionAdjusted", **data}
            frames.append(data)
        return frames

    def publish(self, *_: Any) -> None:
        """Push to every session what changed of its account since its last push."""
        for session in list(self.sessions):
            account = session.account
            if account is None:
                continue
            delay = self._push_delay(account)
            for data in self._order_events(account, session.cursor):
                name = session.wants(ORDER_STREAM, data["s"])
                if name is not None:
                    self._push(session, account, {"stream": name, "data": data}, delay)
            for data in self._positions(account, session.cursor, everything=False):
                name = session.wants(POSITION_STREAM, data["s"])
                if name is not None:
                    self._push(session, account, {"stream": name, "data": data}, delay)

    # ----- delivery and faults -----------------------------------------------------------------------------------

    def _push_delay(self, account: str) -> float:
        board = self.venue.faults
        delay = 0.0
        latency = board.peek(FaultKind.LATENCY, account, PATH)
        if latency is not None:
            delay += board.latency_seconds(latency) / 2
        late = board.take(FaultKind.STREAM_DELAY, account, PATH)
        if late is not None:
            delay += board.latency_seconds(late)
        return delay

    def _push(self, session: _Session, account: str, frame: dict[str, Any], delay: float) -> None:
        board = self.venue.faults
        if board.take(FaultKind.STREAM_MISS, account, PATH) is not None:
            logger.info("paper backpack: stream push to %s missed (fault)", account)
            return
        self._queue(session, frame, delay)
        if board.take(FaultKind.STREAM_DUPLICATE, account, PATH) is not None:
            self._queue(session, frame, delay)

    @staticmethod
    def _queue(session: _Session, frame: dict[str, Any], delay: float) -> None:
        session.queue.put_nowait((session.loop.time() + delay, json.dumps(frame, separators=(",", ":"))))

    async def _writer(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, text = await session.queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if loop.time() < session.silent_until:
                continue
            if session.ws.closed:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.ws.send_str(text)

    async def _arm_disconnect(self, fault: Fault) -> None:
        for session in self._sessions_of(fault.account):
            await session.ws.close(code=1001, message=b"going away")

    def _arm_stall(self, fault: Fault) -> None:
        until = asyncio.get_running_loop().time() + fault.seconds
        for session in self._sessions_of(fault.account):
            session.silent_until = max(session.silent_until, until)

    def _sessions_of(self, account: str | None) -> list[_Session]:
        return [session for session in self.sessions if account is None or session.account == account]


def _known_stream(name: str, symbols: Any) -> bool:
    for base in (ORDER_STREAM, POSITION_STREAM):
        if name == base or (name.startswith(base + ".") and name[len(base) + 1:] in symbols):
            return True
    return False


def _version(order: Order) -> tuple[str, str]:
    return order.status.value, str(order.executed_quantity)


def _order_event(kind: str, order: Order, now_us: int, *, status: str, executed: Decimal, executed_quote: Decimal,
                 fill: Fill | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "e": kind, "E": now_us, "s": order.symbol, "S": "Bid" if order.side is Side.BUY else "Ask",
        "o": "MARKET" if order.order_type is OrderType.MARKET else "LIMIT",
        "f": order.time_in_force.value.upper(),
        "X": status, "i": str(order.order_id), "z": _text(executed), "Z": _text(executed_quote),
        "t": fill.trade_id if fill is not None else None, "T": now_us,
        "O": "LIQUIDATION_AUTOCLOSE" if fill is not None and fill.kind is TradeKind.LIQUIDATION else "USER",
        "r": order.reduce_only,
    }
    if order.client_id is not None:
        data["c"] = order.client_id
    if order.quote_quantity is None:
        data["q"] = _text(order.quantity)
    if order.price is not None:
        data["p"] = _text(order.price)
    if fill is not None:
        data.update(l=_text(fill.quantity), L=_text(fill.price), m=fill.is_maker, n=_text(fill.fee), N="USDC")
    return data


def _liquidation_event(fill: Fill, now_us: int) -> dict[str, Any]:
    quantity = _text(fill.quantity)
    return {
        "e": "orderFill", "E": now_us, "s": fill.symbol, "S": "Bid" if fill.side is Side.BUY else "Ask",
        "o": "MARKET", "f": "IOC", "X": "Filled", "i": str(fill.trade_id), "q": quantity, "z": quantity,
        "Z": _text(fill.quantity * fill.price), "t": fill.trade_id, "T": now_us, "O": "LIQUIDATION_AUTOCLOSE",
        "r": True, "l": quantity, "L": _text(fill.price), "m": False, "n": _text(fill.fee), "N": "USDC",
    }


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
