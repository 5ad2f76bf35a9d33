"""Reconciling a crashed cycle's orders with the venues: absence counts as "never landed" only for an order older
than its venue's landing horizon; a younger one is asked about again, so a request still in flight is seen."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from hedgectl.config.starter import paper_config
from hedgectl.execution.orders import OrderState, Side
from hedgectl.journal import Journal, journal_path
from hedgectl.registry import ConnectorSet
from hedgectl.sim.exchange import Side as VenueSide
from hedgectl.strategies.hedge.recovery import reconcile_orders


async def _journaled_buy(connectors, journal):
    """A BP market buy of 0.1 ETH journaled in a new cycle, not sent: (connector, intent, cycle id)."""
    bp = await connectors.get("backpack")
    await bp.prepare("ETH_USDC_PERP")
    intent = await bp.build_intent("ETH_USDC_PERP", Side.BUY, Decimal("0.1"))
    cycle_id = journal.start_cycle(direction="long", accounts={"BP": bp.account_id()}, params={}, pid=1)
    journal.record_intent(cycle_id, role="BP", purpose="entry", intent=intent)
    return bp, intent, cycle_id


def _reconcile(venues, tmp_path, *, age_secs: float, land_late: bool):
    """Journal a BP market buy sent ``age_secs`` ago that the venue has no trace of; reconcile it. With
    ``land_late`` the order reaches the venue while reconciliation waits. Returns (journal order, sleeps)."""
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    journal = Journal(journal_path(tmp_path))
    sleeps: list[float] = []

    async def main():
        async with ConnectorSet(config, data_dir=tmp_path) as connectors:
            bp, intent, cycle_id = await _journaled_buy(connectors, journal)
            exchange = venues.venues.venue("backpack").exchange

            async def sleep(seconds: float) -> None:
                sleeps.append(seconds)
                if land_late:
                    venues.call_sync(lambda: exchange.submit_order(
                        "backpack", "ETH_USDC_PERP", VenueSide.BUY, Decimal("0.1"),
                        client_id=intent.client_order_index))

            created = journal.cycle(cycle_id).orders[0].created_at
            started = time.monotonic()

            def clock() -> float:  # the order was journaled ``age_secs`` ago
                return created + age_secs + (time.monotonic() - started)

            await reconcile_orders(journal, journal.cycle(cycle_id), {"BP": (bp, "ETH_USDC_PERP")},
                                   clock=clock, sleep=sleep)
            return journal.cycle(cycle_id).orders[0], bp.landing_horizon_secs

    try:
        order, horizon = asyncio.run(main())
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


def _reconcile_old_order(venues, tmp_path, *, executed: bool, lag_ms: int):
    """A BP market buy journaled long ago, whose outcome the journal lost. With ``executed`` it ran at the venue
    (just now); otherwise only someone else's trade moved the position. The venue's records trail by ``lag_ms``."""
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    journal = Journal(journal_path(tmp_path))
    exchange = venues.venues.venue("backpack").exchange

    async def main():
        async with ConnectorSet(config, data_dir=tmp_path) as connectors:
            bp, intent, cycle_id = await _journaled_buy(connectors, journal)
            venues.arm("backpack", "lag", ms=lag_ms)
            venues.call_sync(lambda: exchange.submit_order(
                "backpack", "ETH_USDC_PERP", VenueSide.BUY, Decimal("0.1"),
                client_id=intent.client_order_index if executed else None))
            created = journal.cycle(cycle_id).orders[0].created_at
            started = time.monotonic()

            def clock() -> float:  # the order was journaled a minute ago: past every landing horizon
                return created + 60 + (time.monotonic() - started)

            await reconcile_orders(journal, journal.cycle(cycle_id), {"BP": (bp, "ETH_USDC_PERP")}, clock=clock)
            return journal.cycle(cycle_id).orders[0], time.monotonic() - started

    try:
        return asyncio.run(main())
    finally:
        journal.close()


def test_an_old_order_hidden_by_trailing_records_is_found_once_they_show(paper_venues, tmp_path):
    order, took = _reconcile_old_order(paper_venues, tmp_path, executed=True, lag_ms=2500)

    assert order.state is OrderState.FILLED and order.filled_size == Decimal("0.1")
    assert took >= 2.0  # it kept asking while the position disagreed with the journal


def test_an_absent_order_is_failed_with_the_disagreement_noted_once_the_wait_runs_out(paper_venues, tmp_path,
                                                                                         monkeypatch):
    from hedgectl.strategies.hedge import recovery

    monkeypatch.setattr(recovery, "RECORDS_SETTLE_SECS", 1.5)
    order, took = _reconcile_old_order(paper_venues, tmp_path, executed=False, lag_ms=100)

    assert order.state is OrderState.FAILED
    assert "never landed" in order.reason and "the venue holds 0.1" in order.reason
    assert 1.5 <= took < 10
