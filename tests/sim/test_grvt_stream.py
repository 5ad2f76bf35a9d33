"""Paper GRVT's account streams over loopback: the upgrade authenticated by the login's session cookie, JSON-RPC
subscribe answered with the snapshot counts and first sequence numbers, the position snapshot at sequence 0, order,
fill and position feeds numbered +1 per stream and selector after a fill, refusals without a session or for another
sub-account, and the stream faults (a missed push leaves a gap in the numbers, a duplicate repeats one)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import httpx
import pytest

from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.model.orders import Side
from hedgectl.sim.runner import ThreadedPaperVenues

ETH = "ETH_USDT_Perp"


@pytest.fixture
def venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["grvt"])


def login(section: dict[str, Any]) -> dict[str, str]:
    """The upgrade headers a logged-in client sends: the session cookie and the account id."""
    response = httpx.post(section["url"] + "/auth/api_key/login", json={"api_key": section["accounts"][0]["api_key"]})
    assert response.status_code == 200
    return {"Cookie": f"gravity={response.cookies['gravity']}",
            "X-Grvt-Account-Id": response.headers["X-Grvt-Account-Id"]}


async def trade(section: dict[str, Any], side: Side, size: str) -> None:
    account = section["accounts"][0]
    config = ConnectorConfig(name="grvt", venue="grvt", base_url=section["url"],
                             options={"chain_id": account["chain_id"], "sub_account_id": account["sub_account_id"],
                                      "streams": False},
                             secrets={"api_key": Secret(account["api_key"], source="paper"),
                                      "private_key": Secret(account["private_key"], source="paper")})
    async with GrvtConnector(config) as connector:
        handle = await connector.submit_market_order(ETH, side, Decimal(size))
        await handle.wait_final(5)


def subscribe(stream: str, selector: str, request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "subscribe", "params": {"stream": stream, "selectors": [selector]},
            "id": request_id}


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return json.loads((await ws.receive(timeout=10)).data)


async def frames_until(ws: aiohttp.ClientWebSocketResponse, done) -> list[dict[str, Any]]:
    seen = []
    for _ in range(50):
        seen.append(await receive(ws))
        if done(seen):
            return seen
    raise AssertionError(seen)


def test_subscribe_with_the_session_cookie_pushes_order_fill_and_position_feeds_numbered_by_one(
        venues: ThreadedPaperVenues):
    section = venues.accounts_document()["grvt"]
    sub = str(section["accounts"][0]["sub_account_id"])

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(section["ws_url"], headers=login(section)) as ws:
            for request_id, stream in enumerate(("v1.order", "v1.fill", "v1.position"), start=1):
                await ws.send_json(subscribe(stream, sub, request_id))
            answers = [await receive(ws) for _ in range(3)]
            await trade(section, Side.BUY, "0.5")
            feeds = await frames_until(ws, lambda seen: {"v1.order", "v1.fill", "v1.position"}
                                       <= {frame["stream"] for frame in seen})
            return answers, feeds

    answers, feeds = asyncio.run(scenario())
    assert section["ws_url"].endswith("/ws/full")
    assert [(a["id"], a["result"]["stream"], a["result"]["subs"]) for a in answers] == [
        (1, "v1.order", [sub]), (2, "v1.fill", [sub]), (3, "v1.position", [sub])]
    assert all(a["result"]["first_sequence_number"] == ["1"] and a["result"]["num_snapshots"] == [0]
               for a in answers)
    by_stream = {frame["stream"]: frame for frame in reversed(feeds)}
    assert all(frame["selector"] == sub and frame["sequence_number"] == "1" and frame["prev_sequence_number"] == "0"
               for frame in by_stream.values())
    order, fill, position = by_stream["v1.order"]["feed"], by_stream["v1.fill"]["feed"], by_stream["v1.position"]["feed"]
    assert order["state"]["status"] == "FILLED" and order["state"]["traded_size"] == ["0.5"]
    assert order["sub_account_id"] == sub and order["legs"][0]["instrument"] == ETH
    assert fill["size"] == "0.5" and fill["is_buyer"] is True and fill["is_liquidation"] is False
    assert fill["client_order_id"] == order["metadata"]["client_order_id"]
    assert Decimal(position["size"]) == Decimal("0.5")


def test_position_snapshot_comes_at_sequence_zero_on_an_instrument_selector(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["grvt"]
    sub = str(section["accounts"][0]["sub_account_id"])

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        await trade(section, Side.SELL, "0.3")
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(section["ws_url"], headers=login(section)) as ws:
            await ws.send_json(subscribe("v1.position", f"{sub}-{ETH}"))
            return await receive(ws), await receive(ws)

    answer, snapshot = asyncio.run(scenario())
    assert answer["result"]["num_snapshots"] == [1]
    assert (snapshot["selector"], snapshot["sequence_number"]) == (f"{sub}-{ETH}", "0")
    assert Decimal(snapshot["feed"]["size"]) == Decimal("-0.3")


def test_private_streams_need_the_session_and_the_own_sub_account(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["grvt"]
    sub = str(section["accounts"][0]["sub_account_id"])

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(section["ws_url"]) as ws:
                await ws.send_json(subscribe("v1.fill", sub))
                anonymous = await receive(ws)
            async with session.ws_connect(section["ws_url"], headers=login(section)) as ws:
                await ws.send_json(subscribe("v1.fill", "1234", 2))
                other = await receive(ws)
                await ws.send_json(subscribe("v1.fill", f"{sub}-DOGE_USDT_Perp", 3))
                instrument = await receive(ws)
                await ws.send_str("[1, 2")
                garbled = await receive(ws)
            return [anonymous, other, instrument, garbled]

    frames = asyncio.run(scenario())
    assert [frame["error"]["code"] for frame in frames] == [1000, 1001, 3000, 1003]
    assert [frame["id"] for frame in frames[:3]] == [1, 2, 3]


def test_a_missed_push_leaves_a_gap_in_the_numbers_and_a_duplicate_repeats_one(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["grvt"]
    sub = str(section["accounts"][0]["sub_account_id"])

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(section["ws_url"], headers=login(section)) as ws:
            await ws.send_json(subscribe("v1.fill", sub))
            await receive(ws)
            venues.arm("grvt", "stream_miss", count=1)
            await trade(section, Side.BUY, "0.1")
            venues.arm("grvt", "stream_duplicate", count=1)
            await trade(section, Side.BUY, "0.1")
            return [await receive(ws) for _ in range(2)]

    frames = asyncio.run(scenario())
    assert [(f["sequence_number"], f["prev_sequence_number"]) for f in frames] == [("2", "1"), ("2", "1")]
    assert frames[0] == frames[1]


def test_stream_disconnect_closes_the_session_with_going_away(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["grvt"]
    sub = str(section["accounts"][0]["sub_account_id"])

    async def scenario() -> tuple[Any, int | None]:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(section["ws_url"], headers=login(section)) as ws:
            await ws.send_json(subscribe("v1.fill", sub))
            await receive(ws)
            venues.arm("grvt", "stream_disconnect", account="grvt")
            message = await ws.receive(timeout=10)
            return message.type, ws.close_code

    kind, code = asyncio.run(scenario())
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and code == 1001


def test_state_stream_pushes_the_order_state_alone_and_unsubscribe_stops_it(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["grvt"]
    sub = str(section["accounts"][0]["sub_account_id"])

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(section["ws_url"], headers=login(section)) as ws:
            await ws.send_json(subscribe("v1.state", f"{sub}-{ETH}"))
            await ws.send_json(subscribe("v1.fill", sub, 2))
            await receive(ws), await receive(ws)
            await trade(section, Side.SELL, "0.2")
            state = (await frames_until(ws, lambda seen: seen[-1].get("stream") == "v1.state"))[-1]
            await ws.send_json({"jsonrpc": "2.0", "method": "unsubscribe", "id": 3,
                                "params": {"stream": "v1.state", "selectors": [f"{sub}-{ETH}"]}})
            unsubscribed = await frames_until(ws, lambda seen: seen[-1].get("id") == 3)
            await trade(section, Side.BUY, "0.2")
            after = await frames_until(ws, lambda seen: seen[-1].get("stream") == "v1.fill")
            return state, unsubscribed[-1], after

    state, unsubscribed, after = asyncio.run(scenario())
    assert state["selector"] == f"{sub}-{ETH}" and state["sequence_number"] == "1"
    assert set(state["feed"]) == {"order_id", "client_order_id", "order_state"}
    assert state["feed"]["order_state"]["status"] == "FILLED"
    assert unsubscribed["result"] == {"stream": "v1.state", "unsubs": [f"{sub}-{ETH}"]}
    assert [frame for frame in after if frame.get("stream") == "v1.state"] == []
