"""ccxt's own pro (WebSocket) classes, unmodified, read the paper venues' account streams over loopback.

ccxt is pointed at the paper venues as a user would point it at another host: its ``urls`` and credentials. The few
other settings Lighter and GRVT need (a REST list the paper venues do not serve, ccxt's range of API key indexes,
GRVT's wallet-only sign-in) are explained where they are set and in docs/venue-streams.md. ccxt does not surface
subscribe acknowledgements, so each test waits until the paper venue holds the subscription before it trades
(otherwise the first push could race the subscribe frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import ccxt.pro
import httpx
import lighter
import pytest

from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.model.orders import Side
from hedgectl.sim.runner import ThreadedPaperVenues

from .lighter.support import ETH as LT_ETH
from .lighter.support import PaperLighterAccount, assert_accepted, best_prices, lighter_accounts, signer

BP_ETH = "ETH_USDC_PERP"
GR_ETH = "ETH_USDT_Perp"
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
            orders = await asyncio.wait_for(first, BOUND)
            if orders[-1]["status"] != "closed":
                orders = await watch_until(lambda: exchange.watch_orders(symbol),
                                           lambda orders: orders[-1]["status"] == "closed")
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


@pytest.fixture
def lt_venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["lighter"])


def lighter_client(venues: ThreadedPaperVenues, account: PaperLighterAccount, **options: Any) -> ccxt.pro.lighter:
    section = venues.accounts_document()["lighter"]
    return ccxt.pro.lighter({
        # paper Lighter does not serve GET assetDetails (live Lighter's asset list), which ccxt reads while loading
        # markets; the markets themselves come from orderBookDetails, which it does serve
        "has": {"fetchCurrencies": False},
        "urls": {"api": {"root": section["url"], "public": section["url"], "private": section["url"],
                         "ws": section["ws_url"]}},
        "options": {"accountIndex": account.account_index, **options},
    })


def lighter_subscribed(venues: ThreadedPaperVenues, channel: str) -> Callable[[], bool]:
    streams = venues.venues.venue("lighter").streams
    return lambda: any(channel in session.channels for session in streams.sessions)


def test_ccxt_lighter_watch_my_trades_reads_the_fill_of_a_market_order(lt_venues: ThreadedPaperVenues) -> None:
    account = lighter_accounts(lt_venues)["lighter1"]

    async def scenario() -> list[dict[str, Any]]:
        exchange = lighter_client(lt_venues, account)
        try:
            await exchange.load_markets()
            first = asyncio.create_task(exchange.watch_my_trades())
            await until(lt_venues, lighter_subscribed(lt_venues, f"account_all_trades:{account.account_index}"))
            async with signer(account) as client:
                _, ask = await best_prices(client)
                assert_accepted(await client.create_market_order(LT_ETH, 31, 1000, ask + 1000, False))
            return await asyncio.wait_for(first, BOUND)
        finally:
            with contextlib.suppress(Exception):
                await exchange.close()

    (trade,) = asyncio.run(scenario())
    assert (trade["symbol"], trade["side"], trade["takerOrMaker"]) == ("ETH/USDC:USDC", "buy", "taker")
    assert Decimal(str(trade["amount"])) == Decimal("0.1")
    assert trade["info"]["bid_account_id"] == account.account_index and trade["info"]["bid_client_id"] == 31


def lighter_account_for_ccxt(venues: ThreadedPaperVenues) -> PaperLighterAccount:
    """A funded paper account whose API key has index 4: ccxt uses API key indexes 4 to 254 only (it replaces any
    lower index with 254), and the paper venue's default accounts use index 3."""
    venue = venues.venues.venue("lighter")
    created = venues.call_sync(lambda: venue.create_account("ccxt", api_key_index=4))
    return PaperLighterAccount(venue.url, created.name, created.account_index, created.api_key_index,
                               created.api_private_key)


def lighter_signing_library() -> str:
    """The path of Lighter's signing library that lighter-sdk ships for this machine: ccxt mints Lighter's auth
    token with it and takes its path as an option."""
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    name = {"Linux": f"lighter-signer-linux-{machine}.so", "Darwin": f"lighter-signer-darwin-{machine}.dylib",
            "Windows": f"lighter-signer-windows-{machine}.dll"}[platform.system()]
    return os.path.join(os.path.dirname(lighter.__file__), "signers", name)


def test_ccxt_lighter_watch_orders_authenticates_and_reads_the_filled_order(lt_venues: ThreadedPaperVenues) -> None:
    account = lighter_account_for_ccxt(lt_venues)

    async def scenario() -> list[dict[str, Any]]:
        # the API key's index and private key go where ccxt keeps them
        exchange = lighter_client(lt_venues, account, apiKeyIndex=account.api_key_index,
                                  libraryPath=lighter_signing_library(),
                                  auths={str(account.account_index): {str(account.api_key_index): {
                                      "lighterPrivateKey": account.api_private_key}}})
        try:
            await exchange.load_markets()
            first = asyncio.create_task(exchange.watch_orders())
            await until(lt_venues, lighter_subscribed(lt_venues, f"account_all_orders:{account.account_index}"))
            async with signer(account) as client:
                _, ask = await best_prices(client)
                assert_accepted(await client.create_market_order(LT_ETH, 41, 1000, ask + 1000, False))
            orders = await asyncio.wait_for(first, BOUND)
            if orders[-1]["status"] != "closed":
                orders = await watch_until(exchange.watch_orders, lambda orders: orders[-1]["status"] == "closed")
            return orders
        finally:
            with contextlib.suppress(Exception):
                await exchange.close()

    orders = asyncio.run(scenario())
    order = orders[-1]
    assert (order["symbol"], order["side"], order["status"]) == ("ETH/USDC:USDC", "buy", "closed")
    assert order["clientOrderId"] == "41" and Decimal(str(order["filled"])) == Decimal("0.1")


@pytest.fixture
def gr_venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["grvt"])


def grvt_client(venues: ThreadedPaperVenues) -> ccxt.pro.grvt:
    """ccxt's GRVT class holding a session of paper GRVT.

    ccxt signs in only by wallet (an EIP-712 signed ``auth/wallet/login``), then authorises its builder fee and reads
    the aggregated account summary; paper GRVT serves the API-key login alone (docs/venue-streams.md, section 5). So
    the session comes from the API-key login, handed to ccxt in the options where its sign-in keeps it, with the
    sign-in marked current and the builder fee and main account known, which makes ccxt skip those three calls.
    """
    section = venues.accounts_document()["grvt"]
    account = section["accounts"][0]
    login = httpx.post(section["url"] + "/auth/api_key/login", json={"api_key": account["api_key"]}, timeout=BOUND)
    assert login.status_code == 200
    main_account = login.headers["X-Grvt-Account-Id"]
    base = section["url"] + "/"
    return ccxt.pro.grvt({
        # paper GRVT does not serve full/v1/currency, which ccxt reads while loading markets
        "has": {"fetchCurrencies": False},
        "apiKey": account["api_key"],
        "privateKey": account["private_key"],
        "urls": {"api": {"privateEdge": base, "privateTrading": base, "publicMarket": base,
                         "ws": {"publicMarket": section["ws_url"], "privateTrading": section["ws_url"]}}},
        "options": {"accountId": account["sub_account_id"],
                    "AuthCookieValue": f"gravity={login.cookies['gravity']}", "AuthAccountId": main_account,
                    "signInExpiration": int(time.time() * 1000) + 3_600_000,
                    "approvedBuilderFee": True, "userMainAccountId": main_account},
    })


async def grvt_trade(venues: ThreadedPaperVenues, side: Side, size: str) -> str:
    """Trade through hedgectl's own connector (REST only); the venue's id of the order."""
    section = venues.accounts_document()["grvt"]
    account = section["accounts"][0]
    config = ConnectorConfig(name="grvt", venue="grvt", base_url=section["url"],
                             options={"chain_id": account["chain_id"], "sub_account_id": account["sub_account_id"],
                                      "streams": False},
                             secrets={"api_key": Secret(account["api_key"], source="paper"),
                                      "private_key": Secret(account["private_key"], source="paper")})
    async with GrvtConnector(config) as connector:
        handle = await connector.submit_market_order(GR_ETH, side, Decimal(size))
        snapshot = await handle.wait_final(5)
        assert snapshot.venue_order_id is not None
        return snapshot.venue_order_id


def grvt_subscribed(venues: ThreadedPaperVenues, stream: str) -> Callable[[], bool]:
    streams = venues.venues.venue("grvt").streams
    return lambda: any(name == stream for session in streams.sessions for (name, _) in session.subscriptions)


def test_ccxt_grvt_watch_orders_and_my_trades_read_the_fill_of_an_order_placed_by_hedgectl(
        gr_venues: ThreadedPaperVenues) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        exchange = grvt_client(gr_venues)
        try:
            await exchange.load_markets()
            orders_task = asyncio.create_task(exchange.watch_orders())
            trades_task = asyncio.create_task(exchange.watch_my_trades())
            await until(gr_venues, grvt_subscribed(gr_venues, "v1.order"))
            await until(gr_venues, grvt_subscribed(gr_venues, "v1.fill"))
            order_id = await grvt_trade(gr_venues, Side.SELL, "0.4")
            orders = await asyncio.wait_for(orders_task, BOUND)
            if orders[-1]["status"] != "closed":
                orders = await watch_until(exchange.watch_orders, lambda orders: orders[-1]["status"] == "closed")
            return orders, await asyncio.wait_for(trades_task, BOUND), order_id
        finally:
            with contextlib.suppress(Exception):
                await exchange.close()

    orders, trades, order_id = asyncio.run(scenario())
    order = orders[-1]
    assert (order["id"], order["symbol"], order["side"], order["status"]) == \
        (order_id, "ETH/USDT:USDT", "sell", "closed")
    assert Decimal(str(order["filled"])) == Decimal("0.4")
    (trade,) = trades
    assert (trade["order"], trade["side"], trade["symbol"]) == (order_id, "sell", "ETH/USDT:USDT")
    assert Decimal(str(trade["amount"])) == Decimal("0.4")
