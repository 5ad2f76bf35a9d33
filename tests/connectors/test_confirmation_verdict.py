"""The confirmation core's entry for reports from outside an order's own send path (a push stream): until the sender
has read the send's verdict a report is held, the furthest one kept, and applied once it has; a report of another
market or side is not the order's."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hedgectl.clock import SYSTEM_CLOCK
from hedgectl.connectors.base import OrderReport
from hedgectl.connectors.confirmation import Confirmations
from hedgectl.errors import InvalidOrder, VenueError
from hedgectl.model.orders import OrderEvent, OrderIntent, OrderState, OrderTracker, OrderType, Side

COI = 77


def refusal(report: OrderReport, reason: str | None) -> tuple[VenueError, str] | None:
    if report.status == "rejected":
        return InvalidOrder(f"order {report.client_order_index} rejected", venue="lighter"), "rejected"
    return None


def report(filled: str, *, done: bool, status: str, side: Side = Side.BUY, symbol: str = "ETH") -> OrderReport:
    return OrderReport(client_order_index=COI, venue_order_id="9", symbol=symbol, side=side, size=Decimal("1"),
                       filled_size=Decimal(filled), done=done, status=status,
                       average_price=Decimal("2000") if Decimal(filled) else None)


def sent_order(*, verdict_read: bool):
    async def make():
        core = Confirmations(connector="lighter1", venue="lighter", clock=SYSTEM_CLOCK, refusal=refusal)
        intent = OrderIntent("lighter1", "lighter", "ETH", Side.BUY, Decimal("1"), OrderType.MARKET, COI)
        tracker = OrderTracker(intent)
        tracker.apply(OrderEvent.SUBMIT)
        return core, core.watch(tracker, verdict_read=verdict_read)

    return asyncio.run(make())


def test_a_refusal_pushed_before_the_verdict_is_held_and_applied_once_the_verdict_is_read():
    core, watch = sent_order(verdict_read=False)
    held = core.apply_report(report("0", done=True, status="rejected"))
    assert held is not None and held.state is OrderState.SUBMITTING  # the sender still sees its own verdict
    core.verdict_read(watch)
    assert watch.tracker.snapshot().state is OrderState.FAILED
    assert isinstance(watch.tracker.snapshot().error, InvalidOrder)


def test_the_furthest_held_report_wins_over_a_duplicate_or_an_older_one():
    core, watch = sent_order(verdict_read=False)
    core.apply_report(report("0.4", done=False, status="open"))
    core.apply_report(report("1", done=True, status="filled"))
    core.apply_report(report("0.4", done=False, status="open"))  # late and out of order
    core.apply_report(report("1", done=True, status="filled"))  # a duplicate
    assert watch.tracker.snapshot().filled_size == 0
    core.verdict_read(watch)
    snapshot = watch.tracker.snapshot()
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("1")


def test_after_the_verdict_a_report_applies_at_once_and_wakes_the_confirmation():
    core, watch = sent_order(verdict_read=True)
    snapshot = core.apply_report(report("1", done=True, status="filled"))
    assert snapshot is not None and snapshot.state is OrderState.FILLED
    assert watch.wake.is_set()


def test_a_report_of_another_side_or_market_is_not_the_orders():
    core, watch = sent_order(verdict_read=True)
    assert core.apply_report(report("1", done=True, status="filled", side=Side.SELL)) is None
    assert core.apply_report(report("1", done=True, status="filled", symbol="BTC")) is None
    assert watch.tracker.snapshot().state is OrderState.SUBMITTING
