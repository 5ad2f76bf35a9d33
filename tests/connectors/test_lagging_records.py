"""Venue records that trail the engine (the paper venues' ``lag`` fault): orders, trades and transactions listed
seconds after they executed while positions are current. Every connector must confirm from the records once they
show, and must never take a record not shown yet for an order that never landed, so nothing is sent twice.

Venues and connectors share one simulated clock: the lag windows pass as the connectors wait, without real waiting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgectl.clock import SimulatedClock
from hedgectl.model.orders import OrderState, Side

from .conftest import ETH as BACKPACK_ETH
from .conftest import PaperBackpack
from .grvt_support import ETH as GRVT_ETH
from .grvt_support import PaperGrvt
from .lighter_support import ETH as LIGHTER_ETH
from .lighter_support import PaperLighter


@pytest.fixture
def simulated_clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def paper_lighter(paper_venues_factory, simulated_clock) -> PaperLighter:
    return PaperLighter(paper_venues_factory(kinds=["lighter"], clock=simulated_clock), simulated_clock)


@pytest.fixture
def paper_backpack(paper_venues_factory, simulated_clock) -> PaperBackpack:
    return PaperBackpack(paper_venues_factory(kinds=["backpack"], clock=simulated_clock), simulated_clock)


@pytest.fixture
def paper_grvt(paper_venues_factory, simulated_clock) -> PaperGrvt:
    return PaperGrvt(paper_venues_factory(kinds=["grvt"], clock=simulated_clock), simulated_clock)


def _market(symbol: str, side: Side, size: str, *, lose_answer=None, wait: float = 20):
    async def scenario(connector):
        await connector.prepare(symbol)
        if lose_answer is not None:
            lose_answer()
        handle = await connector.submit_market_order(symbol, side, Decimal(size))
        return await handle.wait_final(wait)

    return scenario


def test_lighter_market_order_is_confirmed_once_its_records_show(paper_lighter: PaperLighter):
    paper_lighter.arm("lag", account="lighter1", ms=1500)
    nonce = paper_lighter.next_nonce()

    snapshot = paper_lighter.run(_market(LIGHTER_ETH, Side.BUY, "0.4"))

    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.4")
    assert len(paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)) == 1
    assert paper_lighter.next_nonce() == nonce + 1
    assert paper_lighter.signed_size() == Decimal("0.4") and paper_lighter.audit() == []


@pytest.mark.parametrize("lag_ms", [2500, 8000])
def test_lighter_lost_answer_with_trailing_records_is_never_sent_again(paper_lighter: PaperLighter, lag_ms: int):
    paper_lighter.arm("lag", account="lighter1", ms=lag_ms)
    lose = lambda: paper_lighter.arm("drop_after_execute", path="/api/v1/sendTx", count=1)  # noqa: E731

    try:
        snapshot = paper_lighter.run(_market(LIGHTER_ETH, Side.SELL, "0.3", lose_answer=lose, wait=30))
        state = snapshot.state
    except Exception as exc:  # an outcome left unknown is acceptable; a second order is not
        state = type(exc).__name__

    executed = [o for o in paper_lighter.orders() if Decimal(o["filled_base_amount"]) > 0]
    assert len(executed) == 1, executed
    assert paper_lighter.signed_size() == Decimal("-0.3") and paper_lighter.audit() == []
    if lag_ms < 5000:
        assert state is OrderState.FILLED


def test_backpack_lost_answer_with_trailing_history_is_never_sent_again(paper_backpack: PaperBackpack):
    paper_backpack.arm("lag", account="backpack", ms=3000)
    paper_backpack.arm("drop_after_execute", mode="close", count=1, path="/api/v1/order")

    snapshot = paper_backpack.run(_market(BACKPACK_ETH, Side.BUY, "0.2"))

    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    assert len(paper_backpack.orders(snapshot.intent.client_order_index)) == 1
    assert len(paper_backpack.orders()) == 1
    assert paper_backpack.signed_size() == Decimal("0.2") and paper_backpack.audit() == []


def test_grvt_lost_answer_with_trailing_records_is_never_sent_again(paper_grvt: PaperGrvt):
    paper_grvt.arm("lag", account="grvt", ms=3000)
    paper_grvt.arm("drop_after_execute", account="grvt", mode="close", count=1)

    snapshot = paper_grvt.run(_market(GRVT_ETH, Side.SELL, "0.2"))

    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    assert len(paper_grvt.orders(snapshot.intent.client_order_index)) == 1
    assert paper_grvt.signed_size() == Decimal("-0.2") and paper_grvt.audit() == []
