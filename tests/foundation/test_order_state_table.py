"""The order state table: every legal transition works, every other one raises."""

import asyncio
import itertools
from decimal import Decimal

import pytest

from hedgectl.errors import AmbiguousOutcome, OrderStateError
from hedgectl.model.orders import (
    ORDER_STATE_TABLE,
    TERMINAL_STATES,
    OrderEvent,
    OrderIntent,
    OrderState,
    OrderTracker,
    OrderType,
    Side,
    TrackingMarketOrder,
)

SIZE = Decimal("1.0")


def intent() -> OrderIntent:
    return OrderIntent(
        connector="bp", venue="backpack", symbol="ETH_USDC_PERP", side=Side.BUY, size=SIZE,
        order_type=OrderType.MARKET, client_order_index=7,
    )


# A path of events from NEW to each state, so a tracker can be put in any state honestly.
PATH_TO = {
    OrderState.NEW: [],
    OrderState.SUBMITTING: [OrderEvent.SUBMIT],
    OrderState.OPEN: [OrderEvent.SUBMIT, OrderEvent.ACCEPT],
    OrderState.PARTIALLY_FILLED: [OrderEvent.SUBMIT, OrderEvent.PARTIAL_FILL],
    OrderState.UNKNOWN: [OrderEvent.SUBMIT, OrderEvent.LOSE_ANSWER],
    OrderState.FILLED: [OrderEvent.SUBMIT, OrderEvent.FILL],
    OrderState.CANCELLED: [OrderEvent.SUBMIT, OrderEvent.CANCEL],
    OrderState.FAILED: [OrderEvent.SUBMIT, OrderEvent.REJECT],
}


def fill_for(event: OrderEvent, current: Decimal) -> Decimal | None:
    """A filled size consistent with the event (a partial fill grows but stays below the size)."""
    if event is OrderEvent.FILL:
        return SIZE
    if event is OrderEvent.PARTIAL_FILL:
        return max(current, Decimal("0.25")) + Decimal("0.25")
    return None


def tracker_in(state: OrderState) -> OrderTracker:
    tracker = OrderTracker(intent())
    for event in PATH_TO[state]:
        tracker.apply(event, filled_size=fill_for(event, tracker.snapshot().filled_size))
    assert tracker.state is state
    return tracker


@pytest.mark.parametrize(("state", "event"), list(itertools.product(OrderState, OrderEvent)))
def test_every_state_event_pair_follows_the_table(state, event):
    tracker = tracker_in(state)
    filled = fill_for(event, tracker.snapshot().filled_size)
    if (state, event) in ORDER_STATE_TABLE:
        snapshot = tracker.apply(event, filled_size=filled)
        assert snapshot.state is ORDER_STATE_TABLE[(state, event)]
        assert tracker.transitions[-1].from_state is state
    else:
        with pytest.raises(OrderStateError):
            tracker.apply(event, filled_size=filled)
        assert tracker.state is state  # an illegal trigger changes nothing


def test_terminal_states_have_no_way_out():
    for (state, _event) in ORDER_STATE_TABLE:
        assert state not in TERMINAL_STATES


def test_filled_order_can_never_reopen():
    tracker = tracker_in(OrderState.FILLED)
    for event in OrderEvent:
        with pytest.raises(OrderStateError):
            tracker.apply(event)


def test_fill_beyond_the_order_size_is_refused():
    tracker = tracker_in(OrderState.SUBMITTING)
    with pytest.raises(OrderStateError, match="exceeds"):
        tracker.apply(OrderEvent.PARTIAL_FILL, filled_size=Decimal("1.5"))


def test_filled_size_never_shrinks():
    tracker = tracker_in(OrderState.SUBMITTING)
    tracker.apply(OrderEvent.PARTIAL_FILL, filled_size=Decimal("0.6"))
    with pytest.raises(OrderStateError, match="shrink"):
        tracker.apply(OrderEvent.PARTIAL_FILL, filled_size=Decimal("0.5"))


def test_fill_event_requires_the_whole_size():
    tracker = tracker_in(OrderState.SUBMITTING)
    with pytest.raises(OrderStateError):
        tracker.apply(OrderEvent.FILL, filled_size=Decimal("0.5"))


def test_reject_after_a_fill_is_refused_because_it_would_hide_the_fill():
    tracker = tracker_in(OrderState.SUBMITTING)
    tracker.apply(OrderEvent.ACCEPT)
    tracker.apply(OrderEvent.PARTIAL_FILL, filled_size=Decimal("0.5"))
    with pytest.raises(OrderStateError):
        tracker.apply(OrderEvent.REJECT)


def test_fill_report_of_a_partial_ioc_ends_cancelled_with_the_filled_size():
    tracker = tracker_in(OrderState.SUBMITTING)
    snapshot = tracker.apply_fill_report(filled_size=Decimal("0.4"), done=True, average_price=Decimal("3500"))
    assert snapshot.state is OrderState.CANCELLED
    assert snapshot.filled_size == Decimal("0.4")
    assert [t.event for t in tracker.transitions[-2:]] == [OrderEvent.PARTIAL_FILL, OrderEvent.CANCEL]


def test_fill_report_repeated_after_final_is_a_no_op_but_a_contradiction_raises():
    tracker = tracker_in(OrderState.SUBMITTING)
    tracker.apply_fill_report(filled_size=SIZE, done=True)
    count = len(tracker.transitions)
    tracker.apply_fill_report(filled_size=SIZE, done=True)
    assert len(tracker.transitions) == count
    with pytest.raises(OrderStateError):
        tracker.apply_fill_report(filled_size=Decimal("0.5"), done=True)


def test_accepted_is_not_filled():
    tracker = tracker_in(OrderState.SUBMITTING)
    snapshot = tracker.apply_fill_report(filled_size=Decimal(0), done=False)
    assert snapshot.state is OrderState.OPEN
    assert not snapshot.is_final


def test_listeners_see_every_transition_in_order():
    seen = []
    tracker = OrderTracker(intent(), listeners=[lambda snap, tr: seen.append((tr.from_state, tr.to_state))])
    tracker.apply(OrderEvent.SUBMIT)
    tracker.apply(OrderEvent.LOSE_ANSWER)
    tracker.apply(OrderEvent.FILL, filled_size=SIZE)
    assert seen == [
        (OrderState.NEW, OrderState.SUBMITTING),
        (OrderState.SUBMITTING, OrderState.UNKNOWN),
        (OrderState.UNKNOWN, OrderState.FILLED),
    ]


def test_wait_final_wakes_on_the_final_transition_and_times_out_otherwise():
    async def scenario():
        tracker = tracker_in(OrderState.SUBMITTING)
        pending = await tracker.wait_final(timeout=0.01)
        assert pending.state is OrderState.SUBMITTING
        waiter = asyncio.create_task(tracker.wait_final(timeout=5))
        await asyncio.sleep(0)
        tracker.apply(OrderEvent.ACCEPT)
        await asyncio.sleep(0)
        assert not waiter.done()
        tracker.apply(OrderEvent.FILL, filled_size=SIZE)
        final = await waiter
        assert final.state is OrderState.FILLED

    asyncio.run(scenario())


def test_next_update_returns_the_snapshot_after_the_next_transition():
    async def scenario():
        tracker = tracker_in(OrderState.SUBMITTING)
        waiter = asyncio.create_task(tracker.next_update(timeout=5))
        await asyncio.sleep(0)
        tracker.apply(OrderEvent.ACCEPT)
        assert (await waiter).state is OrderState.OPEN

    asyncio.run(scenario())


def test_a_handle_whose_confirming_task_gives_up_ends_its_wait_with_that_error():
    async def scenario():
        tracker = tracker_in(OrderState.SUBMITTING)
        tracker.apply(OrderEvent.LOSE_ANSWER)
        gave_up = asyncio.Event()

        async def confirm():
            await gave_up.wait()
            raise AmbiguousOutcome("outcome still unknown", client_order_index=7)

        handle = TrackingMarketOrder(tracker, task=asyncio.create_task(confirm()))
        waiter = asyncio.create_task(handle.wait_final())  # no timeout: only the task's end can finish it
        await asyncio.sleep(0)
        gave_up.set()
        with pytest.raises(AmbiguousOutcome):
            await asyncio.wait_for(waiter, 30)
        assert handle.snapshot().state is OrderState.UNKNOWN

    asyncio.run(scenario())


def test_a_handle_waits_on_the_tracker_after_its_task_ended_cleanly():
    async def scenario():
        tracker = tracker_in(OrderState.SUBMITTING)

        async def nothing():
            return None

        handle = TrackingMarketOrder(tracker, task=asyncio.create_task(nothing()))
        await asyncio.sleep(0)
        assert (await handle.wait_final(0.01)).state is OrderState.SUBMITTING
        waiter = asyncio.create_task(handle.wait_final(5))
        await asyncio.sleep(0)
        tracker.apply(OrderEvent.FILL, filled_size=SIZE)
        assert (await waiter).state is OrderState.FILLED

    asyncio.run(scenario())


def test_side_helpers_close_the_actual_position():
    assert Side.closing(Decimal("-0.5")) is Side.BUY
    assert Side.closing(Decimal("0.5")) is Side.SELL
    with pytest.raises(ValueError):
        Side.closing(Decimal(0))
