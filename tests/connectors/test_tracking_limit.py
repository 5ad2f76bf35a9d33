"""The tracking limit order on paper Backpack and paper Lighter, through each venue's connector: it joins the top of
the book, re-prices when the book moves away, re-posts only what remains after a partial fill, and whenever it stops
(filled, timed out, cancelled by its caller) leaves nothing open at the venue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from hedgectl.connectors.base import Connector
from hedgectl.errors import BelowMinimumSize
from hedgectl.model.orders import OrderState, Side
from hedgectl.execution.tracking_limit import TrackingLimitTimeoutError, place_tracking_limit_order
from hedgectl.sim.exchange.records import Side as EngineSide

from .conftest import PaperBackpack, eventually, in_thread
from .lighter_support import PaperLighter


@dataclass
class ChaseVenue:
    """One paper venue as the chaser tests see it; every view reads the venue's own state, not hedgectl's."""

    name: str
    symbol: str
    account: str  # our account's name in the venue's engine
    other_account: str  # another account of the same venue, to trade against our resting orders
    paper: Any
    run: Callable[[Callable[[Connector], Awaitable[Any]]], Any]
    recorded_quantities: Callable[[], list[Decimal]]

    @property
    def exchange(self) -> Any:
        return self.paper.venue.exchange

    def resting(self) -> list[tuple[Decimal, Decimal]]:
        """Our resting orders at the venue as (quantity, price)."""
        return [(Decimal(order["quantity"]), Decimal(order["price"])) for order in self.paper.open_orders()]

    def shock(self, percent: str) -> None:
        self.paper.venues.call_sync(lambda: self.paper.venues.venues.market.shock(Decimal(percent)))

    def signed_size(self) -> Decimal:
        return self.paper.venues.call_sync(lambda: self.exchange.account(self.account).size(self.symbol))

    def trade(self, account: str, side: EngineSide, quantity: str) -> None:
        """A market order by ``account`` straight into the venue's engine (another client's trade)."""
        self.paper.venues.call_sync(
            lambda: self.exchange.submit_order(account, self.symbol, side, Decimal(quantity)))


def _backpack(paper: PaperBackpack) -> ChaseVenue:
    paper.engine(lambda: paper.venue.create_account("taker"))
    return ChaseVenue("backpack", "ETH_USDC_PERP", "backpack", "taker", paper, paper.run,
                      lambda: [Decimal(order["quantity"]) for order in paper.orders()])


def _lighter(paper: PaperLighter) -> ChaseVenue:
    return ChaseVenue("lighter", "ETH", "lighter1", "lighter2", paper, paper.run,
                      lambda: [Decimal(order["initial_base_amount"]) for order in paper.orders()])


@pytest.fixture(params=["backpack", "lighter"])
def venue(request: pytest.FixtureRequest, paper_venues_factory: Any) -> ChaseVenue:
    if request.param == "backpack":
        return _backpack(PaperBackpack(paper_venues_factory(kinds=["backpack"])))
    return _lighter(PaperLighter(paper_venues_factory(kinds=["lighter"])))


def _chase(connector: Connector, venue: ChaseVenue, side: Side, size: str, **options: Any) -> asyncio.Task:
    options.setdefault("timeout_secs", 20)
    return asyncio.create_task(
        place_tracking_limit_order(connector, venue.symbol, side, Decimal(size), poll_secs=0.05, **options))


def test_chase_fills_at_the_top_of_the_book_when_the_market_comes_to_it(venue: ChaseVenue) -> None:
    best_bid, _ = venue.paper.venues.call_sync(lambda: venue.exchange.best_bid_ask(venue.symbol))

    async def scenario(connector: Connector):
        chase = _chase(connector, venue, Side.BUY, "0.3")
        await eventually(lambda: len(venue.resting()) == 1)
        resting = await in_thread(venue.resting)
        await in_thread(lambda: venue.shock("-0.05"))
        return resting, await chase

    [(quantity, price)], result = venue.run(scenario)
    assert (quantity, price) == (Decimal("0.3"), best_bid)
    assert result.complete and result.filled_size == Decimal("0.3") and result.average_price == best_bid
    assert [order.state for order in result.orders] == [OrderState.FILLED]
    assert all(order.intent.post_only for order in result.orders)
    assert venue.signed_size() == Decimal("0.3") and venue.resting() == []


def test_chase_reprices_when_the_book_moves_away(venue: ChaseVenue) -> None:
    async def scenario(connector: Connector):
        chase = _chase(connector, venue, Side.SELL, "0.2")
        await eventually(lambda: len(venue.resting()) == 1)
        [(_, first_price)] = await in_thread(venue.resting)
        await in_thread(lambda: venue.shock("-0.1"))  # away from a sell: the best ask drops
        await eventually(lambda: [price for _, price in venue.resting()] not in ([], [first_price]))
        [(_, second_price)] = await in_thread(venue.resting)
        await in_thread(lambda: venue.shock("0.05"))  # back up through the new ask: it fills
        return first_price, second_price, await chase

    first_price, second_price, result = venue.run(scenario)
    assert second_price < first_price
    assert [(order.intent.price, order.state) for order in result.orders] == [
        (first_price, OrderState.CANCELLED), (second_price, OrderState.FILLED)]
    assert result.filled_size == Decimal("0.2") and result.average_price == second_price
    assert venue.signed_size() == Decimal("-0.2") and venue.resting() == []


def test_chase_reposts_only_the_remaining_size_after_a_partial_fill(venue: ChaseVenue) -> None:
    async def scenario(connector: Connector):
        chase = _chase(connector, venue, Side.BUY, "0.5")
        await eventually(lambda: [quantity for quantity, _ in venue.resting()] == [Decimal("0.5")])
        # Another account sells into our bid: it is first in the queue at its price, so part of it fills.
        await in_thread(lambda: venue.trade(venue.other_account, EngineSide.SELL, "0.2"))
        await in_thread(lambda: venue.shock("0.1"))  # the book moves away: re-price what remains
        await eventually(lambda: [quantity for quantity, _ in venue.resting()] == [Decimal("0.3")])
        await in_thread(lambda: venue.shock("-0.05"))
        return await chase

    result = venue.run(scenario)
    assert [(order.intent.size, order.filled_size, order.state) for order in result.orders] == [
        (Decimal("0.5"), Decimal("0.2"), OrderState.CANCELLED),
        (Decimal("0.3"), Decimal("0.3"), OrderState.FILLED),
    ]
    assert result.complete and venue.signed_size() == Decimal("0.5")
    assert venue.recorded_quantities() == [Decimal("0.5"), Decimal("0.3")]
    assert venue.resting() == []


def test_chase_times_out_leaving_nothing_open(venue: ChaseVenue) -> None:
    async def scenario(connector: Connector):
        with pytest.raises(TrackingLimitTimeoutError) as caught:
            await place_tracking_limit_order(connector, venue.symbol, Side.BUY, Decimal("0.3"), timeout_secs=0.6,
                                             poll_secs=0.05)
        return caught.value.result, await connector.open_orders()

    result, still_open = venue.run(scenario)
    assert result.filled_size == 0 and not result.complete
    assert [order.state for order in result.orders] == [OrderState.CANCELLED]
    assert still_open == [] and venue.resting() == [] and venue.signed_size() == 0


def test_chase_cancelled_by_its_caller_leaves_nothing_open(venue: ChaseVenue) -> None:
    async def scenario(connector: Connector) -> None:
        chase = _chase(connector, venue, Side.SELL, "0.3")
        await eventually(lambda: len(venue.resting()) == 1)
        chase.cancel()
        with pytest.raises(asyncio.CancelledError):
            await chase

    venue.run(scenario)
    assert venue.resting() == [] and venue.signed_size() == 0


def test_reduce_only_chase_closes_a_position(venue: ChaseVenue) -> None:
    venue.trade(venue.account, EngineSide.BUY, "0.4")

    async def scenario(connector: Connector):
        chase = _chase(connector, venue, Side.SELL, "0.4", reduce_only=True)
        await eventually(lambda: len(venue.resting()) == 1)
        await in_thread(lambda: venue.shock("0.05"))
        return await chase

    result = venue.run(scenario)
    assert result.complete and all(order.intent.reduce_only for order in result.orders)
    assert venue.signed_size() == 0


def test_chase_below_the_minimum_is_refused_before_posting(venue: ChaseVenue) -> None:
    async def scenario(connector: Connector) -> None:
        with pytest.raises(BelowMinimumSize):
            await place_tracking_limit_order(connector, venue.symbol, Side.BUY, Decimal("0.0005"), timeout_secs=5)

    venue.run(scenario)
    assert venue.recorded_quantities() == []
