"""Backpack orders against paper Backpack: what goes on the wire, how each outcome ends in the tracker, and that
the venue's own records agree (sizes recorded, orders executed, nothing left resting)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.decimals import to_decimal
from hedgectl.errors import BelowMinimumSize, InsufficientMargin, InvalidOrder, PostOnlyRejected
from hedgectl.model.orders import OrderIntent, OrderSnapshot, OrderState, OrderType, Side, Transition
from hedgectl.sim.exchange.records import Side as EngineSide

from .conftest import ETH, PaperBackpack, SkewedClock, in_thread

SOL = "SOL_USDC_PERP"


class Recorder:
    """A transition listener, as the journal would be one: keeps every state an order went through."""

    def __init__(self) -> None:
        self.states: list[OrderState] = []

    def __call__(self, snapshot: OrderSnapshot, transition: Transition) -> None:
        self.states.append(transition.to_state)


def test_float_like_size_goes_out_as_a_plain_string_on_the_step(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        return await connector.submit_market_order(ETH, Side.BUY, to_decimal(0.1 + 0.2))

    handle = paper_backpack.run(scenario)
    assert handle.snapshot().state is OrderState.FILLED
    assert handle.snapshot().filled_size == Decimal("0.3")
    [recorded] = paper_backpack.orders(handle.client_order_index)
    assert recorded["quantity"] == "0.3"
    assert paper_backpack.signed_size() == Decimal("0.3")


def test_market_order_result_comes_from_the_execute_answer(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.25"))
        return handle, connector.last_latency_ms

    handle, latency = paper_backpack.run(scenario)
    snapshot = handle.snapshot()
    [recorded] = paper_backpack.orders(handle.client_order_index)
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.25")
    assert snapshot.average_price == Decimal(recorded["executed_quote"]) / Decimal("0.25")
    assert snapshot.venue_order_id == str(recorded["order_id"])
    assert handle.task is None and latency is not None and latency > 0
    assert 1 <= handle.client_order_index <= 2**32 - 1


def test_below_minimum_is_refused_locally_and_nothing_reaches_the_venue(paper_backpack: PaperBackpack) -> None:
    recorder = Recorder()

    async def scenario(connector: BackpackConnector) -> None:
        rules = await connector.prepare(ETH)
        with pytest.raises(BelowMinimumSize):
            await connector.submit_market_order(ETH, Side.BUY, rules.min_size / 2)
        # An intent built elsewhere is checked again before anything is sent, and its tracker ends FAILED.
        intent = OrderIntent(connector=connector.name, venue="backpack", symbol=ETH, side=Side.BUY,
                             size=rules.min_size - rules.step_size, order_type=OrderType.MARKET,
                             client_order_index=connector.client_ids.next())
        with pytest.raises(BelowMinimumSize):
            await connector.submit_order(intent, listeners=[recorder])

    paper_backpack.run(scenario)
    assert recorder.states == [OrderState.FAILED]
    assert paper_backpack.orders() == []


def test_size_off_the_step_is_refused_locally_not_rounded(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector) -> None:
        await connector.prepare(ETH)
        intent = OrderIntent(connector=connector.name, venue="backpack", symbol=ETH, side=Side.BUY,
                             size=Decimal("0.30000000000000004"), order_type=OrderType.MARKET,
                             client_order_index=connector.client_ids.next())
        with pytest.raises(InvalidOrder, match="not on the step"):
            await connector.submit_order(intent)

    paper_backpack.run(scenario)
    assert paper_backpack.orders() == []


def test_insufficient_margin_ends_failed_with_insufficient_margin(paper_backpack: PaperBackpack) -> None:
    recorder = Recorder()

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        intent = await connector.build_intent(ETH, Side.BUY, Decimal("100"))
        with pytest.raises(InsufficientMargin) as caught:
            await connector.submit_order(intent, listeners=[recorder])
        return caught.value

    error = paper_backpack.run(scenario)
    assert error.code == "INSUFFICIENT_MARGIN"
    assert recorder.states == [OrderState.SUBMITTING, OrderState.FAILED]
    assert paper_backpack.signed_size() == 0


def test_venue_refusal_of_a_bad_quantity_ends_failed_as_invalid_order(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("reject", code="INVALID_CLIENT_REQUEST", message="Quantity decimal too long", count=1)
    recorder = Recorder()

    async def scenario(connector: BackpackConnector) -> None:
        await connector.prepare(ETH)
        with pytest.raises(InvalidOrder) as caught:
            await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"), listeners=[recorder])
        assert type(caught.value) is InvalidOrder

    paper_backpack.run(scenario)
    assert recorder.states[-1] is OrderState.FAILED
    assert paper_backpack.signed_size() == 0


def test_reduce_only_closes_the_position_without_flipping_it(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        await connector.submit_market_order(ETH, Side.SELL, Decimal("0.3"))
        closing = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.5"), reduce_only=True)
        return closing, await connector.position(ETH)

    closing, position = paper_backpack.run(scenario)
    snapshot = closing.snapshot()
    assert snapshot.state is OrderState.CANCELLED and snapshot.filled_size == Decimal("0.3")
    assert position.is_flat and paper_backpack.signed_size() == 0
    assert paper_backpack.orders(closing.client_order_index)[0]["reduce_only"] is True


def test_reduce_only_without_a_position_is_refused(paper_backpack: PaperBackpack) -> None:
    recorder = Recorder()

    async def scenario(connector: BackpackConnector) -> None:
        await connector.prepare(ETH)
        with pytest.raises(InvalidOrder):
            await connector.submit_market_order(ETH, Side.SELL, Decimal("0.1"), reduce_only=True,
                                                listeners=[recorder])

    paper_backpack.run(scenario)
    assert recorder.states[-1] is OrderState.FAILED
    assert paper_backpack.signed_size() == 0


def test_partial_fill_is_reported_as_such(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("partial_fill", fraction="0.5", count=1)

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        return await connector.submit_market_order(ETH, Side.BUY, Decimal("0.4"))

    snapshot = paper_backpack.run(scenario).snapshot()
    assert snapshot.state is OrderState.CANCELLED
    assert snapshot.filled_size == Decimal("0.2") and snapshot.remaining_size == Decimal("0.2")
    assert paper_backpack.signed_size() == Decimal("0.2")


def test_max_slippage_goes_out_as_an_ioc_limit_at_the_worst_acceptable_price(paper_backpack: PaperBackpack) -> None:
    _, best_ask = paper_backpack.best_bid_ask()

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        return await connector.submit_market_order(ETH, Side.BUY, Decimal("5"), max_slippage=Decimal("0.00001"))

    handle = paper_backpack.run(scenario)
    snapshot = handle.snapshot()
    [recorded] = paper_backpack.orders(handle.client_order_index)
    worst = (best_ask * (1 + Decimal("0.00001"))).quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
    assert recorded["type"] == "limit" and recorded["time_in_force"] == "ioc"
    assert Decimal(recorded["price"]) == worst
    assert snapshot.state is OrderState.CANCELLED and 0 < snapshot.filled_size < Decimal("5")
    assert paper_backpack.open_orders() == []  # nothing of it rests


def test_limit_order_rests_until_cancelled_and_then_nothing_is_open(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.1"), Decimal("3000"), post_only=True)
        assert handle.snapshot().state is OrderState.OPEN
        found = await connector.find_order(ETH, handle.client_order_index)
        assert found is not None and not found.done and found.price == Decimal("3000")
        assert [order.client_order_index for order in await connector.open_orders(ETH)] == [handle.client_order_index]
        await handle.cancel()
        return await handle.wait_final(5), await connector.open_orders()

    final, still_open = paper_backpack.run(scenario)
    assert final.state is OrderState.CANCELLED and final.filled_size == 0
    assert still_open == [] and paper_backpack.open_orders() == []


def test_post_only_that_would_take_is_refused_as_post_only(paper_backpack: PaperBackpack) -> None:
    _, best_ask = paper_backpack.best_bid_ask()

    async def scenario(connector: BackpackConnector) -> None:
        await connector.prepare(ETH)
        with pytest.raises(PostOnlyRejected):
            await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.1"), best_ask, post_only=True)

    paper_backpack.run(scenario)
    assert paper_backpack.open_orders() == [] and paper_backpack.signed_size() == 0


def test_resting_limit_fill_is_reported_from_the_venue(paper_backpack: PaperBackpack) -> None:
    best_bid, _ = paper_backpack.best_bid_ask()

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.2"), best_bid, post_only=True)
        await in_thread(lambda: paper_backpack.shock("-0.1"))
        return await handle.wait_final(10)

    final = paper_backpack.run(scenario)
    assert final.state is OrderState.FILLED and final.filled_size == Decimal("0.2")
    assert final.average_price == best_bid
    assert paper_backpack.signed_size() == Decimal("0.2")


def test_partly_filled_resting_order_cancelled_reports_the_part_filled(paper_backpack: PaperBackpack) -> None:
    best_bid, _ = paper_backpack.best_bid_ask()
    paper_backpack.engine(lambda: paper_backpack.venue.create_account("taker"))

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.5"), best_bid, post_only=True)
        await in_thread(lambda: paper_backpack.engine(
            lambda: paper_backpack.venue.exchange.submit_order("taker", ETH, EngineSide.SELL, Decimal("0.2"))))
        while handle.snapshot().state is not OrderState.PARTIALLY_FILLED:
            await handle.next_update(1)
        await handle.cancel()
        return await handle.wait_final(5)

    final = paper_backpack.run(scenario)
    assert final.state is OrderState.CANCELLED and final.filled_size == Decimal("0.2")
    assert paper_backpack.signed_size() == Decimal("0.2") and paper_backpack.open_orders() == []


def test_cancel_all_on_every_market_leaves_nothing_open(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        for symbol in (ETH, SOL):
            await connector.prepare(symbol)
        eth_bid, _ = await in_thread(lambda: paper_backpack.best_bid_ask(ETH))
        sol_bid, _ = await in_thread(lambda: paper_backpack.best_bid_ask(SOL))
        handles = [
            await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.1"), eth_bid * Decimal("0.99")),
            await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.2"), eth_bid * Decimal("0.98")),
            await connector.submit_limit_order(SOL, Side.BUY, Decimal("1"), sol_bid * Decimal("0.99")),
        ]
        assert len(await connector.open_orders()) == 3
        await connector.cancel_all()
        return [await handle.wait_final(5) for handle in handles], await connector.open_orders()

    finals, still_open = paper_backpack.run(scenario)
    assert [final.state for final in finals] == [OrderState.CANCELLED] * 3
    assert still_open == [] and paper_backpack.open_orders() == []


def test_cancel_all_of_one_market_leaves_the_others(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        eth = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.1"), Decimal("3000"))
        sol = await connector.submit_limit_order(SOL, Side.BUY, Decimal("1"), Decimal("150"))
        await connector.cancel_all(ETH)
        return (await eth.wait_final(5)).state, sol.snapshot().state, await connector.open_orders()

    eth_state, sol_state, still_open = paper_backpack.run(scenario)
    assert eth_state is OrderState.CANCELLED and sol_state is OrderState.OPEN
    assert [order.symbol for order in still_open] == [SOL]


def test_skewed_local_clock_is_corrected_by_the_venue_clock(paper_backpack: PaperBackpack) -> None:
    config = paper_backpack.config()

    async def scenario():
        async with BackpackConnector(config, clock=SkewedClock(-30)) as connector:
            await connector.check()
            return connector.clock_offset_ms, await connector.positions()

    offset, positions = asyncio.run(scenario())
    assert offset > 29_000 and positions == []


def test_expired_request_relearns_the_clock_and_is_sent_exactly_once(paper_backpack: PaperBackpack) -> None:
    config = paper_backpack.config()
    clock = SkewedClock()

    async def scenario():
        async with BackpackConnector(config, clock=clock) as connector:
            await connector.prepare(ETH)
            clock.skew = -30.0  # the local clock jumps back after the offset was learned
            handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
            return handle, connector.clock_offset_ms

    handle, offset = asyncio.run(scenario())
    assert handle.snapshot().state is OrderState.FILLED
    assert offset > 29_000
    assert len(paper_backpack.orders(handle.client_order_index)) == 1
    assert paper_backpack.signed_size() == Decimal("0.1")


def test_orders_get_distinct_client_ids_in_uint32(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        first = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.01"))
        second = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.01"))
        return first.client_order_index, second.client_order_index

    first, second = paper_backpack.run(scenario)
    assert first != second and all(0 < index < 2**32 for index in (first, second))
    assert {order["client_id"] for order in paper_backpack.orders()} == {first, second}

