"""Paper GRVT's account streams at ``/ws/full`` (JSON-RPC, full field names): the session cookie and account id of
the WebSocket upgrade authenticate the connection, as on the venue; ``subscribe`` of ``v1.order``, ``v1.state``,
``v1.fill`` and ``v1.position`` with selectors ``<sub_account_id>`` or ``<sub_account_id>-<instrument>``, answered
with ``subs``, ``num_snapshots`` and ``first_sequence_number``; snapshots (sequence number 0) of the open orders and
the positions; then deltas numbered +1 per ``(stream, selector)`` with ``prev_sequence_number``. The venue sends no
heartbeat of its own and answers protocol pings.

The venue calls ``publish`` after a change; each session diffs the venue's orders, fills and positions against what
it last pushed. A push costs half the latency a request costs (one way). A push the stream faults leave out (missed,
or sent during a stall) still uses its sequence number, so the next frame shows the gap, as a lost frame would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from hedgectl.sim.faults import Fault, FaultKind
from hedgectl.sim.grvt.accounts import GrvtKey
from hedgectl.sim.grvt.documents import fill_document, position_document
from hedgectl.sim.grvt.orders import OrderRecord, order_document, order_status
from hedgectl.sim.grvt.wire import GrvtError

logger = logging.getLogger(__name__)

PATH = "/ws/full"
ORDER_STREAM = "v1.order"
STATE_STREAM = "v1.state"
FILL_STREAM = "v1.fill"
POSITION_STREAM = "v1.position"
STREAMS = (ORDER_STREAM, STATE_STREAM, FILL_STREAM, POSITION_STREAM)
MAX_CLIENT_FRAME = 64 * 1024
MAX_SELECTORS = 50
MAX_SUBSCRIPTIONS = 200
UINT64_MAX = 2**64 - 1


@dataclass
class _Cursor:
    """What a session has already pushed of its account."""

    orders: dict[str, tuple[str, str]] = field(default_factory=dict)
    fills: int = 0
    positions: dict[str, str] = field(default_factory=dict)
    started: bool = False


class _Session:
    def __init__(self, ws: web.WebSocketResponse, key: GrvtKey | None) -> None:
        self.ws = ws
        self.key = key
        #: (stream, selector) -> the last sequence number used
        self.subscriptions: dict[tuple[str, str], int] = {}
        self.cursor = _Cursor()
        self.queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self.silent_until = 0.0
        self.loop = asyncio.get_running_loop()

    def selectors(self, stream: str, symbol: str) -> list[str]:
        """The subscribed selectors of ``stream`` a frame about ``symbol`` goes out under."""
        assert self.key is not None
        sub = str(self.key.sub_account_id)
        return [selector for (name, selector) in self.subscriptions
                if name == stream and selector in (sub, f"{sub}-{symbol}")]


class GrvtStreams:
    """Every open stream session of one paper GRVT venue."""

    def __init__(self, venue: Any) -> None:
        # ``venue`` is the PaperGrvt that serves these streams (its module imports this one)
        self.venue = venue
        self.sessions: set[_Session] = set()
        venue.faults.on_arm(FaultKind.STREAM_DISCONNECT, self._arm_disconnect)
        venue.faults.on_arm(FaultKind.STREAM_STALL, self._arm_stall)
        for kind in (FaultKind.STREAM_MISS, FaultKind.STREAM_DUPLICATE, FaultKind.STREAM_DELAY):
            venue.faults.handles(kind)
        venue.market.subscribe(self.publish)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_FRAME, autoping=True)
        await ws.prepare(request)
        session = _Session(ws, key)
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

    def _key(self, request: web.Request) -> GrvtKey | None:
        """The account whose session cookie (and account id, when sent) the upgrade request carries."""
        try:
            return self.venue._authenticate(request)
        except GrvtError:
            return None

    # ----- subscriptions -----------------------------------------------------------------------------------------

    def _on_client_frame(self, session: _Session, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            self._error(session, None, None, 1003, "Request could not be processed due to malformed syntax")
            return
        request_id = frame.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, (int, str, type(None))) \
                or len(str(request_id)) > 40:
            request_id = None
        method = frame.get("method")
        params = frame.get("params")
        if method not in ("subscribe", "unsubscribe") or not isinstance(params, dict):
            self._error(session, request_id, method if isinstance(method, str) else None, 1003,
                        "Request could not be processed due to malformed syntax")
            return
        stream, selectors = params.get("stream"), params.get("selectors")
        if stream not in STREAMS:
            self._error(session, request_id, method, 1003, "Stream is not supported")
            return
        if not isinstance(selectors, list) or not selectors or len(selectors) > MAX_SELECTORS \
                or not all(isinstance(selector, str) and len(selector) <= 100 for selector in selectors):
            self._error(session, request_id, method, 1102, "Wrong number of selectors")
            return
        if method == "unsubscribe":
            for selector in selectors:
                session.subscriptions.pop((stream, selector), None)
            self._answer(session, request_id, method, {"stream": stream, "unsubs": selectors})
            return
        if session.key is None or session.key.account not in self.venue.keys \
                or self._key_expired(session):
            self._error(session, request_id, method, 1000,
                        "You need to authenticate prior to using this functionality", status=401)
            return
        for selector in selectors:
            code = self._check_selector(session.key, selector)
            if code is not None:
                self._error(session, request_id, method, code, _MESSAGES[code])
                return
        if len(session.subscriptions) + len(selectors) > MAX_SUBSCRIPTIONS:
            self._error(session, request_id, method, 1102, "Wrong number of selectors")
            return
        self._subscribe(session, request_id, stream, selectors)

    def _key_expired(self, session: _Session) -> bool:
        # the venue forgets sessions on restart and after their lifetime: a socket opened with one cannot subscribe
        key = session.key
        return not any(account == key.account and expires >= self.venue.clock.now()
                       for account, expires in self.venue._sessions.values())

    def _check_selector(self, key: GrvtKey, selector: str) -> int | None:
        sub, _, instrument = selector.partition("-")
        if not sub.isdigit() or int(sub) > UINT64_MAX:
            return 3020
        if int(sub) != key.sub_account_id:
            return 1001
        if instrument and instrument not in self.venue.exchange.rules:
            return 3000
        return None

    def _subscribe(self, session: _Session, request_id: Any, stream: str, selectors: list[str]) -> None:
        assert session.key is not None
        cursor = session.cursor
        if not cursor.started:
            # from now on everything is pushed; what stands now is sent as the snapshots
            cursor.started = True
            cursor.fills = len(self.venue.exchange.fills)
            for record in self._records(session.key):
                cursor.orders[record.order_id] = _version(record)
            for symbol, position in self.venue.exchange.account(session.key.account).positions.items():
                cursor.positions[symbol] = str(position.size)
        delay = self._push_delay(session.key.account)
        snapshots: list[tuple[str, list[dict[str, Any]]]] = []
        for selector in selectors:
            session.subscriptions[(stream, selector)] = 0  # subscribing again restarts the selector's numbering
            snapshots.append((selector, self._snapshot(session.key, stream, selector)))
        self._answer(session, request_id, "subscribe", {
            "stream": stream, "subs": selectors, "unsubs": [],
            "num_snapshots": [len(feeds) for _, feeds in snapshots],
            "first_sequence_number": ["1" for _ in selectors],
            "latest_sequence_number": ["0" for _ in selectors],
        })
        for selector, feeds in snapshots:
            for feed in feeds:
                self._queue(session, {"stream": stream, "selector": selector, "sequence_number": "0",
                                      "feed": feed, "prev_sequence_number": "0"}, delay)

    def _snapshot(self, key: GrvtKey, stream: str, selector: str) -> list[dict[str, Any]]:
        _, _, instrument = selector.partition("-")
        if stream in (ORDER_STREAM, STATE_STREAM):
            return [self._order_feed(stream, record) for record in self._records(key)
                    if order_status(record)[0] == "OPEN" and (not instrument or _symbol(record) == instrument)]
        if stream == POSITION_STREAM:
            now_ns = self.venue.now_ns()
            return [position_document(self.venue.exchange, key, symbol, now_ns)
                    for symbol, position in sorted(self.venue.exchange.account(key.account).positions.items())
                    if position.size != 0 and (not instrument or symbol == instrument)]
        return []

    def _answer(self, session: _Session, request_id: Any, method: str, result: dict[str, Any]) -> None:
        self._queue(session, {"jsonrpc": "2.0", "result": result, "id": request_id, "method": method}, 0.0)

    def _error(self, session: _Session, request_id: Any, method: str | None, code: int, message: str, *,
               status: int = 400) -> None:
        frame: dict[str, Any] = {"jsonrpc": "2.0", "error": {"code": code, "message": message, "status": status},
                                 "id": request_id}
        if method is not None:
            frame["method"] = method
        self._queue(session, frame, 0.0)

    # ----- what is pushed ----------------------------------------------------------------------------------------

    def _records(self, key: GrvtKey) -> list[OrderRecord]:
        return [record for record in self.venue.records if record.account == key.account]

    def _order_feed(self, stream: str, record: OrderRecord) -> dict[str, Any]:
        document = order_document(record)
        if stream == STATE_STREAM:
            return {"order_id": document["order_id"], "client_order_id": record.client_order_id,
                    "order_state": document["state"]}
        return document

    def _changes(self, session: _Session) -> list[tuple[str, str, dict[str, Any]]]:
        """``(stream, symbol, feed)`` of everything of the session's account that changed since its last push."""
        key = session.key
        assert key is not None
        exchange = self.venue.exchange
        cursor = session.cursor
        changes: list[tuple[str, str, dict[str, Any]]] = []
        for record in self._records(key):
            version = _version(record)
            if cursor.orders.get(record.order_id) == version:
                continue
            cursor.orders[record.order_id] = version
            for stream in (ORDER_STREAM, STATE_STREAM):
                changes.append((stream, _symbol(record), self._order_feed(stream, record)))
        fills = exchange.fills[cursor.fills:]
        cursor.fills = len(exchange.fills)
        for fill in fills:
            if fill.account == key.account:
                record = self.venue._record_of(fill)
                changes.append((FILL_STREAM, fill.symbol, fill_document(exchange, key, fill, record)))
        now_ns = self.venue.now_ns()
        for symbol, position in sorted(exchange.account(key.account).positions.items()):
            size = str(position.size)
            if cursor.positions.get(symbol, "0") == size or (symbol not in cursor.positions and position.size == 0):
                cursor.positions[symbol] = size
                continue
            cursor.positions[symbol] = size
            changes.append((POSITION_STREAM, symbol, position_document(exchange, key, symbol, now_ns)))
        return changes

    def publish(self, *_: Any) -> None:
        """Push to every session what changed of its account since its last push."""
        for session in list(self.sessions):
            if session.key is None or not session.cursor.started:
                continue
            delay = self._push_delay(session.key.account)
            for stream, symbol, feed in self._changes(session):
                for selector in session.selectors(stream, symbol):
                    previous = session.subscriptions[(stream, selector)]
                    session.subscriptions[(stream, selector)] = previous + 1
                    self._push(session, {"stream": stream, "selector": selector,
                                         "sequence_number": str(previous + 1), "feed": feed,
                                         "prev_sequence_number": str(previous)}, delay)

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

    def _push(self, session: _Session, frame: dict[str, Any], delay: float) -> None:
        board = self.venue.faults
        account = session.key.account if session.key is not None else None
        if board.take(FaultKind.STREAM_MISS, account, PATH) is not None:
            logger.info("paper grvt: stream push to %s missed (fault)", account)
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
        return [session for session in self.sessions
                if account is None or (session.key is not None and session.key.account == account)]


_MESSAGES = {
    1001: "You are not authorized to access this functionality",
    3000: "Instrument is invalid",
    3020: "Sub account ID must be an uint64 integer",
}


def _symbol(record: OrderRecord) -> str:
    return str(record.document["legs"][0]["instrument"])


def _version(record: OrderRecord) -> tuple[str, str]:
    status, _ = order_status(record)
    order = record.engine_order
    return status, str(order.executed_quantity) if order is not None else "0"
