"""Backpack reads against paper Backpack: positions with their sign, balance, fills, book, and reads that fail
(5xx, 429, slow, down) raising instead of reporting zero, with bounded retries recovering from short trouble."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.errors import InvalidOrder, RateLimited, VenueTimeout, VenueUnavailable
from hedgectl.model.orders import Side
from hedgectl.sim.exchange.records import Side as EngineSide

from .conftest import ETH, PaperBackpack, SkewedClock


def _trade_on_the_venue(paper_backpack: PaperBackpack, side: EngineSide, quantity: str) -> None:
    """A trade on the account made by another client (straight into the venue's engine)."""
    paper_backpack.engine(
        lambda: paper_backpack.venue.exchange.submit_order("backpack", ETH, side, Decimal(quantity))
    )


def test_short_made_by_another_client_reads_back_as_a_negative_signed_size(paper_backpack: PaperBackpack) -> None:
    _trade_on_the_venue(paper_backpack, EngineSide.SELL, "0.37")

    async def scenario(connector: BackpackConnector):
        return await connector.positions(), await connector.position(ETH)

    positions, position = paper_backpack.run(scenario)
    assert [(p.symbol, p.signed_size) for p in positions] == [(ETH, Decimal("-0.37"))]
    assert position.signed_size == Decimal("-0.37") and not position.is_flat
    assert position.entry_price and position.mark_price and position.liquidation_price > position.mark_price
    assert position.unrealized_pnl is not None and position.venue == "backpack" and position.connector == "backpack"


def test_long_made_by_another_client_reads_back_positive(paper_backpack: PaperBackpack) -> None:
    _trade_on_the_venue(paper_backpack, EngineSide.BUY, "0.5")
    position = paper_backpack.run(lambda connector: connector.position(ETH))
    assert position.signed_size == Decimal("0.5")
    assert position.liquidation_price is None  # the venue answers "0": this long cannot be liquidated above zero


def test_flat_account_reads_an_explicit_zero(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        return await connector.positions(), await connector.position(ETH)

    positions, position = paper_backpack.run(scenario)
    assert positions == [] and position.is_flat


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_position_read_error_raises_and_is_never_reported_flat(paper_backpack: PaperBackpack, status: int) -> None:
    _trade_on_the_venue(paper_backpack, EngineSide.BUY, "0.2")
    paper_backpack.arm("error", status=status, path="/api/v1/position")

    async def scenario(connector: BackpackConnector) -> None:
        with pytest.raises(VenueUnavailable) as caught:
            await connector.positions()
        assert caught.value.status == status
        with pytest.raises(VenueUnavailable):
            await connector.position(ETH)

    paper_backpack.run(scenario, read_retries=1)


def test_maintenance_answer_is_venue_unavailable_with_its_code(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("error", status=503, path="/api/v1/capital")

    async def scenario(connector: BackpackConnector) -> None:
        with pytest.raises(VenueUnavailable) as caught:
            await connector.balance()
        assert caught.value.code == "MAINTENANCE"

    paper_backpack.run(scenario, read_retries=1)


def test_bounded_read_retries_recover_from_a_few_errors(paper_backpack: PaperBackpack) -> None:
    _trade_on_the_venue(paper_backpack, EngineSide.SELL, "0.2")
    paper_backpack.arm("error", status=500, count=2, path="/api/v1/position")

    position = paper_backpack.run(lambda connector: connector.position(ETH), read_retries=3)
    assert position.signed_size == Decimal("-0.2")


def test_read_retries_are_bounded(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("error", status=500, count=3, path="/api/v1/position")

    async def scenario(connector: BackpackConnector) -> None:
        with pytest.raises(VenueUnavailable):
            await connector.positions()
        assert await connector.positions() == []  # the fourth read, after the fault is used up

    paper_backpack.run(scenario, read_retries=3)


def test_rate_limited_read_raises_rate_limited_and_retries_recover(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("rate_limit", count=1, path="/api/v1/capital")

    async def scenario(connector: BackpackConnector) -> None:
        with pytest.raises(RateLimited) as caught:
            await connector.balance()
        assert caught.value.status == 429 and caught.value.code == "TOO_MANY_REQUESTS"

    paper_backpack.run(scenario, read_retries=1)
    paper_backpack.arm("rate_limit", count=2, path="/api/v1/capital")
    balance = paper_backpack.run(lambda connector: connector.balance(), read_retries=3)
    assert balance.equity == Decimal("10000")


def test_slow_venue_read_times_out_as_venue_timeout(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("latency", ms=1500, count=1, path="/api/v1/position")

    async def scenario(connector: BackpackConnector) -> None:
        with pytest.raises(VenueTimeout):
            await connector.positions()

    paper_backpack.run(scenario, timeout_secs=0.3, read_retries=1)


def test_latency_within_the_timeout_is_only_slower(paper_backpack: PaperBackpack) -> None:
    _trade_on_the_venue(paper_backpack, EngineSide.BUY, "0.1")
    paper_backpack.arm("latency", ms=100, path="/api/v1/position")

    async def scenario(connector: BackpackConnector):
        position = await connector.position(ETH)
        return position, connector.last_latency_ms

    position, latency = paper_backpack.run(scenario)
    assert position.signed_size == Decimal("0.1") and latency >= 100


def test_down_venue_read_raises_and_recovers_once_it_is_back(paper_backpack: PaperBackpack) -> None:
    _trade_on_the_venue(paper_backpack, EngineSide.BUY, "0.1")

    async def scenario(connector: BackpackConnector):
        await connector.check()
        paper_backpack.arm("down", seconds=0.4)
        with pytest.raises(VenueUnavailable):
            await connector.positions()
        while paper_backpack.venue.is_down:
            await asyncio.sleep(0.05)
        return await connector.position(ETH)

    position = paper_backpack.run(scenario, read_retries=1)
    assert position.signed_size == Decimal("0.1")


def test_balance_reports_equity_and_available_from_collateral(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        before = await connector.balance()
        await connector.submit_market_order(ETH, Side.BUY, Decimal("1"))
        return before, await connector.balance()

    before, after = paper_backpack.run(scenario)
    assert before.equity == before.available == Decimal("10000") and before.asset == "USDC"
    assert after.available < after.equity < before.equity  # margin is locked, the fee is paid


def test_fills_report_trades_and_liquidations_oldest_first(paper_backpack: PaperBackpack) -> None:
    started = time.time() - 1

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.4"))
        return handle

    handle = paper_backpack.run(scenario)
    paper_backpack.arm("liquidate", account="backpack")

    async def read(connector: BackpackConnector):
        return await connector.fills(ETH, since=started), await connector.fills(since=time.time() + 60)

    fills, future = paper_backpack.run(read)
    assert [(fill.kind, fill.side) for fill in fills][-1] == ("liquidation", Side.SELL)
    trades = [fill for fill in fills if fill.kind == "trade"]
    assert sum(fill.size for fill in trades) == Decimal("0.4")
    assert {fill.client_order_index for fill in trades} == {handle.client_order_index}
    assert all(fill.fee > 0 for fill in trades) and fills == sorted(fills, key=lambda fill: fill.at)
    assert future == []


def test_top_of_book_has_the_best_bid_below_the_best_ask(paper_backpack: PaperBackpack) -> None:
    best_bid, best_ask = paper_backpack.best_bid_ask()
    book = paper_backpack.run(lambda connector: connector.top_of_book(ETH))
    assert (book.bid, book.ask) == (best_bid, best_ask)
    assert book.bid_size > 0 and book.ask_size > 0 and book.bid < book.mid < book.ask


def test_unknown_symbol_is_an_invalid_order(paper_backpack: PaperBackpack) -> None:
    async def scenario(connector: BackpackConnector) -> None:
        with pytest.raises(InvalidOrder) as caught:
            await connector.prepare("DOGE_USDC_PERP")
        assert caught.value.code == "INVALID_SYMBOL"

    paper_backpack.run(scenario)


def test_a_first_read_goes_out_at_once_without_asking_the_venue_clock(paper_backpack: PaperBackpack) -> None:
    arrivals = paper_backpack.venues.call_sync(paper_backpack.venue.record_arrivals)

    async def scenario():
        async with BackpackConnector(paper_backpack.config()) as connector:
            return await connector.positions()

    assert asyncio.run(scenario()) == []
    assert [path for _, _, path in paper_backpack.venues.call_sync(lambda: list(arrivals))] == ["/api/v1/position"]


def test_a_first_read_on_a_skewed_clock_learns_the_venue_clock_and_succeeds(paper_backpack: PaperBackpack) -> None:
    async def scenario():
        async with BackpackConnector(paper_backpack.config(), clock=SkewedClock(-30)) as connector:
            return await connector.positions(), connector.clock_offset_ms

    positions, offset = asyncio.run(scenario())
    assert positions == [] and offset > 29_000

