"""Flattening for sure, against paper Lighter: through a venue outage, and a remainder below the market minimum."""

from __future__ import annotations

from decimal import Decimal

from hedgectl.execution.flatten import flatten_position
from hedgectl.model.orders import Side
from tests.connectors.lighter_support import ETH, PaperLighter, paper_lighter  # noqa: F401


async def _open(connector, *trades: tuple[Side, str]) -> None:
    await connector.prepare(ETH)
    for side, size in trades:
        await (await connector.submit_market_order(ETH, side, Decimal(size))).wait_final(5)


def test_a_remainder_below_the_minimum_is_grown_then_closed(paper_lighter: PaperLighter):
    async def scenario(connector):
        await _open(connector, (Side.BUY, "0.01"), (Side.SELL, "0.0065"))  # 0.0035 left, the minimum is 0.005
        return await flatten_position(connector, ETH)

    result = paper_lighter.run(scenario)

    assert result.before == Decimal("0.0035")
    assert result.flat, result.errors
    assert paper_lighter.signed_size() == 0
    assert [order.intent.size for order in result.orders] == [Decimal("0.005"), Decimal("0.0085")]


def test_a_venue_down_for_seconds_is_waited_for_instead_of_leaving_the_leg_open(paper_lighter: PaperLighter):
    async def scenario(connector):
        await _open(connector, (Side.SELL, "0.3"))
        paper_lighter.arm("down", seconds=2.5)
        return await flatten_position(connector, ETH)

    result = paper_lighter.run(scenario)

    assert result.flat, result.errors
    assert paper_lighter.signed_size() == 0


def test_the_first_close_is_sized_from_the_pushed_position_and_reduce_only(paper_lighter: PaperLighter):
    async def scenario(connector):
        await _open(connector, (Side.BUY, "0.3"))
        return await flatten_position(connector, ETH, pushed_size=Decimal("0.3"))

    result = paper_lighter.run(scenario)

    assert result.flat, result.errors
    assert paper_lighter.signed_size() == 0
    first = result.orders[0].intent
    assert (first.side, first.size, first.reduce_only) == (Side.SELL, Decimal("0.3"), True)
    assert len(result.orders) == 1


def test_a_pushed_flat_position_is_never_taken_as_flat(paper_lighter: PaperLighter):
    async def scenario(connector):
        await _open(connector, (Side.SELL, "0.2"))
        return await flatten_position(connector, ETH, pushed_size=Decimal(0))

    result = paper_lighter.run(scenario)

    assert result.before == Decimal("-0.2")  # read, not the push
    assert result.flat, result.errors
    assert paper_lighter.signed_size() == 0


def test_a_stale_pushed_position_on_the_wrong_side_never_grows_the_position(paper_lighter: PaperLighter):
    async def scenario(connector):
        await _open(connector, (Side.BUY, "0.2"))
        return await flatten_position(connector, ETH, pushed_size=Decimal("-0.2"))

    result = paper_lighter.run(scenario)

    assert result.orders[0].intent.reduce_only and result.orders[0].filled_size == 0
    assert result.flat, result.errors
    assert paper_lighter.signed_size() == 0


def test_a_stale_pushed_position_larger_than_the_real_one_does_not_cross_zero(paper_lighter: PaperLighter):
    async def scenario(connector):
        await _open(connector, (Side.BUY, "0.2"))
        return await flatten_position(connector, ETH, pushed_size=Decimal("0.5"))

    result = paper_lighter.run(scenario)

    assert result.orders[0].filled_size <= Decimal("0.2")
    assert result.flat, result.errors
    assert paper_lighter.signed_size() == 0
