"""Paper Lighter's account stream over loopback: lighter-sdk's own WsClient subscribes to it, private channels need
the auth token, fills are pushed as the venue's order, trade and position frames, and the stream faults act."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import lighter

from hedgectl.sim.runner import ThreadedPaperVenues

from .support import ETH, PaperLighterAccount, assert_accepted, auth_token, best_prices, run, signer


def ws_url(venues: ThreadedPaperVenues) -> str:
    return venues.accounts_document()["lighter"]["ws_url"]


async def frames_until(ws: aiohttp.ClientWebSocketResponse, wanted: str, limit: int = 50) -> list[dict[str, Any]]:
    """The frames received up to and including the first of type ``wanted``."""
    seen = []
    for _ in range(limit):
        frame = json.loads((await ws.receive(timeout=10)).data)
        seen.append(frame)
        if frame.get("type") == wanted:
            return seen
    raise AssertionError(f"no {wanted} frame in {seen}")


def test_lighter_sdk_ws_client_subscribes_and_reads_the_account_after_a_fill(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    updates: list[tuple[str, dict[str, Any]]] = []

    async def scenario() -> None:
        client_ws = lighter.WsClient(ws_url=ws_url(venues), account_ids=[lighter1.account_index],
                                     on_account_update=lambda account, state: updates.append((account, state)))
        task = asyncio.create_task(client_ws.run_async())
        try:
            for _ in range(500):
                if updates:
                    break
                await asyncio.sleep(0.01)
            async with signer(lighter1) as client:
                _, ask = await best_prices(client)
                assert_accepted(await client.create_market_order(ETH, 21, 1000, ask + 1000, False))
            for _ in range(500):
                if len(updates) > 1:
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    run(scenario())
    (account, snapshot), (_, update) = updates[0], updates[1]
    assert account == str(lighter1.account_index)
    assert snapshot["type"] == "subscribed/account_all" and snapshot["positions"] == {}
    assert update["type"] == "update/account_all"
    assert update["positions"]["0"]["position"] == "0.1000" and update["positions"]["0"]["sign"] == 1
    trade = update["trades"]["0"][0]
    assert (trade["bid_client_id"], trade["size"]) == (21, "0.1000")


def test_private_channel_without_auth_is_refused_and_with_auth_pushes_the_filled_order(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(venues)) as ws, \
                signer(lighter1) as client:
            await frames_until(ws, "connected")
            channel = f"account_all_orders/{lighter1.account_index}"
            await ws.send_json({"type": "subscribe", "channel": channel})
            refused = json.loads((await ws.receive(timeout=10)).data)
            await ws.send_json({"type": "subscribe", "channel": channel, "auth": auth_token(client, lighter1)})
            await frames_until(ws, "subscribed/account_all_orders")
            _, ask = await best_prices(client)
            assert_accepted(await client.create_market_order(ETH, 22, 1000, ask + 1000, False))
            pushed = await frames_until(ws, "update/account_all_orders")
            return [refused], pushed

    (refused,), pushed = run(scenario())
    assert refused["error"]["message"] == "auth token is required"
    update = pushed[-1]
    assert update["channel"] == f"account_all_orders:{lighter1.account_index}"
    (order,) = update["orders"]["0"]
    assert (order["client_order_index"], order["status"], order["filled_base_amount"]) == (22, "filled", "0.1000")


def test_ping_is_answered_and_bad_frames_get_error_frames_without_closing(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(venues)) as ws:
            await frames_until(ws, "connected")
            answers = []
            for text in ("not json", json.dumps({"type": "dance"}), json.dumps({"type": "subscribe",
                                                                                 "channel": "account_all/x" * 50})):
                await ws.send_str(text)
                answers.append(json.loads((await ws.receive(timeout=10)).data))
            await ws.send_json({"type": "ping"})
            answers.append(json.loads((await ws.receive(timeout=10)).data))
            return answers

    answers = run(scenario())
    assert [answer.get("error", {}).get("code") for answer in answers[:3]] == [30000, 30001, 30005]
    assert answers[3] == {"type": "pong"}


def test_missed_push_is_never_sent_and_a_duplicate_is_sent_twice(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(venues)) as ws, \
                signer(lighter1) as client:
            await frames_until(ws, "connected")
            await ws.send_json({"type": "subscribe", "channel": f"account_all_trades/{lighter1.account_index}"})
            await frames_until(ws, "subscribed/account_all_trades")
            venues.arm("lighter", "stream_miss", account="lighter1")
            _, ask = await best_prices(client)
            assert_accepted(await client.create_market_order(ETH, 23, 1000, ask + 1000, False))
            venues.arm("lighter", "stream_duplicate", account="lighter1")
            assert_accepted(await client.create_market_order(ETH, 24, 1000, ask + 1000, False))
            first = await frames_until(ws, "update/account_all_trades")
            second = await frames_until(ws, "update/account_all_trades")
            return [first[-1], second[-1]]

    first, second = run(scenario())
    assert first == second
    assert [trade["bid_client_id"] for trade in first["trades"]["0"]] == [24]


def test_disconnect_fault_closes_the_stream(venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    async def scenario() -> aiohttp.WSMsgType:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(venues)) as ws:
            await frames_until(ws, "connected")
            await ws.send_json({"type": "subscribe", "channel": f"account_all/{lighter1.account_index}"})
            await frames_until(ws, "subscribed/account_all")
            venues.arm("lighter", "stream_disconnect", account="lighter1")
            return (await ws.receive(timeout=10)).type

    assert run(scenario()) in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
