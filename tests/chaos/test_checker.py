"""The chaos checker judges end states from the paper venues' own books: it must catch what it exists to catch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgectl.model.orders import OrderIntent, OrderType
from hedgectl.model.orders import Side as OrderSide
from hedgectl.journal import Journal, journal_path
from hedgectl.rehearsal.checks import LegAccount, inspect_end_state
from hedgectl.sim.exchange.records import OrderType as EngineOrderType
from hedgectl.sim.exchange.records import Side


@pytest.fixture
def books(paper_venues_factory):
    """Paper Backpack and Lighter with one fresh account per leg; ``stage`` runs a function in the venues' thread."""
    venues = paper_venues_factory(kinds=["backpack", "lighter"])

    class Books:
        legs = [
            LegAccount("BP", "backpack", "t-bp", "ETH_USDC_PERP"),
            LegAccount("L1", "lighter", "t-l1", "ETH"),
            LegAccount("L2", "lighter", "t-l2", "ETH"),
        ]

        def __init__(self):
            self.exchanges = {kind: venues.venues.venue(kind).exchange for kind in ("backpack", "lighter")}

            def open_accounts():
                venues.venues.venue("backpack").create_account("t-bp")
                venues.venues.venue("lighter").create_account("t-l1")
                venues.venues.venue("lighter").create_account("t-l2")

            venues.call_sync(open_accounts)

        def stage(self, function):
            return venues.call_sync(function)

        def trade(self, role: str, side: Side, size: str, client_id: int | None = None):
            leg = next(leg for leg in self.legs if leg.role == role)
            exchange = self.exchanges[leg.venue]
            return self.stage(lambda: exchange.submit_order(leg.account, leg.symbol, side, Decimal(size),
                                                            client_id=client_id))

        def inspect(self, **options):
            return self.stage(lambda: inspect_end_state(self.exchanges, self.legs, **options))

    return Books()


def test_flat_books_are_a_safe_end_state(books):
    end = books.inspect()
    assert end.flat and end.unsafe_reasons() == [] and end.duplicates == []


def test_a_naked_leg_staged_on_the_venue_is_an_unsafe_end_state(books):
    books.trade("BP", Side.BUY, "0.5")
    end = books.inspect()
    assert end.positions["BP"] == Decimal("0.5")
    assert any("net exposure 0.5" in reason for reason in end.unsafe_reasons())


def test_hedged_legs_within_one_step_are_safe(books):
    books.trade("BP", Side.BUY, "0.5")
    books.trade("L1", Side.SELL, "0.3")
    books.trade("L2", Side.SELL, "0.2")
    end = books.inspect()
    assert not end.flat and end.net == 0 and end.unsafe_reasons() == []


def test_one_client_order_id_executed_twice_is_a_duplicate(books):
    books.trade("L1", Side.BUY, "0.2", client_id=77)
    books.trade("L1", Side.SELL, "0.2", client_id=77)
    end = books.inspect()
    assert end.net == 0
    assert end.duplicates == ["lighter: t-l1: client order id 77 executed 2 times"]


def test_an_order_resting_on_the_book_is_unsafe(books):
    exchange = books.exchanges["backpack"]
    books.stage(lambda: exchange.submit_order("t-bp", "ETH_USDC_PERP", Side.BUY, Decimal("0.1"),
                                              order_type=EngineOrderType.LIMIT, price=Decimal("1000.00")))
    assert any("still rests on the book" in reason for reason in books.inspect().unsafe_reasons())


def test_an_execution_the_journal_does_not_know_is_a_journal_mismatch(books, tmp_path):
    journal = Journal(journal_path(tmp_path))
    cycle_id = journal.start_cycle(direction="long", accounts={}, params={"baseline": {}}, pid=1)
    intent = OrderIntent(connector="t-bp", venue="backpack", symbol="ETH_USDC_PERP", side=OrderSide.BUY,
                         size=Decimal("0.5"), order_type=OrderType.MARKET, client_order_index=4242)
    journal.record_intent(cycle_id, role="BP", purpose="entry", intent=intent)  # the outcome never journaled
    books.trade("BP", Side.BUY, "0.5", client_id=4242)
    books.trade("L1", Side.SELL, "0.5", client_id=99)
    end = books.inspect(journal=journal.cycle(cycle_id))
    journal.close()
    reasons = end.unsafe_reasons()
    assert "BP: order 4242 filled 0 by the journal, 0.5 at the venue" in reasons
    assert "BP: the journal's position 0 differs from the venue's 0.5" in reasons
    assert "L1: client id 99 executed 0.5 but was never journaled" in reasons


def test_a_report_that_disagrees_with_the_venue_is_unsafe(books):
    books.trade("L2", Side.SELL, "0.2")
    books.trade("BP", Side.BUY, "0.2")
    end = books.inspect(reported={"BP": Decimal(0), "L1": Decimal(0), "L2": Decimal(0)})
    assert "L2: hedgectl reported 0, the venue holds -0.2" in end.unsafe_reasons()


def test_the_naked_window_is_measured_from_the_venues_fills(books):
    now = {"ms": 1_000}
    for exchange in books.exchanges.values():
        exchange.clock_ms = lambda: now["ms"]
    books.trade("BP", Side.BUY, "0.5")
    now["ms"] = 1_250
    books.trade("L1", Side.SELL, "0.5")
    assert books.inspect(now_ms=5_000).naked_window_ms == 250


def test_a_cycle_left_unresolved_in_the_journal_is_unsafe_even_when_the_venues_are_flat(books, tmp_path):
    journal = Journal(journal_path(tmp_path))
    cycle_id = journal.start_cycle(direction="long", accounts={}, params={"baseline": {}}, pid=1)
    end = books.inspect(journal=journal.cycle(cycle_id))
    journal.mark_resolved(cycle_id, outcome="recovered_flat", result={})
    resolved = books.inspect(journal=journal.cycle(cycle_id))
    journal.close()
    assert end.flat
    assert end.unsafe_reasons() == ["the journal still holds the cycle unresolved: hedgectl does not know its end"]
    assert resolved.unsafe_reasons() == []
