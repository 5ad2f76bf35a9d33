"""Lighter connector orders against paper Lighter: quantized sizes, local refusals, fills confirmed from the venue,
partial fills, reduce-only, refusals by the sequencer, limit orders, cancel and cancel-all, leverage, liquidations."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from hedgectl.decimals import to_decimal
from hedgectl.errors import BelowMinimumSize, InsufficientMargin, InvalidOrder, PostOnlyRejected, VenueUnavailable
from hedgectl.model.orders import OrderState, Side

from .lighter_support import ETH, PaperLighter, paper_lighter  # noqa: F401


def record_transitions(journal: list):
    return lambda snapshot, transition: journal.append((transition.from_state, transition.to_state))


def test_float_like_size_goes_out_as_a_quantized_string(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, to_decimal(0.1 + 0.2))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    [order] = paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
    assert order["initial_base_amount"] == "0.3000"  # the venue recorded exactly the quantized size
    assert snapshot.intent.size == Decimal("0.3")
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.3")
    assert paper_lighter.signed_size() == Decimal("0.3")


def test_market_order_fill_comes_from_the_venue(paper_lighter: PaperLighter):
    journal: list = []

    async def scenario(connector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("1.5"),
                                                     listeners=[record_transitions(journal)])
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    [order] = paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
    assert order["status"] == "filled" and order["filled_base_amount"] == "1.5000"
    assert snapshot.state is OrderState.FILLED
    assert snapshot.average_price == Decimal(order["filled_quote_amount"]) / Decimal("1.5")
    assert journal[0] == (OrderState.NEW, OrderState.SUBMITTING) and journal[-1][1] is OrderState.FILLED
    assert snapshot.info["nonce"] >= 1 and snapshot.info["api_key_index"] == 3
    assert paper_lighter.signed_size() == Decimal("-1.5")


def test_market_order_carries_a_worst_price_near_the_touch(paper_lighter: PaperLighter):
    async def scenario(connector):
        book = await connector.top_of_book(ETH)
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"), max_slippage=Decimal("0.005"))
        await handle.wait_final(5)
        return book, handle.client_order_index

    book, index = paper_lighter.run(scenario)

    [order] = paper_lighter.orders(client_order_index=index)
    bound = Decimal(order["price"])
    assert book.ask <= bound <= book.ask * Decimal("1.005")


def test_below_minimum_is_refused_locally_and_nothing_is_sent(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        return await connector.submit_market_order(ETH, Side.BUY, Decimal("0.004"))

    nonce_before = paper_lighter.next_nonce()
    with pytest.raises(BelowMinimumSize):
        paper_lighter.run(scenario)
    assert paper_lighter.orders() == []
    assert paper_lighter.next_nonce() == nonce_before


def test_below_minimum_notional_is_refused_locally(paper_lighter: PaperLighter):
    journal: list = []

    async def scenario(connector):
        await connector.prepare("SOL")
        # 0.05 SOL is the minimum size, but at ~180 USDC it is worth 9 USDC, under the 10 USDC minimum notional
        return await connector.submit_market_order("SOL", Side.BUY, Decimal("0.05"),
                                                   listeners=[record_transitions(journal)])

    with pytest.raises(BelowMinimumSize, match="notional"):
        paper_lighter.run(scenario)
    assert journal == [(OrderState.NEW, OrderState.FAILED)]
    assert paper_lighter.orders() == []


def test_partial_fill_is_reported_as_partial(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm("partial_fill", fraction="0.4", count=1)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("1"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.CANCELLED
    assert snapshot.filled_size == Decimal("0.4") == paper_lighter.signed_size()
    assert snapshot.reason == "canceled-not-enough-liquidity"


def test_reduce_only_closes_without_flipping(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        opened = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.5"))
        await opened.wait_final(5)
        closing = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.8"), reduce_only=True)
        return await closing.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    [order] = paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
    assert order["reduce_only"] is True
    assert snapshot.filled_size == Decimal("0.5") and snapshot.state is OrderState.CANCELLED
    assert paper_lighter.signed_size() == 0


def test_reduce_only_with_nothing_to_reduce_fails(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.5"), reduce_only=True)
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FAILED and isinstance(snapshot.error, InvalidOrder)
    assert snapshot.reason == "canceled-reduce-only"
    assert paper_lighter.signed_size() == 0


def test_sequencer_cancelled_market_order_is_not_reported_filled(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm("reject", count=1)  # accepted by sendTx (200), then cancelled by the sequencer
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.5"))
        accepted_state = handle.snapshot().state
        return accepted_state, await handle.wait_final(5)

    accepted_state, snapshot = paper_lighter.run(scenario)

    assert accepted_state is OrderState.OPEN  # sendTx said 200: accepted, not filled
    [order] = paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
    assert order["status"] == "canceled-margin-not-allowed"
    assert snapshot.state is OrderState.FAILED and snapshot.filled_size == 0
    assert isinstance(snapshot.error, InsufficientMargin)
    assert paper_lighter.signed_size() == 0


def test_order_beyond_the_margin_ends_failed_with_insufficient_margin(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        # 100 ETH (~350,000 USDC) on 10,000 USDC of collateral at the 20x maximum
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("100"), max_slippage=Decimal("0.2"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FAILED and isinstance(snapshot.error, InsufficientMargin)
    assert paper_lighter.signed_size() == 0


def test_api_refusal_raises_and_ends_failed(paper_lighter: PaperLighter):
    journal: list = []

    async def scenario(connector):
        await connector.prepare(ETH)
        # a sell whose worst price is far below mark: the venue refuses it at the API (21733)
        return await connector.submit_market_order(ETH, Side.SELL, Decimal("0.5"), max_slippage=Decimal("0.6"),
                                                   listeners=[record_transitions(journal)])

    with pytest.raises(InvalidOrder) as raised:
        paper_lighter.run(scenario)
    assert raised.value.code == 21733
    assert journal[-1] == (OrderState.SUBMITTING, OrderState.FAILED)
    assert paper_lighter.orders() == []


def test_slippage_bound_stops_a_market_order(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        # the best ask holds 2 ETH: 2.5 ETH with no slippage allowed cannot fill past it
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("2.5"), max_slippage=Decimal("0"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.CANCELLED
    assert Decimal(0) < snapshot.filled_size < Decimal("2.5")
    assert snapshot.filled_size == paper_lighter.signed_size()
    assert snapshot.reason == "canceled-too-much-slippage"


def test_limit_order_rests_and_cancel_leaves_nothing_open(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.2"), Decimal("3000"))
        resting = await connector.open_orders(ETH)
        await handle.cancel()
        final = await handle.wait_final(5)
        return resting, final, await connector.open_orders()

    resting, final, after = paper_lighter.run(scenario)

    assert [(order.client_order_index, order.price) for order in resting] == [
        (final.intent.client_order_index, Decimal("3000"))
    ]
    assert final.state is OrderState.CANCELLED and final.filled_size == 0
    assert after == [] and paper_lighter.open_orders() == []


def test_resting_limit_order_fills_when_the_market_comes(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        book = await connector.top_of_book(ETH)
        handle = await connector.submit_limit_order(ETH, Side.SELL, Decimal("0.3"), book.ask + 5)
        paper_lighter.arm("price_move", percent="1", symbol="ETH")
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.3")
    assert paper_lighter.signed_size() == Decimal("-0.3")


def test_post_only_that_would_cross_fails(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        book = await connector.top_of_book(ETH)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.2"), book.ask + 1, post_only=True)
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)
    assert snapshot.state is OrderState.FAILED and isinstance(snapshot.error, PostOnlyRejected)


def test_cancel_all_leaves_nothing_open(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await connector.prepare("BTC")
        handles = [
            await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.1"), Decimal("3000")),
            await connector.submit_limit_order(ETH, Side.SELL, Decimal("0.1"), Decimal("4000")),
            await connector.submit_limit_order("BTC", Side.BUY, Decimal("0.001"), Decimal("90000")),
        ]
        before = await connector.open_orders()
        await connector.cancel_all()
        finals = [await handle.wait_final(5) for handle in handles]
        return before, finals, await connector.open_orders()

    before, finals, after = paper_lighter.run(scenario)

    assert len(before) == 3
    assert all(snapshot.state is OrderState.CANCELLED for snapshot in finals)
    assert after == [] and paper_lighter.open_orders() == []


def test_cancel_all_of_one_market_keeps_the_others(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        await connector.prepare("BTC")
        await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.1"), Decimal("3000"))
        await connector.submit_limit_order("BTC", Side.BUY, Decimal("0.001"), Decimal("90000"))
        await connector.cancel_all(ETH)
        return await connector.open_orders()

    remaining = paper_lighter.run(scenario)
    assert [order.symbol for order in remaining] == ["BTC"]


def test_update_leverage_reaches_the_venue(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.update_leverage(ETH, 4)

    paper_lighter.run(scenario)
    assert paper_lighter.state()["accounts"]["lighter1"]["leverage"] == {"ETH": "4"}


def test_liquidation_shows_as_a_liquidation_fill(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.5"))
        await handle.wait_final(5)
        paper_lighter.arm("liquidate", account="lighter1")
        return await connector.fills(ETH), await connector.positions()

    fills, positions = paper_lighter.run(scenario)

    assert [(fill.side, fill.kind, fill.size) for fill in fills] == [
        (Side.BUY, "trade", Decimal("0.5")),
        (Side.SELL, "liquidation", Decimal("0.5")),
    ]
    assert positions == []


def test_order_to_a_down_venue_fails_without_sending(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm("down", seconds=30)
        return await connector.submit_market_order(ETH, Side.BUY, Decimal("0.5"))

    with pytest.raises(VenueUnavailable):
        paper_lighter.run(scenario)


def test_concurrent_orders_on_one_connector_all_fill_once(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        handles = await asyncio.gather(*(
            connector.submit_market_order(ETH, Side.BUY, Decimal("0.1")) for _ in range(5)
        ))
        return [await handle.wait_final(5) for handle in handles]

    snapshots = paper_lighter.run(scenario)

    assert all(snapshot.state is OrderState.FILLED for snapshot in snapshots)
    assert all(snapshot.info["attempts"] == 1 for snapshot in snapshots)
    assert paper_lighter.signed_size() == Decimal("0.5")
    assert paper_lighter.audit() == []


def test_fills_since_a_moment_leave_out_older_trades(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        first = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        await first.wait_final(5)
        everything_before = await connector.fills(ETH)
        moment = max(fill.at for fill in everything_before) + 0.001
        await asyncio.sleep(0.01)
        second = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.2"))
        await second.wait_final(5)
        return await connector.fills(ETH), await connector.fills(ETH, since=moment), second.client_order_index

    every, recent, second_index = paper_lighter.run(scenario)

    assert [fill.size for fill in every] == [Decimal("0.1"), Decimal("0.2")]
    assert [(fill.side, fill.size, fill.client_order_index) for fill in recent] == [
        (Side.SELL, Decimal("0.2"), second_index)
    ]


def test_a_market_order_cancelled_for_slippage_makes_the_next_one_read_the_book_afresh(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)  # the bound of the next order comes from this book
        paper_lighter.arm("price_move", percent="-3", symbol="ETH")
        first = await (await connector.submit_market_order(ETH, Side.SELL, Decimal("0.2"))).wait_final(5)
        second = await (await connector.submit_market_order(ETH, Side.SELL, Decimal("0.2"))).wait_final(5)
        return first, second

    first, second = paper_lighter.run(scenario)

    assert first.state is OrderState.CANCELLED and first.filled_size == 0
    assert second.state is OrderState.FILLED
    assert paper_lighter.signed_size() == Decimal("-0.2")


def test_an_intent_signed_ahead_goes_out_with_that_signature_and_executes_once(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        intent = await connector.build_intent(ETH, Side.BUY, Decimal("0.3"))
        await connector.presign(intent)
        nothing_sent = paper_lighter.orders() == []
        snapshot = await (await connector.submit_order(intent)).wait_final(5)
        return nothing_sent, snapshot

    nothing_sent, snapshot = paper_lighter.run(scenario)

    assert nothing_sent
    [order] = paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
    assert snapshot.state is OrderState.FILLED and snapshot.info["signed_ahead"] is True
    assert paper_lighter.signed_size() == Decimal("0.3") and paper_lighter.audit() == []


def test_a_signature_made_ahead_is_not_used_for_another_intent_or_a_spent_nonce(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        planned = await connector.build_intent(ETH, Side.BUY, Decimal("0.3"))
        await connector.presign(planned)
        await (await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))).wait_final(5)  # spends the nonce
        first = await (await connector.submit_order(planned)).wait_final(5)
        smaller = await connector.build_intent(ETH, Side.BUY, Decimal("0.2"))
        await connector.presign(smaller)
        resized = replace(smaller, size=Decimal("0.25"))  # what was signed ahead is not what is sent
        second = await (await connector.submit_order(resized)).wait_final(5)
        return first, second

    first, second = paper_lighter.run(scenario)

    assert first.state is OrderState.FILLED and first.info["signed_ahead"] is False
    assert second.state is OrderState.FILLED and second.info["signed_ahead"] is False
    assert second.filled_size == Decimal("0.25")
    assert paper_lighter.signed_size() == Decimal("0.65") and paper_lighter.audit() == []
