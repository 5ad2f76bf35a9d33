"""Reconciling a crashed cycle's orders with the venues: absence counts as "never landed" only for an order older
than its venue's landing horizon; a younger one is asked about again, so a request still in flight is seen."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hedgectl.clock import SimulatedClock
from hedgectl.config.starter import paper_config
from hedgectl.model.orders import OrderState, Side
from hedgectl.journal import Journal, journal_path
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.sim.exchange.records import Side as VenueSide
from hedgectl.strategies.hedge.recovery import RECORDS_SETTLE_SECS, reconcile_orders


async def _journaled_buy(connectors, journal):
    """A BP market buy of 0.1 ETH journaled in a new cycle, not sent: (connector, intent, cycle id)."""
    bp = await connectors.get("backpack")
    await bp.prepare("ETH_USDC_PERP")
    intent = await bp.build_intent("ETH_USDC_PERP", Side.BUY, Decimal("0.1"))
    cycle_id = journal.start_cycle(direction="long", accounts={"BP": bp.account_id()}, params={}, pid=1)
    journal.record_intent(cycle_id, role="BP", purpose="entry", intent=intent)
    return bp, intent, cycle_id


class _RecordingClock(SimulatedClock):
    """Simulated time that records each wait and runs ``on_sleep`` during it."""

    def __init__(self, start: float, on_sleep=None):
        super().__init__(start)
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep()
        await super().sleep(seconds)


def _reconcile(venues, tmp_path, *, age_secs: float, land_late: bool):
    """Journal a BP market buy sent ``age_secs`` ago that the venue has no trace of; reconcile it. With
    ``land_late`` the order reaches the venue while reconciliation waits. Returns (journal order, sleeps)."""
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    journal = Journal(journal_path(tmp_path))

    async def main():
        async with ConnectorSet(config, data_dir=tmp_path) as connectors:
            bp, intent, cycle_id = await _journaled_buy(connectors, journal)
            exchange = venues.venues.venue("backpack").exchange

            def land() -> None:
                venues.call_sync(lambda: exchange.submit_order(
                    "backpack", "ETH_USDC_PERP", VenueSide.BUY, Decimal("0.1"),
                    client_id=intent.client_order_index))

            # the order was journaled ``age_secs`` ago
            created = journal.cycle(cycle_id).orders[0].created_at
            clock = _RecordingClock(created + age_secs, on_sleep=land if land_late else None)
            await reconcile_orders(journal, journal.cycle(cycle_id), {"BP": (bp, "ETH_USDC_PERP")}, clock=clock)
            return journal.cycle(cycle_id).orders[0], clock.sleeps, bp.landing_horizon_secs

    try:
        order, sleeps, horizon = asyncio.run(main())
    finally:
        journal.close()
    return order, sleeps, horizon


def test_a_young_order_absent_at_first_is_asked_about_again_and_found(paper_venues, tmp_path):
    order, sleeps, horizon = _reconcile(paper_venues, tmp_path, age_secs=0.5, land_late=True)

    assert len(sleeps) == 1 and horizon - 1.0 < sleeps[0] <= horizon - 0.5
    assert order.state is OrderState.FILLED and order.filled_size == Decimal("0.1")


def test_a_young_order_that_never_arrives_is_failed_after_the_horizon(paper_venues, tmp_path):
    order, sleeps, _ = _reconcile(paper_venues, tmp_path, age_secs=0.5, land_late=False)

    assert len(sleeps) == 1
    assert order.state is OrderState.FAILED and "never landed" in order.reason


def test_an_order_older_than_the_horizon_is_failed_without_waiting(paper_venues, tmp_path):
    order, sleeps, horizon = _reconcile(paper_venues, tmp_path, age_secs=30, land_late=False)

    assert horizon == 6.0  # Backpack: the 5000 ms window and a second of slack
    assert sleeps == []
    assert order.state is OrderState.FAILED


def _reconcile_old_order(venues_factory, tmp_path, *, executed: bool, lag_ms: int):
    """A BP market buy journaled long ago, whose outcome the journal lost. With ``executed`` it ran at the venue
    (just now); otherwise only someone else's trade moved the position. The venue's records trail by ``lag_ms``.
    Venues, connector and reconciliation share one simulated clock; returns (journal order, simulated seconds)."""
    clock = SimulatedClock()
    venues = venues_factory(clock=clock)
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    journal = Journal(journal_path(tmp_path))
    exchange = venues.venues.venue("backpack").exchange

    async def main():
        async with ConnectorSet(config, data_dir=tmp_path, clock=clock) as connectors:
            clock.advance(60)  # the journal writes its own wall time: the order is journaled a minute "ago"
            bp, intent, cycle_id = await _journaled_buy(connectors, journal)
            venues.arm("backpack", "lag", ms=lag_ms)
            venues.call_sync(lambda: exchange.submit_order(
                "backpack", "ETH_USDC_PERP", VenueSide.BUY, Decimal("0.1"),
                client_id=intent.client_order_index if executed else None))
            started = clock.monotonic()
            await reconcile_orders(journal, journal.cycle(cycle_id), {"BP": (bp, "ETH_USDC_PERP")}, clock=clock)
            return journal.cycle(cycle_id).orders[0], clock.monotonic() - started

    try:
        return asyncio.run(main())
    finally:
        journal.close()


def test_an_old_order_hidden_by_trailing_records_is_found_once_they_show(paper_venues_factory, tmp_path):
    order, took = _reconcile_old_order(paper_venues_factory, tmp_path, executed=True, lag_ms=2500)

    assert order.state is OrderState.FILLED and order.filled_size == Decimal("0.1")
    assert took >= 2.0  # it kept asking while the position disagreed with the journal


def test_an_absent_order_is_failed_with_the_disagreement_noted_once_the_wait_runs_out(paper_venues_factory,
                                                                                         tmp_path):
    order, took = _reconcile_old_order(paper_venues_factory, tmp_path, executed=False, lag_ms=100)

    assert order.state is OrderState.FAILED
    assert "never landed" in order.reason and "the venue holds 0.1" in order.reason
    assert RECORDS_SETTLE_SECS <= took < RECORDS_SETTLE_SECS + 10
