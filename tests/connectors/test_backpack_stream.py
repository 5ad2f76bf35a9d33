"""The Backpack connector's account stream against paper Backpack's stream over loopback: a resting order's fill
confirmed by push while the venue's history still lags, positions by push rebased on the REST reading, a refused
stream that leaves the REST path alone, and hostile frames that change nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgectl.model.orders import OrderState, Side

from .conftest import ETH, PaperBackpack

LAG_MS = 600_000


async def stream_up(connector: Any) -> None:
    connector.open_stream()
    while not connector.streaming:
        connector.stream.changed.clear()
        await connector.stream.changed.wait()


def test_resting_order_filled_by_a_market_move_is_confirmed_by_push_while_history_lags(
        paper_backpack: PaperBackpack):
    async def scenario(connector):
        connector.resting_poll_secs = 600  # the REST reads alone would not look again within this test
        await connector.prepare(ETH)
        await stream_up(connector)
        book = await connector.top_of_book(ETH)
        price = (book.bid * Decimal("0.99")).quantize(Decimal("0.01"))
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.2"), price)
        paper_backpack.arm("lag", account="backpack", ms=LAG_MS)
        paper_backpack.arm("price_move", percent=-5)
        return await handle.wait_final(10)

    snapshot = paper_backpack.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    assert paper_backpack.signed_size() == Decimal("0.2")


def test_stream_positions_follow_a_fill_from_the_rest_reading(paper_backpack: PaperBackpack):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        before = dict(connector.stream.positions)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.3"))
        await handle.wait_final(5)
        while connector.stream.positions.get(ETH) != Decimal("-0.3"):
            connector.stream.changed.clear()
            await connector.stream.changed.wait()
        return before, connector.stream.positions[ETH]

    before, after = paper_backpack.run(scenario)
    assert before.get(ETH, Decimal(0)) == 0 and after == Decimal("-0.3")


def test_without_streams_no_stream_is_opened_and_orders_still_confirm(paper_backpack: PaperBackpack):
    async def scenario(connector):
        connector.streams_enabled = False
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return await handle.wait_final(5), connector.stream

    snapshot, stream = paper_backpack.run(scenario)
    assert stream is None and snapshot.state is OrderState.FILLED


def test_hostile_frames_change_nothing(paper_backpack: PaperBackpack):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        stream = connector.stream
        positions = dict(stream.positions)
        for frame in [
            {"stream": "account.orderUpdate", "data": "x"},
            {"stream": "account.orderUpdate", "data": {"e": "orderFill", "X": "Filled", "s": ETH, "c": 1,
                                                       "S": "Bid", "q": "1", "z": "NaN", "Z": "1"}},
            {"stream": "account.orderUpdate", "data": {"e": "orderFill", "X": "Filled", "s": ETH, "c": 1,
                                                       "S": "Bid", "q": "1", "z": "9" * 100, "Z": "1"}},
            {"stream": "account.positionUpdate", "data": {"s": ETH, "q": "Infinity"}},
            {"stream": "account.positionUpdate", "data": {"s": ETH, "q": {"a": 1}}},
            {"stream": ["x"], "data": {}},
            {"id": None, "error": {"code": 4006, "message": "\x1b[31mred"}},
        ]:
            await stream.handle(frame)
        return positions, dict(stream.positions), stream.up

    before, after, up = paper_backpack.run(scenario)
    assert before == after and up
