"""The Backpack connector's order reads: open orders, and one order by clientId wherever the venue keeps it (resting,
order history, fills), which is how every order is confirmed and how a lost answer is looked for."""

from __future__ import annotations

import logging
from typing import Any

from hedgectl.connectors.backpack import wire
from hedgectl.connectors.base import OrderReport
from hedgectl.decimals import ZERO
from hedgectl.errors import OrderNotFound, VenueProtocolError
from hedgectl.model.orders import OrderIntent, OrderType

logger = logging.getLogger(__name__)


HISTORY_PAGE = 200
HISTORY_PAGES = 3
#: The documented ``sortDirection`` of order history, asked explicitly rather than relying on the default.
HISTORY_NEWEST_FIRST = "Desc"
#: How far before an order's send an order history scan still looks (the venue's clock against ours).
HISTORY_CLOCK_MARGIN_MS = 60_000
FILLS_PAGE = 1000
FILLS_PAGES = 20


class BackpackOrderReads:
    """Mixed into the connector: its signed reads of orders and fills (``_read`` is the connector's)."""

    async def _fill_rows(self, symbol: str | None, *, since_ms: int | None = None,
                         pages: int = FILLS_PAGES) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in range(pages):
            params: dict[str, Any] = {"limit": FILLS_PAGE, "offset": page * FILLS_PAGE}
            if symbol:
                params["symbol"] = symbol
            if since_ms is not None:
                params["from"] = since_ms
            batch = wire.expect(
                await self._read("fills", "/wapi/v1/history/fills", params, instruction="fillHistoryQueryAll"),
                list, "fills",
            )
            rows.extend(batch)
            if len(batch) < FILLS_PAGE:
                return rows
        logger.warning("%s: fill history truncated at %d rows", self.name, len(rows))
        return rows

    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        params = {"symbol": symbol} if symbol else None
        rows = wire.expect(await self._read("open orders", "/api/v1/orders", params, instruction="orderQueryAll"),
                           list, "open orders")
        return [wire.order_report(row) for row in rows]

    async def find_order(self, symbol: str, client_order_index: int) -> OrderReport | None:
        found = await self._lookup(symbol, client_order_index)
        return found[0] if found is not None else None

    async def _lookup(
        self, symbol: str, client_order_index: int, *, since_ms: int | None = None, intent: OrderIntent | None = None
    ) -> tuple[OrderReport, str | None] | None:
        """The venue's view of one order by clientId: resting, then order history, then fills; None without a trace."""
        resting = await self._resting(symbol, client_order_index)
        if resting is not None:
            return resting
        for page in range(HISTORY_PAGES):
            rows = wire.expect(
                await self._read("order history", "/wapi/v1/history/orders",
                                 {"symbol": symbol, "limit": HISTORY_PAGE, "offset": page * HISTORY_PAGE,
                                  "sortDirection": HISTORY_NEWEST_FIRST},
                                 instruction="orderHistoryQueryAll"),
                list, "order history",
            )
            for row in rows:
                if isinstance(row, dict) and wire.client_id(row.get("clientId")) == client_order_index:
                    return wire.order_report(row), wire.expiry_reason(row)
            if len(rows) < HISTORY_PAGE or (since_ms is not None and _older_newest_first(rows, since_ms)):
                break
        fills = [
            wire.fill(row) for row in await self._fill_rows(symbol, since_ms=since_ms, pages=1)
            if isinstance(row, dict) and wire.client_id(row.get("clientId")) == client_order_index
        ]
        if not fills:
            return None
        filled = sum((item.size for item in fills), ZERO)
        notional = sum((item.size * item.price for item in fills), ZERO)
        # A market order executes in one match, so its fills are all it will get; so does an order that its fills
        # cover. Any other order with fills is done unless it rests: it can only have left the book after they came.
        if intent is None or not (intent.order_type is OrderType.MARKET or filled >= intent.size):
            resting = await self._resting(symbol, client_order_index)
            if resting is not None:
                return resting
        report = OrderReport(
            client_order_index=client_order_index,
            venue_order_id=fills[0].order_id,
            symbol=symbol,
            side=fills[0].side,
            size=intent.size if intent is not None else filled,
            filled_size=filled,
            done=True,
            status="Fills",
            average_price=notional / filled,
            fee=sum((item.fee for item in fills), ZERO),
        )
        return report, None

    async def _resting(self, symbol: str, client_order_index: int) -> tuple[OrderReport, str | None] | None:
        """The order by clientId while it rests in the book (the venue knows no other order by this query)."""
        try:
            document = await self._read("order", "/api/v1/order", {"symbol": symbol, "clientId": client_order_index},
                                        instruction="orderQuery")
        except OrderNotFound:
            return None
        return wire.order_report(wire.expect(document, dict, "order")), wire.expiry_reason(document)


def _older_newest_first(rows: list[Any], since_ms: int) -> bool:
    """Whether a page of order history is entirely older than ``since_ms`` (less a clock margin) AND really newest
    first: only then can no later page hold an order sent since. A page in any other order ends nothing early."""
    try:
        created = [wire.order_report(row).created_at if isinstance(row, dict) else None for row in rows]
    except VenueProtocolError:  # another order's row the connector cannot read: no proof of the page's order
        return False
    if not created or any(at is None for at in created):
        return False
    newest_first = all(a >= b for a, b in zip(created, created[1:]))
    return newest_first and max(created) * 1000 < since_ms - HISTORY_CLOCK_MARGIN_MS
