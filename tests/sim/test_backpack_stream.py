"""Paper Backpack's account stream over loopback: a signed SUBSCRIBE (the key's Ed25519 signature of
``instruction=subscribe&timestamp=T&window=W``), the position snapshot, order events with the venue's keys after a
fill, refusals of bad signatures and unknown streams, and the stream faults."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from nacl.signing import SigningKey

from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.model.orders import Side
from hedgectl.sim.runner import ThreadedPaperVenues

ETH = "ETH_USDC_PERP"


@pytest.fixture
def venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["backpack"])


def signature(account: dict[str, str], *, timestamp: int | None = None, window: int = 5000,
              secret: str | None = None) -> list[str]:
    timestamp = int(time.time() * 1000) if timestamp is None else timestamp
    key = SigningKey(base64.b64decode(secret or account["api_secret"]))
    signed = key.sign(f"instruction=subscribe&timestamp={timestamp}&window={window}".encode()).signature
    return [account["api_key"], base64.b64encode(signed).decode(), str(timestamp), str(window)]


async def trade(venues: ThreadedPaperVenues, side: Side, size: str) -> None:
    section = venues.accounts_document()["backpack"]
    account = section["accounts"][0]
    config = ConnectorConfig(name="backpack", venue="backpack", base_url=section["url"], options={"window_ms": 5000},
                             secrets={"api_key": Secret(account["api_key"], source="paper"),
                                      "api_secret": Secret(account["api_secret"], source="paper")})
    async with BackpackConnector(config) as connector:
        handle = await connector.submit_market_order(ETH, side, Decimal(size))
        await handle.wait_final(5)


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return json.loads((await ws.receive(timeout=10)).data)


async def frames_until(ws: aiohttp.ClientWebSocketResponse, done) -> list[dict[str, Any]]:
    seen = []
    for _ in range(50):
        seen.append(await receive(ws))
        if done(seen[-1]):
            return seen
    raise AssertionError(seen)


def test_signed_subscribe_pushes_the_fill_as_order_events_and_the_new_position(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["backpack"]

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(section["ws_url"]) as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["account.orderUpdate", "account.positionUpdate"],
                                "signature": signature(section["accounts"][0])})
            await trade(venues, Side.BUY, "0.3")
            return await frames_until(ws, lambda frame: frame["stream"] == "account.positionUpdate")

    frames = asyncio.run(scenario())
    events = [frame["data"] for frame in frames if frame["stream"] == "account.orderUpdate"]
    assert [event["e"] for event in events] == ["orderAccepted", "orderFill"]
    fill = events[-1]
    assert (fill["S"], fill["o"], fill["X"], fill["l"], fill["z"], fill["O"]) == \
        ("Bid", "MARKET", "Filled", "0.3", "0.3", "USER")
    assert isinstance(fill["c"], int) and fill["i"] == events[0]["i"]
    position = frames[-1]["data"]
    assert (position["e"], position["s"], position["q"]) == ("positionOpened", ETH, "0.3")


def test_subscribe_answers_the_open_positions_as_a_snapshot_without_an_event_type(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["backpack"]

    async def scenario() -> dict[str, Any]:
        await trade(venues, Side.SELL, "0.2")
        async with aiohttp.ClientSession() as session, session.ws_connect(section["ws_url"]) as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": [f"account.positionUpdate.{ETH}"],
                                "signature": signature(section["accounts"][0])})
            return await receive(ws)

    frame = asyncio.run(scenario())
    assert frame["stream"] == f"account.positionUpdate.{ETH}"
    assert "e" not in frame["data"] and frame["data"]["q"] == "-0.2"


@pytest.mark.parametrize("problem", ["other key", "expired", "unknown stream", "no signature"])
def test_bad_subscriptions_are_refused_with_an_error_frame(venues: ThreadedPaperVenues, problem: str):
    section = venues.accounts_document()["backpack"]
    account = section["accounts"][0]
    frames = {
        "other key": {"method": "SUBSCRIBE", "params": ["account.orderUpdate"],
                      "signature": signature(account, secret=base64.b64encode(bytes(32)).decode())},
        "expired": {"method": "SUBSCRIBE", "params": ["account.orderUpdate"],
                    "signature": signature(account, timestamp=int(time.time() * 1000) - 60_000)},
        "unknown stream": {"method": "SUBSCRIBE", "params": ["account.everything"],
                           "signature": signature(account)},
        "no signature": {"method": "SUBSCRIBE", "params": ["account.orderUpdate"]},
    }

    async def scenario() -> tuple[dict[str, Any], list[str]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(section["ws_url"]) as ws:
            await ws.send_json(frames[problem])
            answer = await receive(ws)
            await trade(venues, Side.BUY, "0.1")
            quiet = []
            try:
                quiet.append((await ws.receive(timeout=0.5)).data)
            except TimeoutError:
                pass
            return answer, quiet

    answer, quiet = asyncio.run(scenario())
    assert answer["id"] is None and answer["error"]["code"] in (4005, 4006)
    assert quiet == []  # nothing of the account reaches a refused subscriber


def test_missed_and_duplicated_pushes(venues: ThreadedPaperVenues):
    section = venues.accounts_document()["backpack"]

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(section["ws_url"]) as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["account.orderUpdate"],
                                "signature": signature(section["accounts"][0])})
            venues.arm("backpack", "stream_miss", count=2)
            await trade(venues, Side.BUY, "0.1")
            venues.arm("backpack", "stream_duplicate", count=2)
            await trade(venues, Side.BUY, "0.1")
            return [await receive(ws) for _ in range(4)]

    frames = asyncio.run(scenario())
    kinds = [frame["data"]["e"] for frame in frames]
    assert kinds == ["orderAccepted", "orderAccepted", "orderFill", "orderFill"]
    assert frames[0] == frames[1] and frames[2] == frames[3]


def test_sim_fault_arms_the_stream_faults_on_every_venue_that_serves_streams(paper_venues_factory, cli):
    venues = paper_venues_factory(kinds=["backpack", "lighter", "grvt"])
    stall = cli("sim", "fault", "lighter", "stream_stall", "--seconds", "2", "--account", "lighter1",
                "--url", venues.url("lighter"))
    miss = cli("sim", "fault", "backpack", "stream_miss", "--url", venues.url("backpack"))
    grvt = cli("sim", "fault", "grvt", "stream_duplicate", "--count", "3", "--url", venues.url("grvt"))
    assert stall.exit_code == 0 and miss.exit_code == 0 and grvt.exit_code == 0, (stall.output, miss.output,
                                                                                  grvt.output)
    [armed] = venues.state("backpack")["faults"]
    assert (armed["kind"], armed["count"]) == ("stream_miss", 1)
    [armed] = venues.state("grvt")["faults"]
    assert (armed["kind"], armed["count"]) == ("stream_duplicate", 3)
