"""ccxt's own pro (WebSocket) classes, unmodified, read the paper venues' account streams over loopback.

Only what a user pointing ccxt at another host would change is changed: the URLs in ``urls`` and the credentials.
ccxt sends no acknowledgement-bearing subscribe for Backpack, so the tests wait until the paper venue holds the
subscription before they trade (otherwise the first push could race the SUBSCRIBE frame).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import ccxt.pro
import pytest

from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.model.orders import Side
from hedgectl.sim.runner import ThreadedPaperVenues

BP_ETH = "ETH_USDC_PERP"
#: every wait of these tests is bounded by this; a healthy run needs a fraction of a second
BOUND = 20.0


@pytest.fixture
def bp_venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["backpack"])


def backpack_client(venues: ThreadedPaperVenues) -> ccxt.pro.backpack:
    section = venues.accounts_document()["backpack"]
    account = section["accounts"][0]
    return ccxt.pro.backpack({
        "apiKey": account["api_key"],
        "secret": account["api_secret"],
        "urls": {"api": {"public": section["url"], "private": section["url"],
                         "ws": {"public": section["ws_url"], "private": section["ws_url"]}}},
    })


async def backpack_trade(venues: ThreadedPaperVenues, side: Side, size: str) -> str:
    """Trade through hedgectl's own connector; the venue's id of the order."""
    section = venues.accounts_document()["backpack"]
    account = section["accounts"][0]
    config = ConnectorConfig(name="backpack", venue="backpack", base_url=section["url"], options={"window_ms": 5000},
                             secrets={"api_key": Secret(account["api_key"], source="paper"),
                                      "api_secret": Secret(account["api_secret"], source="paper")})
    async with BackpackConnector(config) as connector:
        handle = await connector.submit_market_order(BP_ETH, side, Decimal(size))
        snapshot = await handle.wait_final(5)
        assert snapshot.venue_order_id is not None
        return snapshot.venue_order_id


async def until(venues: ThreadedPaperVenues, condition: Callable[[], bool]) -> None:
    """Wait (bounded) until ``condition`` holds in the venues' own loop."""
    async with asyncio.timeout(BOUND):
        while not venues.call_sync(condition):
            await asyncio.sleep(0.01)


def backpack_subscribed(venues: ThreadedPaperVenues, stream: str) -> Callable[[], bool]:
    streams = venues.venues.venue("backpack").streams
    return lambda: any(stream in session.streams for session in streams.sessions)


async def watch_until(watch: Callable[[], Awaitable[list[dict[str, Any]]]], done: Callable[[list[dict[str, Any]]],
                      bool]) -> list[dict[str, Any]]:
    """Call ccxt's ``watch_*`` until what it returns satisfies ``done`` (bounded)."""
    async with asyncio.timeout(BOUND):
        while True:
            result = await watch()
            if done(result):
                return result


def test_ccxt_backpack_watch_orders_reads_the_fill_of_an_order_placed_by_hedgectl(
        bp_venues: ThreadedPaperVenues) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], str]:
        exchange = backpack_client(bp_venues)
        try:
            await exchange.load_markets()
            symbol = exchange.markets_by_id[BP_ETH][0]["symbol"]
            first = asyncio.create_task(exchange.watch_orders(symbol))
            await until(bp_venues, backpack_subscribed(bp_venues, f"account.orderUpdate.{BP_ETH}"))
            order_id = await backpack_trade(bp_venues, Side.BUY, "0.3")
            await asyncio.wait_for(first, BOUND)
            orders = await watch_until(lambda: exchange.watch_orders(symbol),
                                       lambda orders: orders[-1]["status"] == "closed") \
                if first.result()[-1]["status"] != "closed" else first.result()
            return orders, order_id
        finally:
            with contextlib.suppress(Exception):
                await exchange.close()

    orders, order_id = asyncio.run(scenario())
    order = orders[-1]
    assert order["symbol"] == "ETH/USDC:USDC"
    assert (order["side"], order["type"], order["status"]) == ("buy", "market", "closed")
    assert Decimal(str(order["filled"])) == Decimal("0.3") and Decimal(str(order["amount"])) == Decimal("0.3")
    assert order["id"] == order_id


def test_ccxt_backpack_watch_positions_reads_the_position_a_fill_opens(bp_venues: ThreadedPaperVenues) -> None:
    async def scenario() -> list[dict[str, Any]]:
        exchange = backpack_client(bp_venues)
        try:
            await exchange.load_markets()
            symbol = exchange.markets_by_id[BP_ETH][0]["symbol"]
            first = asyncio.create_task(exchange.watch_positions([symbol]))
            await until(bp_venues, backpack_subscribed(bp_venues, f"account.positionUpdate.{BP_ETH}"))
            await backpack_trade(bp_venues, Side.SELL, "0.2")
            return await asyncio.wait_for(first, BOUND)
        finally:
            with contextlib.suppress(Exception):
                await exchange.close()

    (position,) = asyncio.run(scenario())
    assert (position["symbol"], position["side"]) == ("ETH/USDC:USDC", "short")
    assert position["info"]["e"] == "positionOpened" and Decimal(position["info"]["q"]) == Decimal("-0.2")
