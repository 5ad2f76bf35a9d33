"""The tracking limit order against a paper venue: it joins the top of the book, re-prices when the book moves away,
re-posts only what remains after a partial fill, and on timeout leaves nothing open."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.errors import BelowMinimumSize
from hedgectl.execution.orders import OrderState, Side
from hedgectl.execution.tracking_limit import TrackingLimitTimeoutError, place_tracking_limit_order
from hedgectl.sim.exchange import Side as EngineSide

from .conftest import ETH, PaperBackpack, eventually, in_thread


def _resting(paper_backpack: PaperBackpack, quantity: str | None = None) -> list[dict]:
    return [order for order in paper_backpack.open_orders() if quantity is None or order["quantity"] == quantity]


def test_chase_fills_at_the_top_of_the_book_when_the_market_comes_to_it(paper_backpack: PaperBackpack) -> None:
    best_bid, _ = paper_backpack.best_bid_ask()

    async def scenario(connector: BackpackConnector):
        chase = asyncio.create_task(
            place_tracking_limit_order(connector, ETH, Side.BUY, Decimal("0.3"), timeout_secs=20, poll_secs=0.05)
        )
        await eventually(lambda: len(_resting(paper_backpack)) == 1)
        [resting] = await in_thread(lambda: _resting(paper_backpack))
        await in_thread(lambda: paper_backpack.shock("-0.05"))
        return resting, await chase

    resting, result = paper_backpack.run(scenario)
    assert resting["post_only"] is True and Decimal(resting["price"]) == best_bid
    assert result.complete and result.filled_size == Decimal("0.3") and result.average_price == best_bid
    assert [order.state for order in result.orders] == [OrderState.FILLED]
    assert paper_backpack.signed_size() == Decimal("0.3") and paper_backpack.open_orders() == []


def test_chase_reprices_when_the_book_moves_away(paper_backpack: PaperBackpack) -> None:
    _, first_ask = paper_backpack.best_bid_ask()

    async def scenario(connector: BackpackConnector):
        chase = asyncio.create_task(
            place_tracking_limit_order(connector, ETH, Side.SELL, Decimal("0.2"), timeout_secs=20, poll_secs=0.05)
        )
        await eventually(lambda: len(_resting(paper_backpack)) == 1)
        await in_thread(lambda: paper_backpack.shock("-0.1"))  # away from a sell: the best ask drops
        await eventually(lambda: [Decimal(o["price"]) for o in _resting(paper_backpack)] not in ([], [first_ask]))
        [second] = await in_thread(lambda: _resting(paper_backpack))
        await in_thread(lambda: paper_backpack.shock("0.05"))  # back up through the new ask: it fills
        return second, await chase

    second, result = paper_backpack.run(scenario)
    assert Decimal(second["price"]) < first_ask
    assert [order.state for order in result.orders] == [OrderState.CANCELLED, OrderState.FILLED]
    assert result.orders[0].intent.price == first_ask and result.orders[1].intent.price == Decimal(second["price"])
    assert result.filled_size == Decimal("0.2") and result.average_price == Decimal(second["price"])
    assert paper_backpack.signed_size() == Decimal("-0.2") and paper_backpack.open_orders() == []


def test_chase_reposts_only_the_remaining_size_after_a_partial_fill(paper_backpack: PaperBackpack) -> None:
    paper_backpack.engine(lambda: paper_backpack.venue.create_account("taker"))

    async def scenario(connector: BackpackConnector):
        chase = asyncio.create_task(
            place_tracking_limit_order(connector, ETH, Side.BUY, Decimal("0.5"), timeout_secs=20, poll_secs=0.05)
        )
        await eventually(lambda: len(_resting(paper_backpack, "0.5")) == 1)
        # Another account sells into our bid: it is first in the queue at its price, so part of it fills.
        await in_thread(lambda: paper_backpack.engine(
            lambda: paper_backpack.venue.exchange.submit_order("taker", ETH, EngineSide.SELL, Decimal("0.2"))))
        await in_thread(lambda: paper_backpack.shock("0.1"))  # the book moves away: re-price the rest
        await eventually(lambda: len(_resting(paper_backpack, "0.3")) == 1)
        await in_thread(lambda: paper_backpack.shock("-0.05"))
        return await chase

    result = paper_backpack.run(scenario)
    assert [(order.intent.size, order.filled_size, order.state) for order in result.orders] == [
        (Decimal("0.5"), Decimal("0.2"), OrderState.CANCELLED),
        (Decimal("0.3"), Decimal("0.3"), OrderState.FILLED),
    ]
    assert result.complete and paper_backpack.signed_size() == Decimal("0.5")
    assert [order["quantity"] for order in paper_backpack.orders()] == ["0.5", "0.3"]
    assert paper_backpack.open_orders() == []


def test_chase_times_out_leaving_nothing_open(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        with pytest.raises(TrackingLimitTimeoutError) as caught:
            await place_tracking_limit_order(connector, ETH, Side.BUY, Decimal("0.3"), timeout_secs=0.6,
                                             poll_secs=0.05)
        return caught.value.result, await connector.open_orders()

    result, still_open = paper_backpack.run(scenario)
    assert result.filled_size == 0 and not result.complete
    assert [order.state for order in result.orders] == [OrderState.CANCELLED]
    assert still_open == [] and paper_backpack.open_orders() == []
    assert [order["status"] for order in paper_backpack.orders()] == ["cancelled"]


def test_chase_cancelled_by_its_caller_leaves_nothing_open(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector) -> None:
        chase = asyncio.create_task(
            place_tracking_limit_order(connector, ETH, Side.SELL, Decimal("0.3"), timeout_secs=20, poll_secs=0.05)
        )
        await eventually(lambda: len(_resting(paper_backpack)) == 1)
        chase.cancel()
        with pytest.raises(asyncio.CancelledError):
            await chase

    paper_backpack.run(scenario)
    assert paper_backpack.open_orders() == [] and paper_backpack.signed_size() == 0


def test_reduce_only_chase_closes_a_position(paper_backpack: PaperBackpack) -> None:
    paper_backpack.engine(
        lambda: paper_backpack.venue.exchange.submit_order("backpack", ETH, EngineSide.BUY, Decimal("0.4")))

    async def scenario(connector: BackpackConnector):
        chase = asyncio.create_task(place_tracking_limit_order(
            connector, ETH, Side.SELL, Decimal("0.4"), reduce_only=True, timeout_secs=20, poll_secs=0.05))
        await eventually(lambda: len(_resting(paper_backpack)) == 1)
        await in_thread(lambda: paper_backpack.shock("0.05"))
        return await chase

    result = paper_backpack.run(scenario)
    assert result.complete and result.orders[0].intent.reduce_only
    assert paper_backpack.signed_size() == 0


def test_chase_below_the_minimum_is_refused_before_posting(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector) -> None:
        with pytest.raises(BelowMinimumSize):
            await place_tracking_limit_order(connector, ETH, Side.BUY, Decimal("0.0005"), timeout_secs=5)

    paper_backpack.run(scenario)
    assert paper_backpack.orders() == []
