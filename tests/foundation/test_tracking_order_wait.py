"""Waiting on an order handle: a confirming task that fails surfaces its error at once, and a final order returns."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from hedgectl.errors import AmbiguousOutcome
from hedgectl.model.orders import (
    OrderEvent,
    OrderIntent,
    OrderState,
    OrderTracker,
    OrderType,
    Side,
    TrackingMarketOrder,
)


def intent() -> OrderIntent:
    return OrderIntent(connector="paper", venue="paper", symbol="ETH", side=Side.BUY, size=Decimal("1"),
                       order_type=OrderType.MARKET, client_order_index=7)


def test_failing_confirmation_task_is_raised_without_waiting_for_the_timeout() -> None:
    async def scenario() -> None:
        tracker = OrderTracker(intent())
        tracker.apply(OrderEvent.SUBMIT)
        tracker.apply(OrderEvent.LOSE_ANSWER)

        async def give_up() -> None:
            await asyncio.sleep(0)
            raise AmbiguousOutcome("venue unreadable", client_order_index=7)

        handle = TrackingMarketOrder(tracker, task=asyncio.get_running_loop().create_task(give_up()))
        with pytest.raises(AmbiguousOutcome):
            await asyncio.wait_for(handle.wait_final(timeout=3600), 5)
        assert handle.snapshot().state is OrderState.UNKNOWN

    asyncio.run(scenario())


def test_order_made_final_by_its_task_is_returned() -> None:
    async def scenario() -> OrderState:
        tracker = OrderTracker(intent())
        tracker.apply(OrderEvent.SUBMIT)

        async def fill() -> None:
            await asyncio.sleep(0)
            tracker.apply(OrderEvent.FILL, filled_size=Decimal("1"))

        handle = TrackingMarketOrder(tracker, task=asyncio.get_running_loop().create_task(fill()))
        return (await handle.wait_final(timeout=5)).state

    assert asyncio.run(scenario()) is OrderState.FILLED


def test_timeout_returns_the_open_snapshot_when_nothing_happens() -> None:
    async def scenario() -> OrderState:
        tracker = OrderTracker(intent())
        tracker.apply(OrderEvent.SUBMIT)
        tracker.apply(OrderEvent.ACCEPT)
        return (await TrackingMarketOrder(tracker).wait_final(timeout=0.01)).state

    assert asyncio.run(scenario()) is OrderState.OPEN
