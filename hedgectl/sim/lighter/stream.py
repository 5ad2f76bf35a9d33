"""Paper Lighter's account WebSocket stream at ``/stream``: the ``connected`` greeting, ``subscribe``/``unsubscribe``
of the account channels (``account_all``, ``account_all_orders``, ``account_all_trades``, ``account_all_positions``)
with the venue's auth rules, a ``subscribed/*`` snapshot then ``update/*`` deltas, JSON ``ping``/``pong``, the error
frames, and the stream faults.

A change of the venue's state is pushed when the venue calls ``publish``: each session diffs what it last sent
against the ledger. A push costs half the round trip a request costs (one way), so it is sent ``L/2`` after the
change when a latency fault of ``L`` ms is armed for the account.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from hedgectl.sim.faults import Fault, FaultKind
from hedgectl.sim.lighter.wire import LighterApiError

if TYPE_CHECKING:
    from hedgectl.sim.lighter.ledger import LighterAccount

logger = logging.getLogger(__name__)

PATH = "/stream"
#: Channels a client may subscribe without an auth token (lighter-sdk's WsClient and ccxt subscribe them so).
OPEN_CHANNELS = frozenset({"account_all", "account_all_trades"})
CHANNELS = OPEN_CHANNELS | {"account_all_orders", "account_all_positions"}
CODE_INVALID_JSON = 30000
CODE_INVALID_TYPE = 30001
CODE_NOT_SUBSCRIBED = 30002
CODE_ALREADY_SUBSCRIBED = 30003
CODE_INVALID_CHANNEL = 30005
CODE_TOO_MANY_MESSAGES = 30009
MAX_CLIENT_FRAME = 64 * 1024
MAX_SUBSCRIPTIONS = 100
#: How often the venue sends its own JSON ping.
PING_SECS = 30.0


@dataclass
class _Cursor:
    """What one session last pushed of one account."""

    orders: dict[int, tuple[str, str]] = field(default_factory=dict)
    trades: int = 0
    positions: dict[str, str] = field(default_factory=dict)


class _Session:
    def __init__(self, hub: LighterStreams, ws: web.WebSocketResponse) -> None:
        self.hub = hub
        self.ws = ws
        self.channels: dict[str, int] = {}  # "kind:account_index" -> account_index
        self.cursors: dict[int, _Cursor] = {}
        self.queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self.silent_until = 0.0
        self.loop = asyncio.get_running_loop()

    def kinds_for(self, account_index: int) -> set[str]:
        return {key.split(":")[0] for key, index in self.channels.items() if index == account_index}


class LighterStreams:
    """Every open stream session of one paper Lighter venue."""

    def __init__(self, venue: Any) -> None:
        # ``venue`` is the PaperLighter that serves these streams (its module imports this one)
        self.venue = venue
        self.sessions: set[_Session] = set()
        self.ping_secs = PING_SECS
        venue.faults.on_arm(FaultKind.STREAM_DISCONNECT, self._arm_disconnect)
        venue.faults.on_arm(FaultKind.STREAM_STALL, self._arm_stall)
        for kind in (FaultKind.STREAM_MISS, FaultKind.STREAM_DUPLICATE, FaultKind.STREAM_DELAY):
            venue.faults.handles(kind)

    # ----- connections -------------------------------------------------------------------------------------------

    async def serve(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_FRAME, autoping=True)
        await ws.prepare(request)
        session = _Session(self, ws)
        self.sessions.add(session)
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self._writer(session))
        pinger = loop.create_task(self._pinger(session))
        try:
            self._queue(session, {"type": "connected", "session_id": str(uuid.uuid4())}, delay=0.0)
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                self._on_client_frame(session, message.data)
        finally:
            self.sessions.discard(session)
            for task in (writer, pinger):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return ws

    def _on_client_frame(self, session: _Session, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            self._error(session, CODE_INVALID_JSON, "Invalid Json")
            return
        kind = frame.get("type")
        if kind == "ping":
            self._queue(session, {"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            self._subscribe(session, frame)
        elif kind == "unsubscribe":
            self._unsubscribe(session, frame)
        else:
            self._error(session, CODE_INVALID_TYPE, "Invalid Type")

    def _channel(self, session: _Session, frame: dict[str, Any]) -> tuple[str, LighterAccount] | None:
        channel = frame.get("channel")
        parts = channel.split("/") if isinstance(channel, str) and len(channel) <= 100 else []
        if len(parts) != 2 or parts[0] not in CHANNELS or not parts[1].isdigit():
            self._error(session, CODE_INVALID_CHANNEL, f"Invalid Channel: {str(channel)[:100]}")
            return None
        account = self.venue.ledger.accounts.get(int(parts[1]))
        if account is None:
            self._error(session, CODE_INVALID_CHANNEL, f"Invalid Channel: {channel}")
            return None
        return parts[0], account

    def _subscribe(self, session: _Session, frame: dict[str, Any]) -> None:
        found = self._channel(session, frame)
        if found is None:
            return
        kind, account = found
        key = f"{kind}:{account.account_index}"
        if key in session.channels:
            self._error(session, CODE_ALREADY_SUBSCRIBED, f"Already Subscribed to : {key}")
            return
        if len(session.channels) >= MAX_SUBSCRIPTIONS:
            self._error(session, CODE_TOO_MANY_MESSAGES, "Too Many Subscriptions")
            return
        if kind not in OPEN_CHANNELS:
            token = frame.get("auth")
            try:
                self.venue.keys.check_auth_token(token if isinstance(token, str) else None, account.account_index,
                                                 self.venue.clock.now())
            except LighterApiError as exc:
                self._error(session, exc.code, exc.message)
                return
        session.channels[key] = account.account_index
        cursor = session.cursors.setdefault(account.account_index, _Cursor())
        self._queue(session, self._snapshot(kind, account, cursor), delay=self._push_delay(account.name))

    def _unsubscribe(self, session: _Session, frame: dict[str, Any]) -> None:
        found = self._channel(session, frame)
        if found is None:
            return
        kind, account = found
        key = f"{kind}:{account.account_index}"
        if session.channels.pop(key, None) is None:
            self._error(session, CODE_NOT_SUBSCRIBED, f"Not Subscribed to : {key}")
            return
        self._queue(session, {"type": "unsubscribed", "channel": key})

    def _error(self, session: _Session, code: int, message: str) -> None:
        self._queue(session, {"error": {"code": code, "message": message}})

    # ----- what is pushed ----------------------------------------------------------------------------------------

    def _orders(self, account: LighterAccount, cursor: _Cursor, *, everything: bool) -> dict[str, list[Any]]:
        changed: dict[str, list[Any]] = {}
        for order in self.venue.ledger.orders_of(account.account_index):
            version = (order.status, str(order.filled_base))
            if everything or cursor.orders.get(order.order_index) != version:
                cursor.orders[order.order_index] = version
                changed.setdefault(str(order.market_id), []).append(self.venue._order_document(order))
        return changed

    def _trades(self, account: LighterAccount, cursor: _Cursor, *, everything: bool) -> dict[str, list[Any]]:
        trades = self.venue.exchange.trades
        start = 0 if everything else cursor.trades
        cursor.trades = len(trades)
        ledger = self.venue.ledger
        found: dict[str, list[Any]] = {}
        for trade in trades[start:]:
            if account.name in (trade.buyer, trade.seller):
                document = ledger.trade_document(trade)
                found.setdefault(str(document["market_id"]), []).append(document)
        return found

    def _positions(self, account: LighterAccount, cursor: _Cursor, *, everything: bool) -> dict[str, Any]:
        document = self.venue.ledger.account_document(account)
        changed: dict[str, Any] = {}
        for position in document["positions"]:
            market = str(position["market_id"])
            version = json.dumps([position["sign"], position["position"], position["liquidation_price"]])
            if everything or cursor.positions.get(market) != version:
                cursor.positions[market] = version
                changed[market] = position
        for market in list(cursor.positions):
            if not any(str(position["market_id"]) == market for position in document["positions"]):
                # a position the account no longer shows is pushed as closed
                del cursor.positions[market]
                rules = self.venue.ledger.market(int(market))
                changed[market] = {"market_id": int(market), "symbol": rules.symbol, "sign": 1, "position": "0",
                                   "avg_entry_price": "0", "position_value": "0", "unrealized_pnl": "0",
                                   "realized_pnl": "0", "liquidation_price": "0", "open_order_count": 0}
        return changed

    def _frame(self, kind: str, account: LighterAccount, prefix: str, *, orders: Any = None, trades: Any = None,
               positions: Any = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"channel": f"{kind}:{account.account_index}", "type": f"{prefix}/{kind}"}
        if kind == "account_all_orders":
            frame["orders"] = orders
        elif kind == "account_all_trades":
            frame.update(trades=trades, total_volume=0, monthly_volume=0, weekly_volume=0, daily_volume=0)
        elif kind == "account_all_positions":
            frame.update(positions=positions, shares=[])
        else:
            frame.update(account=account.account_index, positions=positions, trades=trades, funding_histories={},
                         shares=[], daily_trades_count=0, daily_volume=0, weekly_trades_count=0, weekly_volume=0,
                         monthly_trades_count=0, monthly_volume=0, total_trades_count=0, total_volume=0)
        return frame

    def _snapshot(self, kind: str, account: LighterAccount, cursor: _Cursor) -> dict[str, Any]:
        # the snapshot moves the session's cursor for its own channel kind only as far as the others share it
        scratch = _Cursor()
        orders = self._orders(account, scratch, everything=True) if kind == "account_all_orders" else None
        trades = self._trades(account, scratch, everything=True) if kind in ("account_all", "account_all_trades") \
            else None
        positions = self._positions(account, scratch, everything=True) \
            if kind in ("account_all", "account_all_positions") else None
        cursor.orders.update(scratch.orders)
        cursor.trades = max(cursor.trades, scratch.trades)
        cursor.positions.update(scratch.positions)
        return self._frame(kind, account, "subscribed", orders=orders, trades=trades, positions=positions)

    def publish(self, *_: Any) -> None:
        """Push to every session what changed of its subscribed accounts since its last push."""
        for session in list(self.sessions):
            for account_index in set(session.channels.values()):
                account = self.venue.ledger.accounts.get(account_index)
                if account is None:
                    continue
                cursor = session.cursors.setdefault(account_index, _Cursor())
                kinds = session.kinds_for(account_index)
                orders = self._orders(account, cursor, everything=False)
                trades = self._trades(account, cursor, everything=False)
                positions = self._positions(account, cursor, everything=False)
                delay = self._push_delay(account.name)
                for kind in sorted(kinds):
                    if kind == "account_all_orders" and orders:
                        self._push(session, account.name, self._frame(kind, account, "update", orders=orders), delay)
                    elif kind == "account_all_trades" and trades:
                        self._push(session, account.name, self._frame(kind, account, "update", trades=trades), delay)
                    elif kind == "account_all_positions" and positions:
                        self._push(session, account.name,
                                   self._frame(kind, account, "update", positions=positions), delay)
                    elif kind == "account_all" and (trades or positions):
                        self._push(session, account.name,
                                   self._frame(kind, account, "update", trades=trades, positions=positions), delay)

    # ----- delivery and faults -----------------------------------------------------------------------------------

    def _push_delay(self, account: str) -> float:
        """One way: half the round trip an armed latency fault gives requests, plus an armed stream delay."""
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
            logger.info("paper lighter: stream push to %s missed (fault)", account)
            return
        self._queue(session, frame, delay=delay)
        if board.take(FaultKind.STREAM_DUPLICATE, account, PATH) is not None:
            self._queue(session, frame, delay=delay)

    def _queue(self, session: _Session, frame: dict[str, Any], *, delay: float = 0.0) -> None:
        session.queue.put_nowait((session.loop.time() + delay, json.dumps(frame, separators=(",", ":"))))

    async def _writer(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, text = await session.queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if loop.time() < session.silent_until:
                continue  # stalled: what happens meanwhile is never sent
            if session.ws.closed:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.ws.send_str(text)

    async def _pinger(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.ping_secs)
            self._queue(session, {"type": "ping"})

    async def _arm_disconnect(self, fault: Fault) -> None:
        for session in self._sessions_of(fault.account):
            await session.ws.close(code=1001, message=b"going away")

    def _arm_stall(self, fault: Fault) -> None:
        until = asyncio.get_running_loop().time() + fault.seconds
        for session in self._sessions_of(fault.account):
            session.silent_until = max(session.silent_until, until)

    def _sessions_of(self, account_name: str | None) -> list[_Session]:
        if account_name is None:
            return list(self.sessions)
        account = self.venue.ledger.account_named(account_name)
        index = account.account_index if account is not None else None
        return [session for session in self.sessions if index in session.channels.values()]
