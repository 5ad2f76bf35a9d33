"""Lost answers on GRVT orders: resolved by client order index at the venue, never by resending; an order that never
reached the venue is fenced and declared failed only once it can no longer land."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.errors import AmbiguousOutcome, VenueUnavailable
from hedgectl.model.orders import OrderState, Side

from .grvt_support import ETH, PaperGrvt, paper_grvt  # noqa: F401


def submit_and_wait(paper_grvt: PaperGrvt, side: Side, size: str, **config: object):
    states: list[OrderState] = []

    async def scenario(connector: GrvtConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, side, Decimal(size),
                                                     listeners=[lambda snapshot, _: states.append(snapshot.state)])
        return handle.client_order_index, await handle.wait_final(10)

    index, snapshot = paper_grvt.run(scenario, **config)
    return index, snapshot, states


@pytest.mark.parametrize("mode", ["close", "504"])
def test_dropped_answer_is_resolved_by_client_order_index_without_a_duplicate(paper_grvt: PaperGrvt,
                                                                              mode: str) -> None:
    paper_grvt.arm("drop_after_execute", account="grvt", mode=mode, count=1)
    index, snapshot, states = submit_and_wait(paper_grvt, Side.BUY, "0.2")
    assert OrderState.UNKNOWN in states
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    assert len(paper_grvt.orders(index)) == 1
    assert paper_grvt.audit() == []
    assert paper_grvt.signed_size() == Decimal("0.2")


def test_order_that_never_reached_the_matching_engine_is_fenced_and_failed(paper_grvt: PaperGrvt) -> None:
    paper_grvt.arm("error", path="/full/v1/create_order", count=1)
    index, snapshot, states = submit_and_wait(paper_grvt, Side.SELL, "0.1", ioc_expiry_secs=1)
    assert states[:2] == [OrderState.SUBMITTING, OrderState.UNKNOWN]
    assert snapshot.state is OrderState.FAILED
    assert "absent" in snapshot.reason
    assert snapshot.final_at > snapshot.info["signature_expires_at"]
    fences = paper_grvt.venues.state("grvt")["cancel_fences"]
    assert [fence["client_order_id"] for fence in fences] == [str(index)]
    assert paper_grvt.orders(index) == []
    assert paper_grvt.signed_size() == 0


def test_refused_connection_fails_the_order_without_sending_it(paper_grvt: PaperGrvt) -> None:
    seen: list[OrderState] = []

    async def scenario(connector: GrvtConnector) -> None:
        await connector.prepare(ETH)
        paper_grvt.arm("down", seconds=2)
        await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"),
                                            listeners=[lambda snapshot, _: seen.append(snapshot.state)])

    with pytest.raises(VenueUnavailable):
        paper_grvt.run(scenario)
    assert seen[-1] is OrderState.FAILED
    assert paper_grvt.venues.state("grvt")["orders"] == []


def test_resting_order_that_never_landed_fails_once_its_fence_has_run_out(paper_grvt: PaperGrvt) -> None:
    paper_grvt.arm("error", path="/full/v1/create_order", count=1)

    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.05"), Decimal("3000"))
        return handle.client_order_index, await handle.wait_final(10)

    index, snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FAILED
    fences = paper_grvt.venues.state("grvt")["cancel_fences"]
    assert [fence["client_order_id"] for fence in fences] == [str(index)]
    assert paper_grvt.resting() == [] and paper_grvt.orders(index) == []


def test_lost_answer_stays_unknown_while_the_venue_cannot_be_read(paper_grvt: PaperGrvt) -> None:
    paper_grvt.arm("drop_after_execute", count=1)
    paper_grvt.arm("error", path="/full/v1/order", status=503)
    seen: list[OrderState] = []

    async def scenario(connector: GrvtConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"),
                                                     listeners=[lambda snapshot, _: seen.append(snapshot.state)])
        with pytest.raises(AmbiguousOutcome) as unresolved:
            await handle.wait_final(10)
        return handle.client_order_index, handle.snapshot(), unresolved.value

    index, snapshot, error = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.UNKNOWN and seen[-1] is OrderState.UNKNOWN
    assert error.client_order_index == index
    assert len(paper_grvt.orders(index)) == 1
