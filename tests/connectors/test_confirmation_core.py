"""The confirmation core every connector shares, against the three paper venues: a venue report applied through its
one entry ends a waiting confirmation at once, a lost answer's resolution is recorded transition by transition, an
order sent and never confirmed ends ambiguous on every venue, and cancel-all verifies that the orders are gone."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from hedgectl.connectors.lost_answer import LostAnswerState, LostAnswerTransition
from hedgectl.errors import AmbiguousOutcome, VenueUnavailable
from hedgectl.model.orders import OrderSnapshot, OrderState, Side, Transition

from .conftest import ETH as BACKPACK_ETH
from .conftest import PaperBackpack
from .grvt_support import ETH as GRVT_ETH
from .grvt_support import PaperGrvt, paper_grvt  # noqa: F401
from .lighter_support import ETH as LIGHTER_ETH
from .lighter_support import PaperLighter, paper_lighter  # noqa: F401

#: Longer than any test may run: a confirmation that ends is one a report woke, not one whose next poll came.
NEVER_SECS = 3600.0


class Recorder:
    """An order listener that also records the resolution of a lost answer, as the journal's does."""

    def __init__(self) -> None:
        self.states: list[OrderState] = []
        self.lost: list[LostAnswerTransition] = []

    def __call__(self, snapshot: OrderSnapshot, transition: Transition) -> None:
        self.states.append(transition.to_state)

    def lost_answer(self, transition: LostAnswerTransition) -> None:
        self.lost.append(transition)

    def lost_path(self) -> list[LostAnswerState]:
        return [LostAnswerState.SENT] + [transition.to_state for transition in self.lost]


async def _cancelled_by_a_report(connector, symbol: str, price: Decimal):
    """Rest a limit order, cancel it at the venue behind its confirmation's back (through another connector of the
    same account), and hand the venue's report of it to the core's entry: the confirmation task must end without
    another poll."""
    handle = await connector.submit_limit_order(symbol, Side.BUY, Decimal("0.1"), price)
    assert handle.snapshot().state is OrderState.OPEN
    async with type(connector)(connector.config, clock=connector.clock) as other:
        await other.cancel_order(symbol, handle.client_order_index)
    assert not handle.task.done()
    report = await connector.find_order(symbol, handle.client_order_index)
    applied = connector.confirmations.apply_report(report)
    await asyncio.wait_for(asyncio.shield(handle.task), NEVER_SECS / 10)
    return applied, handle.snapshot(), connector.confirmations.watches


def test_a_report_applied_through_the_entry_ends_a_backpack_confirmation_at_once(paper_backpack: PaperBackpack):
    async def scenario(connector):
        connector.resting_poll_secs = NEVER_SECS
        book = await connector.top_of_book(BACKPACK_ETH)
        return await _cancelled_by_a_report(connector, BACKPACK_ETH, book.bid * Decimal("0.9"))

    applied, final, watches = paper_backpack.run(scenario)
    assert final.state is OrderState.CANCELLED and final.filled_size == 0
    assert applied is not None and applied.state is OrderState.CANCELLED
    assert watches == {}


def test_a_report_applied_through_the_entry_ends_a_grvt_confirmation_at_once(paper_grvt: PaperGrvt):
    async def scenario(connector):
        connector.poll_first_secs = NEVER_SECS
        connector.poll_max_secs = NEVER_SECS
        return await _cancelled_by_a_report(connector, GRVT_ETH, Decimal("3000"))

    applied, final, watches = paper_grvt.run(scenario)
    assert final.state is OrderState.CANCELLED and final.filled_size == 0
    assert applied is not None and applied.state is OrderState.CANCELLED
    assert watches == {}


def test_a_report_applied_through_the_entry_ends_a_lighter_confirmation_at_once(paper_lighter: PaperLighter):
    async def scenario(connector):
        connector.streams_enabled = False  # the account stream would push the cancel before the test hands it in
        await connector.prepare(LIGHTER_ETH)
        connector.confirm_delays = (NEVER_SECS,)
        connector.limit_poll_secs = NEVER_SECS
        return await _cancelled_by_a_report(connector, LIGHTER_ETH, Decimal("3000"))

    applied, final, watches = paper_lighter.run(scenario)
    assert final.state is OrderState.CANCELLED and final.filled_size == 0
    assert applied is not None and applied.state is OrderState.CANCELLED
    assert watches == {}


def test_a_report_of_an_order_nobody_confirms_changes_nothing(paper_backpack: PaperBackpack):
    async def scenario(connector):
        handle = await connector.submit_market_order(BACKPACK_ETH, Side.BUY, Decimal("0.1"))
        final = await handle.wait_final(15)
        report = await connector.find_order(BACKPACK_ETH, handle.client_order_index)
        return final, connector.confirmations.apply_report(report)

    final, applied = paper_backpack.run(scenario)
    assert final.state is OrderState.FILLED
    assert applied is None


def test_a_lost_backpack_answer_is_resolved_through_the_table_to_landed(paper_backpack: PaperBackpack):
    paper_backpack.arm("drop_after_execute", mode="close", count=1, path="/api/v1/order")
    recorder = Recorder()

    async def scenario(connector):
        await connector.prepare(BACKPACK_ETH)
        handle = await connector.submit_market_order(BACKPACK_ETH, Side.BUY, Decimal("0.2"), listeners=[recorder])
        return await handle.wait_final(15)

    final = paper_backpack.run(scenario)
    assert final.state is OrderState.FILLED
    assert recorder.lost_path() == [LostAnswerState.SENT, LostAnswerState.LOST, LostAnswerState.RESOLVING,
                                    LostAnswerState.LANDED]


def test_a_lost_grvt_answer_is_resolved_through_the_table_to_landed(paper_grvt: PaperGrvt):
    paper_grvt.arm("drop_after_execute", account="grvt", mode="close", count=1)
    recorder = Recorder()

    async def scenario(connector):
        handle = await connector.submit_market_order(GRVT_ETH, Side.BUY, Decimal("0.1"), listeners=[recorder])
        return await handle.wait_final(15)

    final = paper_grvt.run(scenario)
    assert final.state is OrderState.FILLED
    assert recorder.lost_path() == [LostAnswerState.SENT, LostAnswerState.LOST, LostAnswerState.RESOLVING,
                                    LostAnswerState.LANDED]
    assert paper_grvt.signed_size() == Decimal("0.1")


def test_a_grvt_order_that_never_landed_is_proven_absent_through_the_table(paper_grvt: PaperGrvt):
    # the gateway answers 5xx without passing the order on: it never reaches the engine
    paper_grvt.arm("error", path="/full/v1/create_order", count=1)
    recorder = Recorder()

    async def scenario(connector):
        connector.fence_ttl_ms = 200
        connector.absence_grace_secs = 0.1
        connector.ioc_expiry_secs = 1
        handle = await connector.submit_market_order(GRVT_ETH, Side.BUY, Decimal("0.1"), listeners=[recorder])
        return await handle.wait_final(30)

    final = paper_grvt.run(scenario)
    assert final.state is OrderState.FAILED
    assert recorder.lost_path() == [LostAnswerState.SENT, LostAnswerState.LOST, LostAnswerState.RESOLVING,
                                    LostAnswerState.PROVEN_ABSENT]
    assert paper_grvt.signed_size() == 0


def test_a_lost_lighter_answer_is_resolved_through_the_table_to_landed(paper_lighter: PaperLighter):
    paper_lighter.arm("drop_after_execute", path="/api/v1/sendTx", count=1)
    recorder = Recorder()

    async def scenario(connector):
        await connector.prepare(LIGHTER_ETH)
        handle = await connector.submit_market_order(LIGHTER_ETH, Side.BUY, Decimal("0.1"), listeners=[recorder])
        return await handle.wait_final(30)

    final = paper_lighter.run(scenario)
    assert final.state is OrderState.FILLED
    assert recorder.lost_path() == [LostAnswerState.SENT, LostAnswerState.LOST, LostAnswerState.RESOLVING,
                                    LostAnswerState.LANDED]
    assert len(paper_lighter.orders()) == 1


def test_a_lighter_market_order_never_confirmed_ends_ambiguous_not_as_a_timeout(paper_lighter: PaperLighter):
    async def scenario(connector):
        connector.streams_enabled = False  # unreadable by REST and by nothing else: a push would confirm it
        await connector.prepare(LIGHTER_ETH)
        connector.confirm_timeout_secs = 0.5
        paper_lighter.arm("error", path="/api/v1/accountOrders", status=503)
        handle = await connector.submit_market_order(LIGHTER_ETH, Side.BUY, Decimal("0.1"))
        with pytest.raises(AmbiguousOutcome) as raised:
            await handle.wait_final(60)
        return raised.value, handle.snapshot()

    error, snapshot = paper_lighter.run(scenario)
    # AmbiguousOutcome says "may have executed"; a VenueUnavailable would tell flatten that nothing was sent
    assert not isinstance(error, VenueUnavailable)
    assert error.client_order_index == snapshot.intent.client_order_index
    assert snapshot.state is not OrderState.FAILED


def test_grvt_cancel_all_returns_only_once_the_venue_lists_no_open_order(paper_grvt: PaperGrvt):
    async def scenario(connector):
        for price in (Decimal("3000"), Decimal("3001")):
            await connector.submit_limit_order(GRVT_ETH, Side.BUY, Decimal("0.05"), price)
        await connector.cancel_all(GRVT_ETH)
        return paper_grvt.resting()

    assert paper_grvt.run(scenario) == []


def test_grvt_cancel_all_that_cannot_see_the_orders_gone_raises_instead_of_returning(paper_grvt: PaperGrvt):
    async def scenario(connector):
        await connector.submit_limit_order(GRVT_ETH, Side.BUY, Decimal("0.05"), Decimal("3000"))
        paper_grvt.arm("error", path="/full/v1/open_orders", status=503)
        with pytest.raises(VenueUnavailable):
            await connector.cancel_all(GRVT_ETH)

    paper_grvt.run(scenario, read_retries=1)
    assert paper_grvt.resting() == []  # the cancel itself went through; only its proof could not be read
