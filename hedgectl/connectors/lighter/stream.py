"""The Lighter account stream: the account's order, trade and position channels, subscribed with the connector's
auth token, read into the connector's own report values. Every frame is untrusted: a field that does not read is
dropped with its order or position, never trusted and never fatal.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.connectors.base import Position
from hedgectl.connectors.lighter.wire import decimal_field, int_field
from hedgectl.connectors.stream import AccountStream, StreamClosed
from hedgectl.errors import VenueProtocolError
from hedgectl.text import visible



class StreamOwner(Protocol):
    """What the stream needs of its connector (the connector module imports this one, not the other way)."""

    name: str
    account_index: int

    async def positions(self) -> list[Position]: ...

    def known_markets(self) -> dict[str, Any]: ...

    def pushed_order(self, order: dict[str, Any]) -> bool: ...

    def wake_confirmations(self) -> None: ...

logger = logging.getLogger(__name__)

#: the channels subscribed per account (all with the auth token, which every source accepts)
CHANNELS = ("account_all_orders", "account_all_trades", "account_all_positions")
#: what a frame may carry before the rest is ignored
MAX_MARKETS_PER_FRAME = 256
MAX_ITEMS_PER_MARKET = 1000
#: Lighter closes a socket that has sent nothing for 2 minutes, whatever it receives
KEEPALIVE_SECS = 20.0
#: auth error codes: a fresh token on a new connection is the cure
AUTH_ERROR_CODES = frozenset({20013, 21109})
GREETING_TIMEOUT_SECS = 10.0
LIQUIDATION_TYPES = frozenset({"liquidation", "deleverage"})


class LighterAccountStream(AccountStream):
    """The account channels of one Lighter connector's account."""

    venue = "lighter"
    keepalive_secs = KEEPALIVE_SECS

    def __init__(self, connector: StreamOwner, url: str, *, auth_token: Callable[[], Awaitable[str]],
                 clock: Clock = SYSTEM_CLOCK, silence_secs: float = 45.0):
        super().__init__(connector.name, url, reconcile=self._reconcile_from_rest, clock=clock,
                         silence_secs=silence_secs)
        self.connector = connector
        self._auth_token = auth_token
        #: signed position size by market index, as the stream last told it (rebased on every reconciliation)
        self.positions: dict[int, Decimal] = {}
        #: the account's liquidation and deleverage trades the stream pushed, newest last (bounded)
        self.liquidations: deque[dict[str, Any]] = deque(maxlen=100)

    async def _reconcile_from_rest(self) -> None:
        """Before the stream is trusted: the positions by REST, and every order in flight read by REST now."""
        positions = await self.connector.positions()
        by_symbol = {position.symbol: position.signed_size for position in positions}
        self.positions = {
            market.market_id: by_symbol.get(symbol, Decimal(0))
            for symbol, market in self.connector.known_markets().items()
        }
        self.connector.wake_confirmations()

    def keepalive_frame(self) -> dict[str, Any]:
        return {"type": "ping"}

    async def subscribe(self, ws: Any) -> None:
        # the venue greets a new connection before it takes subscriptions
        async with asyncio.timeout(GREETING_TIMEOUT_SECS):
            while True:
                message = await ws.receive()
                if not isinstance(message.data, str):
                    raise StreamClosed("closed before the venue's greeting")
                try:
                    frame = json.loads(message.data)
                except ValueError:
                    continue
                if isinstance(frame, dict) and frame.get("type") == "connected":
                    break
        token = await self._auth_token()  # asked for at every connection: the signer renews it before it expires
        account = self.connector.account_index
        for channel in CHANNELS:
            await ws.send_str(json.dumps({"type": "subscribe", "channel": f"{channel}/{account}", "auth": token}))

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
            return
        if "error" in frame:
            error = frame.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
            logger.info("%s: lighter stream error %s: %s", self.name, code if isinstance(code, int) else "?",
                        visible(message, 200))
            if code in AUTH_ERROR_CODES:
                raise StreamClosed("the venue refused the auth token")
            return
        if kind == "shutdown":
            raise StreamClosed("the venue announced a shutdown")
        if not isinstance(kind, str) or "/" not in kind:
            return
        phase, channel = kind.split("/", 1)
        if phase not in ("subscribed", "update") or not self._own(frame.get("channel")):
            return
        if channel == "account_all_orders":
            for order in _items(frame.get("orders")):
                if self.connector.pushed_order(order):
                    self.changed.set()
        elif channel == "account_all_trades" and phase == "update":
            for trade in _items(frame.get("trades")):
                if trade.get("type") in LIQUIDATION_TYPES and self._own_trade(trade):
                    self.liquidations.append(trade)
                    self.changed.set()
                    symbol = self._symbol_of(trade)
                    if symbol is not None:
                        self._count_liquidation(symbol)
        elif channel == "account_all_positions":
            positions = frame.get("positions")
            if isinstance(positions, dict):
                for position in list(positions.values())[:MAX_MARKETS_PER_FRAME]:
                    if isinstance(position, dict) and self._position(position):
                        self.changed.set()

    def position_of(self, symbol: str) -> Decimal | None:
        market = self.connector.known_markets().get(symbol)
        return None if market is None else self.positions.get(market.market_id)

    def _symbol_of(self, trade: dict[str, Any]) -> str | None:
        try:
            market_id = int_field(trade, "market_id")
        except (VenueProtocolError, ValueError, TypeError):
            return None
        for symbol, market in self.connector.known_markets().items():
            if market.market_id == market_id:
                return symbol
        return None

    def _own_trade(self, trade: dict[str, Any]) -> bool:
        account = self.connector.account_index
        return trade.get("ask_account_id") == account or trade.get("bid_account_id") == account

    def _position(self, entry: dict[str, Any]) -> bool:
        """Keep one pushed position; False when it does not read (it is then left to the REST watchdog)."""
        try:
            market = int_field(entry, "market_id")
            size = decimal_field(entry, "position")
            sign = int_field(entry, "sign")
        except (VenueProtocolError, ValueError, TypeError, ArithmeticError):
            return False
        if sign not in (1, -1) or size < 0 or not size.is_finite():
            return False
        self.positions[market] = sign * size
        return True

    def _own(self, channel: Any) -> bool:
        """Frames name the channel with ``:``; an account channel must name this account."""
        if not isinstance(channel, str):
            return False
        parts = channel.split(":")
        return len(parts) == 2 and parts[1] == str(self.connector.account_index)


def _items(by_market: Any) -> list[dict[str, Any]]:
    """The entries of a ``{"<market>": [...]}`` map (a list in some snapshots), bounded, dicts only."""
    if isinstance(by_market, dict):
        groups = list(by_market.values())[:MAX_MARKETS_PER_FRAME]
    elif isinstance(by_market, list):
        groups = [by_market]
    else:
        return []
    found = []
    for group in groups:
        if isinstance(group, list):
            found.extend(item for item in group[:MAX_ITEMS_PER_MARKET] if isinstance(item, dict))
    return found
