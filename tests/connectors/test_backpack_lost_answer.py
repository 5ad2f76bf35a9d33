"""Order requests whose answer is lost: resolved by clientId at the venue, never resent, never duplicated."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.errors import AmbiguousOutcome, VenueUnavailable
from hedgectl.model.orders import OrderSnapshot, OrderState, Side, Transition

from .conftest import ETH, PaperBackpack, eventually, in_thread


class States:
    def __init__(self) -> None:
        self.seen: list[OrderState] = []

    def __call__(self, snapshot: OrderSnapshot, transition: Transition) -> None:
        self.seen.append(transition.to_state)


@pytest.mark.parametrize("mode", ["close", "504"])
def test_answer_lost_after_execution_resolves_to_the_fill_without_a_second_order(
    paper_backpack: PaperBackpack, mode: str
) -> None:
    paper_backpack.arm("drop_after_execute", mode=mode, count=1, path="/api/v1/order")
    states = States()

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"), listeners=[states])
        assert handle.snapshot().state is OrderState.UNKNOWN
        return handle, await handle.wait_final(15)

    handle, final = paper_backpack.run(scenario)
    assert states.seen == [OrderState.SUBMITTING, OrderState.UNKNOWN, OrderState.FILLED]
    assert final.filled_size == Decimal("0.2") and final.average_price is not None
    assert len(paper_backpack.orders(handle.client_order_index)) == 1
    assert paper_backpack.signed_size() == Decimal("0.2")
    assert paper_backpack.audit() == []


def test_answer_lost_to_a_client_timeout_resolves_to_the_executed_order(paper_backpack: PaperBackpack) -> None:
    # The venue executes at once but answers only after the client stopped waiting.
    paper_backpack.arm("drop_after_execute", mode="504", delay_ms=800, count=1, path="/api/v1/order")

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.3"))
        assert handle.snapshot().state is OrderState.UNKNOWN
        assert "ReadTimeout" in (handle.snapshot().reason or "")
        return handle, await handle.wait_final(15)

    handle, final = paper_backpack.run(scenario, timeout_secs=0.3)
    assert final.state is OrderState.FILLED and final.filled_size == Decimal("0.3")
    assert len(paper_backpack.orders(handle.client_order_index)) == 1
    assert paper_backpack.signed_size() == Decimal("-0.3")


def test_client_timeout_on_a_request_the_venue_never_executed_ends_failed(paper_backpack: PaperBackpack) -> None:
    # The client hangs up while the venue is still delaying the request, so the venue never executes it.
    paper_backpack.arm("latency", ms=800, count=1, path="/api/v1/order")

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.3"))
        assert handle.snapshot().state is OrderState.UNKNOWN
        return await handle.wait_final(15)

    final = paper_backpack.run(scenario, timeout_secs=0.3, window_ms=500)
    assert final.state is OrderState.FAILED and isinstance(final.error, VenueUnavailable)
    assert paper_backpack.orders() == [] and paper_backpack.signed_size() == 0


def test_lost_answer_to_a_limit_order_finds_it_resting(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("drop_after_execute", count=1, path="/api/v1/order")

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.1"), Decimal("3000"))
        while handle.snapshot().state is OrderState.UNKNOWN:
            await handle.next_update(5)
        opened = handle.snapshot().state
        await handle.cancel()
        return handle, opened, await handle.wait_final(5)

    handle, opened, final = paper_backpack.run(scenario)
    assert opened is OrderState.OPEN and final.state is OrderState.CANCELLED
    assert len(paper_backpack.orders(handle.client_order_index)) == 1
    assert paper_backpack.open_orders() == []


def test_server_error_before_execution_is_proven_absent_once_the_window_passed(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("error", status=500, count=1, path="/api/v1/order")
    states = States()

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"), listeners=[states])
        assert handle.snapshot().state is OrderState.UNKNOWN
        return await handle.wait_final(15)

    final = paper_backpack.run(scenario, window_ms=300)
    assert states.seen == [OrderState.SUBMITTING, OrderState.UNKNOWN, OrderState.FAILED]
    assert isinstance(final.error, VenueUnavailable) and "never reached the venue" in final.error.message
    assert paper_backpack.orders() == [] and paper_backpack.signed_size() == 0


def test_order_to_a_venue_that_is_down_fails_without_being_sent(paper_backpack: PaperBackpack) -> None:
    states = States()

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        await connector.sync_clock(force=True)
        paper_backpack.arm("down", seconds=0.5)
        with pytest.raises(VenueUnavailable):
            await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"), listeners=[states])
        await eventually(lambda: not paper_backpack.venue.is_down)
        return await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))

    retry = paper_backpack.run(scenario)
    assert states.seen == [OrderState.SUBMITTING, OrderState.FAILED]
    assert retry.snapshot().state is OrderState.FILLED
    assert [order["client_id"] for order in paper_backpack.orders()] == [retry.client_order_index]
    assert paper_backpack.signed_size() == Decimal("0.2")


def test_lost_answer_with_reads_failing_for_a_while_still_resolves(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("drop_after_execute", count=1, path="/api/v1/order")

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        # Every read the resolution makes fails a few times before the venue answers again.
        await in_thread(lambda: paper_backpack.arm("error", status=503, count=4, path="/api/v1/order"))
        await in_thread(lambda: paper_backpack.arm("error", status=502, count=4, path="/wapi/v1/history"))
        return handle, await handle.wait_final(20)

    handle, final = paper_backpack.run(scenario, read_retries=1)
    assert final.state is OrderState.FILLED and final.filled_size == Decimal("0.2")
    assert len(paper_backpack.orders(handle.client_order_index)) == 1


def test_lost_order_after_a_filled_one_is_proven_absent_against_the_position_that_fill_left(
    paper_backpack: PaperBackpack,
) -> None:
    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)  # reads the position: flat
        first = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        await first.wait_final(15)
        await in_thread(lambda: paper_backpack.arm("error", status=500, count=1, path="/api/v1/order"))
        second = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        assert second.snapshot().state is OrderState.UNKNOWN
        return await second.wait_final(15)

    final = paper_backpack.run(scenario, window_ms=300)
    # no position read since the first order: the proof compares with flat moved by that order's own fill
    assert final.state is OrderState.FAILED and "never reached the venue" in final.error.message
    assert paper_backpack.signed_size() == Decimal("0.2")


def test_lost_order_of_an_account_someone_else_traded_meanwhile_is_not_proven_absent(
    paper_backpack: PaperBackpack,
) -> None:
    async def scenario(connector: BackpackConnector):
        connector.resolve_timeout_secs = 0.5
        await connector.prepare(ETH)
        paper_backpack.arm("error", status=500, count=1, path="/api/v1/order")
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        # another client of the account trades while the lost answer is being resolved
        async with BackpackConnector(paper_backpack.config(name="other")) as other:
            await other.prepare(ETH)
            sell = await other.submit_market_order(ETH, Side.SELL, Decimal("0.3"),
                                                   client_order_index=handle.client_order_index + 1)
            await sell.wait_final(15)
        with pytest.raises(AmbiguousOutcome):
            await handle.wait_final(15)
        return handle.snapshot()

    snapshot = paper_backpack.run(scenario, window_ms=300)
    assert snapshot.state is OrderState.UNKNOWN
    assert paper_backpack.orders(snapshot.intent.client_order_index) == []
