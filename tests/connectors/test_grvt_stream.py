"""The GRVT connector's account stream against paper GRVT's stream over loopback: a fill confirmed by push while the
REST reads would not look again within the test, duplicates that confirm once, a missed order push found by the
sequence gap the next push shows and repaired by the REST reconciliation, stall and disconnect ending with the REST
answer, positions by push from the REST reading, a session the venue forgot (the stream logs in again), and hostile
frames that change nothing."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from hedgectl.connectors.grvt.stream import GrvtAccountStream
from hedgectl.model.orders import OrderEvent, OrderState, OrderTracker, Side

from .grvt_support import ETH, PaperGrvt, paper_grvt  # noqa: F401

#: longer than any test runs: the order's REST reads do not look again within it
NO_POLL_SECS = 600.0


async def stream_up(connector: Any) -> None:
    """Wait (by events, not by time) until the connector's stream is connected, subscribed and reconciled."""
    connector.open_stream()
    while not connector.streaming:
        connector.stream.changed.clear()
        await connector.stream.changed.wait()


def without_polls(connector: Any) -> None:
    connector.poll_first_secs = connector.poll_max_secs = NO_POLL_SECS


def test_fill_is_confirmed_by_push_when_the_rest_reads_would_not_look_again(paper_grvt: PaperGrvt):
    async def scenario(connector):
        without_polls(connector)
        await connector.prepare(ETH)
        await stream_up(connector)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        return await handle.wait_final(5)

    snapshot = paper_grvt.run(scenario)
    [order] = paper_grvt.orders(snapshot.intent.client_order_index)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    engine_average = Decimal(order["executed_quote"]) / Decimal(order["executed_quantity"])
    assert Decimal(order["executed_quantity"]) == Decimal("0.2")
    assert abs(snapshot.average_price - engine_average) < Decimal("0.01")  # the venue shows it to its tick
    assert paper_grvt.signed_size() == Decimal("0.2")


def test_without_streams_the_same_order_stays_unconfirmed(paper_grvt: PaperGrvt):
    async def scenario(connector):
        without_polls(connector)
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        return await handle.wait_final(0.5), connector.stream

    snapshot, stream = paper_grvt.run(scenario, streams=False)
    assert stream is None
    assert snapshot.state is not OrderState.FILLED
    assert paper_grvt.signed_size() == Decimal("0.2")  # the venue filled it: only the push could have said so


def test_duplicated_pushes_confirm_the_fill_once(paper_grvt: PaperGrvt):
    transitions: list = []

    async def scenario(connector):
        without_polls(connector)
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_grvt.arm("stream_duplicate", account="grvt", count=10)
        handle = await connector.submit_market_order(
            ETH, Side.SELL, Decimal("0.3"),
            listeners=[lambda snapshot, transition: transitions.append(transition.to_state)])
        return await handle.wait_final(5)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.3")
    assert transitions.count(OrderState.FILLED) == 1
    assert paper_grvt.audit() == []


def test_a_missed_order_push_is_found_by_the_next_sequence_number_and_repaired_by_reconciliation(
        paper_grvt: PaperGrvt):
    async def scenario(connector):
        without_polls(connector)
        await connector.prepare(ETH)
        await stream_up(connector)
        reconciled = connector.stream.reconciliations
        paper_grvt.arm("stream_miss", account="grvt", count=1)  # the first push: the first order's update
        first = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        while paper_grvt.venues.state("grvt")["faults"]:
            await asyncio.sleep(0.01)  # until the venue has left the push out
        unconfirmed = first.tracker.snapshot().state
        second = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        results = await first.wait_final(10), await second.wait_final(10)
        return unconfirmed, results, connector.stream.gaps, connector.stream.reconciliations - reconciled

    unconfirmed, (first, second), gaps, reconciliations = paper_grvt.run(scenario)
    assert unconfirmed is not OrderState.FILLED
    assert gaps >= 1 and reconciliations >= 1
    assert first.state is OrderState.FILLED and first.filled_size == Decimal("0.1")
    assert second.state is OrderState.FILLED and second.filled_size == Decimal("0.1")


def test_stalled_stream_ends_with_the_rest_answer(paper_grvt: PaperGrvt):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_grvt.arm("stream_stall", account="grvt", seconds=30)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return await handle.wait_final(5)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.1")
    assert paper_grvt.signed_size() == Decimal("0.1")


def test_after_a_disconnect_the_stream_resubscribes_and_confirms_the_next_fill_by_push(paper_grvt: PaperGrvt):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_grvt.arm("stream_disconnect", account="grvt")
        while connector.stream.connects < 2 or not connector.streaming:
            connector.stream.changed.clear()
            await connector.stream.changed.wait()
        without_polls(connector)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.4"))
        return await handle.wait_final(10)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.4")


def test_a_session_the_venue_forgot_is_renewed_by_logging_in_again(paper_grvt: PaperGrvt):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        paper_grvt.engine(paper_grvt.venue.expire_sessions)
        paper_grvt.arm("stream_disconnect", account="grvt")
        while connector.stream.connects < 2 or not connector.streaming:
            connector.stream.changed.clear()
            await connector.stream.changed.wait()
        without_polls(connector)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.1"))
        return await handle.wait_final(10)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.1")


def test_stream_positions_follow_the_fill_and_start_from_the_rest_reading(paper_grvt: PaperGrvt):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        before = dict(connector.stream.positions)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.5"))
        await handle.wait_final(5)
        while connector.stream.positions.get(ETH) != Decimal("-0.5"):
            connector.stream.changed.clear()
            await connector.stream.changed.wait()
        return before.get(ETH, Decimal(0)), connector.stream.positions[ETH]

    before, after = paper_grvt.run(scenario)
    assert before == 0 and after == Decimal("-0.5")


def test_a_stream_that_cannot_connect_degrades_to_rest_logged_once(paper_grvt: PaperGrvt, caplog):
    async def scenario(connector):
        connector.ws_url = paper_grvt.url.replace("http", "ws") + "/no-stream-here"
        await connector.prepare(ETH)
        results = []
        for _ in range(3):
            handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
            results.append(await handle.wait_final(5))
        while not any("still down" in record.getMessage() for record in caplog.records):
            await asyncio.sleep(0.05)  # until a second failed attempt has been logged
        return results, connector.streaming

    with caplog.at_level(logging.DEBUG, logger="hedgectl.connectors.stream"):
        results, streaming = paper_grvt.run(scenario)
    assert not streaming
    assert all(snapshot.state is OrderState.FILLED for snapshot in results)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "stream down" in r.getMessage()]
    assert len(warnings) == 1


def test_hostile_frames_change_nothing_and_never_end_the_stream(paper_grvt: PaperGrvt):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        stream: GrvtAccountStream = connector.stream
        sub = str(stream.sub_account_id)
        coi = 2**63 + 4242
        intent = await connector.build_intent(ETH, Side.BUY, Decimal("1"), client_order_index=coi)
        tracker = OrderTracker(intent)
        tracker.apply(OrderEvent.SUBMIT)
        connector.confirmations.watch(tracker)  # an order in flight the frames name

        def order(**changes: Any) -> dict[str, Any]:
            document = {"order_id": "0x01", "sub_account_id": sub, "is_market": True,
                        "legs": [{"instrument": ETH, "size": "1", "is_buying_asset": True}],
                        "metadata": {"client_order_id": str(coi)},
                        "state": {"status": "FILLED", "reject_reason": "UNSPECIFIED", "traded_size": ["1"],
                                  "avg_fill_price": ["2000"]}}
            document.update(changes)
            return document

        def frame(stream_name: str, feed: Any, sequence: Any = "0") -> dict[str, Any]:
            return {"stream": stream_name, "selector": sub, "sequence_number": sequence, "feed": feed,
                    "prev_sequence_number": "0"}

        hostile = [
            frame("v1.order", "x"),
            frame("v1.order", order(sub_account_id="1")),  # another sub-account's order
            frame("v1.order", order(state={"status": "FILLED", "traded_size": ["NaN"]})),
            frame("v1.order", order(state={"status": "FILLED", "traded_size": ["5"]})),  # more than the order
            frame("v1.order", order(state={"status": "EXPLODED", "traded_size": ["1"]})),
            frame("v1.order", order(legs=[{"instrument": "x" * 10_000, "size": "1", "is_buying_asset": True}])),
            frame("v1.order", order(state={"status": "FILLED", "traded_size": ["1" * 500]})),
            frame("v1.order", order(), sequence="-3"),
            frame("v1.order", order(), sequence=True),
            frame("v1.order", order(), sequence="9" * 100),
            frame("v1.position", {"sub_account_id": sub, "instrument": ETH, "size": "1e999"}),
            frame("v1.position", {"sub_account_id": sub, "instrument": ["odd"], "size": "1"}),
            frame("v1.fill", {"sub_account_id": sub, "instrument": ETH, "is_liquidation": "yes", "size": "1",
                              "price": "1"}),
            {"stream": ["odd"]},
            {"result": {"stream": "v1.order", "subs": "x", "first_sequence_number": None}},
            {"jsonrpc": "2.0", "method": "subscribe"},
        ]
        for hostile_frame in hostile:
            await stream.handle(hostile_frame)
        return tracker.snapshot(), dict(stream.positions), list(stream.liquidations), stream.up

    snapshot, positions, liquidations, up = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.SUBMITTING and snapshot.filled_size == 0
    assert all(size == 0 for size in positions.values())
    assert liquidations == []
    assert up


def test_a_liquidation_is_pushed_as_the_venues_liquidation_fill_and_the_flat_position(paper_grvt: PaperGrvt):
    async def scenario(connector):
        await connector.prepare(ETH)
        await stream_up(connector)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.5"))
        await handle.wait_final(5)
        paper_grvt.arm("liquidate", account="grvt")
        while not connector.stream.liquidations or connector.stream.position_of(ETH) != 0:
            connector.stream.changed.clear()
            await connector.stream.changed.wait()
        return list(connector.stream.liquidations), dict(connector.stream.liquidation_counts)

    [liquidation], counts = paper_grvt.run(scenario)
    assert counts == {ETH: 1}  # what the hedge monitor starts its emergency exit on
    assert liquidation["instrument"] == ETH and Decimal(liquidation["size"]) == Decimal("0.5")
    assert liquidation["is_buyer"] is False  # the long was closed by a sale
    assert paper_grvt.signed_size() == 0
