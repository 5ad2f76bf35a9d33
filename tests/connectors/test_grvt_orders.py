"""The GRVT connector's orders against paper GRVT: fills confirmed from the venue, quantization, slippage bounds,
limit orders and cancels, and refusals that fail the tracker and raise."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from hedgectl.config.secrets import Secret
from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.errors import AuthError, ConfigError, InsufficientMargin, InvalidOrder
from hedgectl.model.orders import OrderState, Side

from .grvt_support import ETH, PaperGrvt, paper_grvt  # noqa: F401


def test_market_order_is_confirmed_filled_from_the_venue(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return handle.client_order_index, await handle.wait_final(5)

    index, snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED
    assert snapshot.filled_size == Decimal("0.1")
    [venue_order] = paper_grvt.orders(index)
    assert venue_order["status"] == "filled"
    assert snapshot.average_price == Decimal(venue_order["executed_quote"]) / Decimal("0.1")
    assert snapshot.venue_order_id is not None
    assert paper_grvt.signed_size() == Decimal("0.1")


def test_sell_then_buy_moves_the_venue_position_by_the_signed_sizes(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector) -> None:
        await (await connector.submit_market_order(ETH, Side.SELL, Decimal("0.5"))).wait_final(5)
        await (await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))).wait_final(5)

    paper_grvt.run(scenario)
    assert paper_grvt.signed_size() == Decimal("-0.3")


def test_float_like_size_goes_out_quantized_to_the_step(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        first = await connector.submit_market_order(ETH, Side.BUY, Decimal(repr(0.1 + 0.2)))
        second = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.017"))
        return [await first.wait_final(5), await second.wait_final(5)]

    snapshots = paper_grvt.run(scenario)
    assert [snapshot.intent.size for snapshot in snapshots] == [Decimal("0.3"), Decimal("0.01")]
    assert [snapshot.state for snapshot in snapshots] == [OrderState.FILLED, OrderState.FILLED]
    assert paper_grvt.signed_size() == Decimal("0.31")


def test_size_that_rounds_below_the_step_is_refused_before_sending(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector) -> None:
        await connector.submit_market_order(ETH, Side.BUY, Decimal("0.009"))

    with pytest.raises(InvalidOrder):
        paper_grvt.run(scenario)
    assert paper_grvt.venues.state("grvt")["orders"] == []


def test_market_order_with_slippage_is_an_ioc_limit_at_the_bound(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        book = await connector.top_of_book(ETH)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.2"), max_slippage=Decimal("0.01"))
        return book, await handle.wait_final(5)

    book, snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED
    assert snapshot.info["time_in_force"] == "IMMEDIATE_OR_CANCEL"
    bound = Decimal(snapshot.info["limit_price"])
    assert bound <= book.bid and bound >= book.bid * Decimal("0.99")
    assert snapshot.average_price >= bound


def test_slippage_bound_cancels_what_would_fill_beyond_it(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("20"), max_slippage=Decimal("0.0005"))
        return await handle.wait_final(5)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.CANCELLED
    assert Decimal(0) < snapshot.filled_size < Decimal("20")
    assert snapshot.reason == "IOC_CANCEL"
    assert paper_grvt.signed_size() == snapshot.filled_size


def test_limit_order_rests_until_cancelled(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.05"), Decimal("3000.004"))
        opened = handle.snapshot()
        listed = await connector.open_orders(ETH)
        resting = paper_grvt.resting()
        await handle.cancel()
        return opened, listed, resting, await handle.wait_final(5)

    opened, listed, resting, final = paper_grvt.run(scenario)
    assert opened.state is OrderState.OPEN
    assert [report.price for report in listed] == [Decimal("3000")]
    assert [Decimal(order["price"]) for order in resting] == [Decimal("3000")]
    assert final.state is OrderState.CANCELLED and final.reason == "CLIENT_CANCEL"
    assert paper_grvt.resting() == []


def test_resting_limit_order_fill_is_followed_to_filled(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        book = await connector.top_of_book(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.05"), book.bid)
        paper_grvt.arm("price_move", percent="-1", symbol="ETH")
        return await handle.wait_final(5)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED
    assert paper_grvt.signed_size() == Decimal("0.05")


def test_cancel_all_leaves_nothing_open(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        handles = [await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.05"), Decimal("3000")),
                   await connector.submit_limit_order(ETH, Side.SELL, Decimal("0.05"), Decimal("4000"))]
        await connector.cancel_all(ETH)
        finals = [await handle.wait_final(5) for handle in handles]
        return finals, await connector.open_orders()

    finals, still_open = paper_grvt.run(scenario)
    assert [snapshot.state for snapshot in finals] == [OrderState.CANCELLED, OrderState.CANCELLED]
    assert still_open == [] and paper_grvt.resting() == []


def test_post_only_order_that_would_take_fails_from_the_venue_report(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        book = await connector.top_of_book(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.05"), book.ask, post_only=True)
        return await handle.wait_final(5)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FAILED
    assert snapshot.reason == "FAIL_POST_ONLY"
    assert isinstance(snapshot.error, InvalidOrder)


def test_venue_refusal_raises_and_fails_the_tracker(paper_grvt: PaperGrvt) -> None:
    seen = []
    paper_grvt.arm("reject", count=1)

    async def scenario(connector: GrvtConnector) -> None:
        await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"),
                                            listeners=[lambda snapshot, _: seen.append(snapshot.state)])

    with pytest.raises(InsufficientMargin) as refused:
        paper_grvt.run(scenario)
    assert refused.value.code == 2080
    assert seen == [OrderState.SUBMITTING, OrderState.FAILED]
    assert paper_grvt.signed_size() == 0


def test_reduce_only_without_a_position_is_refused(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector) -> None:
        await connector.submit_market_order(ETH, Side.SELL, Decimal("0.1"), reduce_only=True)

    with pytest.raises(InvalidOrder) as refused:
        paper_grvt.run(scenario)
    assert refused.value.code == 2400


def test_orders_signed_for_the_wrong_chain_are_an_auth_error(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector) -> None:
        await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))

    with pytest.raises(AuthError) as refused:
        paper_grvt.run(scenario, chain_id=325)
    assert refused.value.code == 2002
    assert paper_grvt.signed_size() == 0


def test_unusable_private_key_fails_the_order_before_anything_is_sent(paper_grvt: PaperGrvt) -> None:
    seen: list[OrderState] = []
    config = paper_grvt.config()
    config = replace(config, secrets={**config.secrets, "private_key": Secret("0x1234", source="test")})

    async def scenario() -> None:
        async with GrvtConnector(config) as connector:
            await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"),
                                                listeners=[lambda snapshot, _: seen.append(snapshot.state)])

    with pytest.raises(ConfigError, match="private_key"):
        asyncio.run(scenario())
    assert seen == [OrderState.FAILED]
    assert paper_grvt.venues.state("grvt")["orders"] == []


def test_order_leaves_create_time_to_the_venue_and_sends_no_chain_id_in_its_signature(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return await handle.wait_final(10)

    snapshot = paper_grvt.run(scenario)
    assert snapshot.state is OrderState.FILLED
    record = next(r for r in paper_grvt.venue.records
                  if r.client_order_id == str(snapshot.intent.client_order_index))
    assert record.document["metadata"] == {"client_order_id": str(snapshot.intent.client_order_index)}
    assert "chain_id" not in record.document["signature"]
