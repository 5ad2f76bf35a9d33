"""The Lighter connector's account stream against paper Lighter's stream over loopback: a fill confirmed by push
while the venue's REST records still lag, duplicates and a reconnect that confirm the same fill, a missed push and
a stall caught by the REST reads, the stream's positions, a refused stream that degrades to REST (logged once), and
hostile frames that change nothing."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from hedgectl.connectors.lighter.stream import LighterAccountStream
from hedgectl.model.orders import OrderEvent, OrderState, OrderTracker, Side

from .lighter_support import ETH, PaperLighter, paper_lighter  # noqa: F401

#: longer than any test runs: while armed, the venue's order, trade and transaction listings show nothing new
LAG_MS = 600_000


async def stream_up(connector: Any) -> None:
    """Wait (by events, not by time) until the connector's stream is connected, subscribed and reconciled."""
    connector.open_stream()
    while not connector.streaming:
        connector.stream.changed.clear()
        await connector.stream.changed.wait()


def test_fill_is_confirmed_by_push_while_the_rest_records_still_lag(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_lighter.arm("lag", account="lighter1", ms=LAG_MS)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)
    [order] = paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    assert snapshot.average_price == Decimal(order["filled_quote_amount"]) / Decimal("0.2")
    assert paper_lighter.signed_size() == Decimal("0.2")


def test_a_push_ends_the_confirmation_while_its_rest_read_is_still_in_flight(paper_lighter: PaperLighter, caplog):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        # the order's REST read outlasts the test; the push leaves late enough that the read is already out
        paper_lighter.arm("latency", account="lighter1", ms=LAG_MS, path="/api/v1/accountOrders")
        paper_lighter.arm("stream_delay", account="lighter1", ms=500, count=10)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        snapshot = await handle.wait_final(60)
        await asyncio.wait({handle.task}, timeout=60)
        return snapshot, handle.task.done()

    with caplog.at_level(logging.INFO):
        snapshot, task_done = paper_lighter.run(scenario)
    [fault] = [f for f in paper_lighter.state()["faults"] if f["kind"] == "latency"]
    assert fault["used"] >= 1  # a REST read of the order was held at the venue
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    assert task_done
    # the held read was abandoned at the push, not waited for until it timed out
    assert not [record for record in caplog.records if "confirming order" in record.getMessage()]


def test_without_streams_the_same_lag_leaves_the_fill_unconfirmed(paper_lighter: PaperLighter):
    async def scenario(connector):
        connector.streams_enabled = False
        await connector.prepare(ETH)
        paper_lighter.arm("lag", account="lighter1", ms=LAG_MS)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        snapshot = await handle.wait_final(0.5)
        return snapshot, connector.stream

    snapshot, stream = paper_lighter.run(scenario)
    assert stream is None
    assert snapshot.state is not OrderState.FILLED
    assert paper_lighter.signed_size() == Decimal("0.2")  # the venue filled it: only the push could have said so


def test_duplicated_pushes_confirm_the_fill_once(paper_lighter: PaperLighter):
    transitions: list = []

    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_lighter.arm("lag", account="lighter1", ms=LAG_MS)
        paper_lighter.arm("stream_duplicate", account="lighter1", count=10)
        handle = await connector.submit_market_order(
            ETH, Side.SELL, Decimal("0.3"),
            listeners=[lambda snapshot, transition: transitions.append(transition.to_state)])
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.3")
    assert transitions.count(OrderState.FILLED) == 1
    assert paper_lighter.audit() == []


def test_missed_fill_push_is_caught_by_the_rest_reads(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_lighter.arm("stream_miss", account="lighter1", count=1000)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)
    [fault] = [f for f in paper_lighter.state()["faults"] if f["kind"] == "stream_miss"]
    assert fault["used"] >= 1  # the venue did leave the push out
    [order] = paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal(order["filled_base_amount"])


def test_stalled_stream_ends_with_the_rest_answer(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_lighter.arm("stream_stall", account="lighter1", seconds=30)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.1")
    assert paper_lighter.signed_size() == Decimal("0.1")


def test_after_a_disconnect_the_resubscribed_snapshot_confirms_the_fill(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_lighter.arm("lag", account="lighter1", ms=LAG_MS)
        paper_lighter.arm("stream_miss", account="lighter1", count=1000)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.4"))
        while paper_lighter.signed_size() != Decimal("0.4"):  # the venue filled it; the push was left out
            await asyncio.sleep(0.01)
        paper_lighter.venues.clear("lighter", "stream_miss")
        paper_lighter.arm("stream_disconnect", account="lighter1")
        snapshot = await handle.wait_final(10)
        return snapshot, connector.stream.connects

    snapshot, connects = paper_lighter.run(scenario)
    assert connects >= 2
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.4")


def test_stream_positions_follow_the_fill_and_start_from_the_rest_reading(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        before = dict(connector.stream.positions)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.5"))
        await handle.wait_final(5)
        market = (await connector.market(ETH)).market_id
        while connector.stream.positions.get(market) != Decimal("-0.5"):
            connector.stream.changed.clear()
            await connector.stream.changed.wait()
        return before.get(market), connector.stream.positions[market]

    before, after = paper_lighter.run(scenario)
    assert before == Decimal("0") and after == Decimal("-0.5")


def test_a_stream_that_cannot_connect_degrades_to_rest_logged_once(paper_lighter: PaperLighter, caplog):
    async def scenario(connector):
        connector.ws_url = paper_lighter.url.replace("http", "ws") + "/no-stream-here"
        await connector.prepare(ETH)
        results = []
        for _ in range(3):
            handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
            results.append(await handle.wait_final(5))
        while not any("still down" in record.getMessage() for record in caplog.records):
            await asyncio.sleep(0.05)  # until a second failed attempt has been logged
        return results, connector.streaming

    with caplog.at_level(logging.DEBUG, logger="hedgectl.connectors.stream"):
        results, streaming = paper_lighter.run(scenario)
    assert not streaming
    assert all(snapshot.state is OrderState.FILLED for snapshot in results)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "stream down" in r.getMessage()]
    assert len(warnings) == 1


def test_hostile_frames_change_nothing_and_never_end_the_stream(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        stream: LighterAccountStream = connector.stream
        coi = 4242
        intent = await connector.build_intent(ETH, Side.BUY, Decimal("1"), client_order_index=coi)
        tracker = OrderTracker(intent)
        tracker.apply(OrderEvent.SUBMIT)
        connector.confirmations.watch(tracker)  # an order in flight the frames name
        own = f"account_all_orders:{connector.account_index}"
        hostile = [
            {"type": "update/account_all_orders", "channel": own, "orders": "x"},
            {"type": "update/account_all_orders", "channel": own, "orders": {"0": [None, 7, "a"]}},
            {"type": "update/account_all_orders", "channel": own,
             "orders": {"0": [{"client_order_index": coi, "market_index": 0, "filled_base_amount": "NaN",
                               "initial_base_amount": "1", "status": "filled", "is_ask": False}]}},
            {"type": "update/account_all_orders", "channel": own,
             "orders": {"0": [{"client_order_index": coi, "market_index": 0, "filled_base_amount": "5",
                               "initial_base_amount": "1", "status": "filled", "is_ask": False}]}},
            {"type": "update/account_all_orders", "channel": "account_all_orders:1",
             "orders": {"0": [{"client_order_index": coi, "market_index": 0, "filled_base_amount": "1",
                               "initial_base_amount": "1", "status": "filled", "is_ask": False}]}},
            {"type": "update/account_all_positions", "channel": f"account_all_positions:{connector.account_index}",
             "positions": {"0": {"market_id": 0, "sign": 7, "position": "1e999"}}},
            {"error": ["not", "a", "dict"]},
            {"type": ["odd"]},
        ]
        for frame in hostile:
            await stream.handle(frame)
        return tracker.snapshot(), dict(stream.positions), stream.up

    snapshot, positions, up = paper_lighter.run(scenario)
    assert snapshot.state is OrderState.SUBMITTING and snapshot.filled_size == 0
    assert positions and all(size == 0 for size in positions.values())
    assert up
