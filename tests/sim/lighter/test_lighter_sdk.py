"""The unmodified lighter-sdk trades against paper Lighter: key check, orders, cancels, reads through the SDK's own
API classes, nonce recovery between two clients sharing a key, and sequencer cancellations behind an HTTP 200."""

from __future__ import annotations

import re
from typing import Any

import lighter

from hedgectl.sim.runner import ThreadedPaperVenues

from .support import (
    ETH,
    PaperLighterAccount,
    assert_accepted,
    auth_token,
    best_prices,
    eth_position,
    next_nonce,
    orders_by_client_index,
    run,
    signer,
)

LIMIT = lighter.SignerClient.ORDER_TYPE_LIMIT
GTT = lighter.SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME
POST_ONLY = lighter.SignerClient.ORDER_TIME_IN_FORCE_POST_ONLY


def test_check_client_accepts_the_registered_key_and_refuses_another(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[str | None, str | None]:
        async with signer(lighter1) as client:
            registered = client.check_client()
        private, _, _ = lighter.create_api_key()
        stranger = PaperLighterAccount(lighter1.url, "x", lighter1.account_index, lighter1.api_key_index, private)
        async with signer(stranger) as client:
            other = client.check_client()
        return registered, other

    registered, other = run(scenario())
    assert registered is None
    assert other is not None and "does not match" in other


def test_market_buy_fills_and_reads_back_as_a_long_position_an_order_and_a_trade(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, ...]:
        async with signer(lighter1) as client:
            _, ask = await best_prices(client)
            response = assert_accepted(await client.create_market_order(ETH, 11, 1000, ask + 1000, False))
            orders = await orders_by_client_index(client, lighter1, 11)
            position = await eth_position(client, lighter1)
            trades = await client.order_api.trades(sort_by="timestamp", limit=10,
                                                   authorization=auth_token(client, lighter1),
                                                   account_index=lighter1.account_index)
            tx = await lighter.TransactionApi(client.api_client).tx(by="hash", value=response.tx_hash)
        return orders[11], position, trades.trades, tx, response

    order, position, trades, tx, response = run(scenario())
    assert (order.status, order.filled_base_amount, order.is_ask, order.type) == ("filled", "0.1000", False, "market")
    assert position == (1, "0.1000")
    assert len(trades) == 1 and trades[0].type == "trade" and trades[0].size == "0.1000"
    assert trades[0].bid_client_id == 11 and trades[0].bid_account_id == lighter1.account_index
    assert re.fullmatch(r"[0-9a-f]{80}", response.tx_hash)
    assert (tx.hash, tx.type, tx.status, tx.account_index) == (response.tx_hash, 14, 2, lighter1.account_index)


def test_market_sell_opens_a_short_reported_as_sign_minus_one_and_an_unsigned_size(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[int, str] | None:
        async with signer(lighter1) as client:
            bid, _ = await best_prices(client)
            assert_accepted(await client.create_market_order(ETH, 12, 2500, bid - 1000, True))
            return await eth_position(client, lighter1)

    assert run(scenario()) == (-1, "0.2500")


def test_limit_order_rests_and_cancel_by_client_order_index_cancels_it(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, Any, Any]:
        async with signer(lighter1) as client:
            bid, _ = await best_prices(client)
            assert_accepted(await client.create_order(ETH, 21, 1000, bid - 1000, False, LIMIT, GTT))
            token = auth_token(client, lighter1)
            active = await client.order_api.account_active_orders(authorization=token,
                                                                  account_index=lighter1.account_index,
                                                                  market_id=ETH)
            assert_accepted(await client.cancel_order(ETH, 21))
            after = await client.order_api.account_active_orders(authorization=token,
                                                                 account_index=lighter1.account_index)
            inactive = await client.order_api.account_inactive_orders(authorization=token,
                                                                      account_index=lighter1.account_index,
                                                                      limit=10)
        return active.orders, after.orders, inactive.orders

    active, after, inactive = run(scenario())
    assert [(order.client_order_index, order.status, order.remaining_base_amount) for order in active] == [
        (21, "open", "0.1000")]
    assert after == []
    assert [(order.client_order_index, order.status) for order in inactive] == [(21, "canceled")]


def test_cancel_by_order_index_cancels_that_order_only(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> dict[int, Any]:
        async with signer(lighter1) as client:
            bid, _ = await best_prices(client)
            assert_accepted(await client.create_order(ETH, 31, 1000, bid - 1000, False, LIMIT, GTT))
            assert_accepted(await client.create_order(ETH, 32, 1000, bid - 2000, False, LIMIT, GTT))
            first = (await orders_by_client_index(client, lighter1, 31))[31]
            assert_accepted(await client.cancel_order(ETH, first.order_index))
            return await orders_by_client_index(client, lighter1, 31, 32)

    orders = run(scenario())
    assert (orders[31].status, orders[32].status) == ("canceled", "open")


def test_cancel_all_cancels_every_open_order(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[dict[int, Any], list[Any]]:
        async with signer(lighter1) as client:
            bid, ask = await best_prices(client)
            assert_accepted(await client.create_order(ETH, 41, 1000, bid - 1000, False, LIMIT, GTT))
            assert_accepted(await client.create_order(ETH, 42, 1000, ask + 1000, True, LIMIT, GTT))
            assert_accepted(await client.cancel_all_orders(client.CANCEL_ALL_TIF_IMMEDIATE, 0))
            active = await client.order_api.account_active_orders(authorization=auth_token(client, lighter1),
                                                                  account_index=lighter1.account_index)
            return await orders_by_client_index(client, lighter1, 41, 42), active.orders

    orders, active = run(scenario())
    assert {index: order.status for index, order in orders.items()} == {41: "canceled", 42: "canceled"}
    assert active == []


def test_resting_limit_buy_fills_when_the_market_falls_through_it(venues: ThreadedPaperVenues,
                                                                  lighter1: PaperLighterAccount) -> None:
    async def place() -> int:
        async with signer(lighter1) as client:
            bid, _ = await best_prices(client)
            assert_accepted(await client.create_order(ETH, 51, 1000, bid - 500, False, LIMIT, GTT))
            return bid - 500

    async def read() -> tuple[Any, Any]:
        async with signer(lighter1) as client:
            return (await orders_by_client_index(client, lighter1, 51))[51], await eth_position(client, lighter1)

    price = run(place())
    venues.arm("lighter", "price_move", percent=-1, symbol="ETH")
    order, position = run(read())
    assert (order.status, order.filled_base_amount) == ("filled", "0.1000")
    assert order.filled_quote_amount == f"{price * 1000 / 10**6:.6f}"
    assert position == (1, "0.1000")


def test_post_only_order_that_would_cross_is_canceled_and_reduce_only_without_position_too(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> dict[int, Any]:
        async with signer(lighter1) as client:
            _, ask = await best_prices(client)
            assert_accepted(await client.create_order(ETH, 61, 1000, ask, False, LIMIT, POST_ONLY))
            assert_accepted(await client.create_market_order(ETH, 62, 1000, ask + 1000, False, reduce_only=True))
            return await orders_by_client_index(client, lighter1, 61, 62)

    orders = run(scenario())
    assert (orders[61].status, orders[62].status) == ("canceled-post-only", "canceled-reduce-only")
    assert orders[61].filled_base_amount == orders[62].filled_base_amount == "0.0000"


def test_modify_moves_a_resting_order_and_keeps_its_order_index(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, Any, int]:
        async with signer(lighter1) as client:
            bid, _ = await best_prices(client)
            assert_accepted(await client.create_order(ETH, 71, 1000, bid - 1000, False, LIMIT, GTT))
            before = (await orders_by_client_index(client, lighter1, 71))[71]
            assert_accepted(await client.modify_order(ETH, before.order_index, 2000, bid - 1500))
            after = (await orders_by_client_index(client, lighter1, 71))[71]
            return before, after, bid - 1500

    before, after, new_price = run(scenario())
    assert after.order_index == before.order_index
    assert (after.status, after.remaining_base_amount) == ("open", "0.2000")
    assert after.price == f"{new_price / 100:.2f}"


def test_update_leverage_sets_the_position_initial_margin_fraction(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> str:
        async with signer(lighter1) as client:
            assert_accepted(await client.update_leverage(ETH, client.CROSS_MARGIN_MODE, 5))
            _, ask = await best_prices(client)
            assert_accepted(await client.create_market_order(ETH, 81, 1000, ask + 1000, False))
            answer = await lighter.AccountApi(client.api_client).account(by="index",
                                                                         value=str(lighter1.account_index))
            return answer.accounts[0].positions[0].initial_margin_fraction

    assert run(scenario()) == "20.00"


def test_two_clients_sharing_one_api_key_get_21104_and_the_stale_one_recovers(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[str | None, dict[int, Any]]:
        async with signer(lighter1) as first, signer(lighter1) as second:
            _, ask = await best_prices(first)
            bound = ask + 1000
            assert_accepted(await first.create_market_order(ETH, 91, 100, bound, False))
            assert_accepted(await second.create_market_order(ETH, 92, 100, bound, False))
            _, response, error = await first.create_market_order(ETH, 93, 100, bound, False)
            assert response is None
            assert_accepted(await first.create_market_order(ETH, 93, 100, bound, False))
            return error, await orders_by_client_index(first, lighter1, 91, 92, 93)

    error, orders = run(scenario())
    assert error is not None and "21104" in error and "invalid nonce" in error
    assert {index: order.status for index, order in orders.items()} == {91: "filled", 92: "filled", 93: "filled"}


def test_margin_rejection_is_a_canceled_order_behind_an_http_200_and_consumes_the_nonce(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, Any, int, int]:
        async with signer(lighter1) as client:
            _, ask = await best_prices(client)
            before = await next_nonce(client, lighter1)
            # 60 ETH at 20x needs more than the account's 10000 USDC of collateral.
            assert_accepted(await client.create_market_order(ETH, 101, 600_000, ask + 5000, False))
            order = (await orders_by_client_index(client, lighter1, 101))[101]
            return order, await eth_position(client, lighter1), before, await next_nonce(client, lighter1)

    order, position, before, after = run(scenario())
    assert (order.status, order.filled_base_amount) == ("canceled-margin-not-allowed", "0.0000")
    assert position is None
    assert after == before + 1


def test_market_buy_bounded_below_the_ask_is_canceled_for_slippage_and_consumes_the_nonce(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, int, int]:
        async with signer(lighter1) as client:
            bid, _ = await best_prices(client)
            before = await next_nonce(client, lighter1)
            assert_accepted(await client.create_market_order(ETH, 111, 1000, bid, False))
            order = (await orders_by_client_index(client, lighter1, 111))[111]
            return order, before, await next_nonce(client, lighter1)

    order, before, after = run(scenario())
    assert (order.status, order.filled_base_amount) == ("canceled-too-much-slippage", "0.0000")
    assert after == before + 1


def test_market_order_walks_the_book_so_size_moves_the_average_price(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with signer(lighter1) as client:
            _, ask = await best_prices(client)
            assert_accepted(await client.create_market_order(ETH, 121, 1000, ask + 5000, False))
            assert_accepted(await client.create_market_order(ETH, 122, 80_000, ask + 5000, False))
            orders = await orders_by_client_index(client, lighter1, 121, 122)
            return orders[121], orders[122]

    small, large = run(scenario())
    assert large.status == small.status == "filled"
    small_average = float(small.filled_quote_amount) / float(small.filled_base_amount)
    large_average = float(large.filled_quote_amount) / float(large.filled_base_amount)
    assert large_average > small_average


def test_order_book_orders_carry_exactly_each_markets_decimals(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> dict[int, tuple[Any, Any]]:
        async with signer(lighter1) as client:
            details = await client.order_api.order_book_details()
            books = {market: await client.order_api.order_book_orders(market, 20) for market in (0, 1, 2)}
            return {detail.market_id: (detail, books[detail.market_id]) for detail in details.order_book_details}

    markets = run(scenario())
    assert {market: (detail.symbol, detail.size_decimals, detail.price_decimals)
            for market, (detail, _) in markets.items()} == {0: ("ETH", 4, 2), 1: ("BTC", 5, 1), 2: ("SOL", 3, 3)}
    for detail, book in markets.values():
        price = re.compile(rf"\d+\.\d{{{detail.price_decimals}}}")
        size = re.compile(rf"\d+\.\d{{{detail.size_decimals}}}")
        entries = book.asks + book.bids
        assert len(book.asks) == len(book.bids) == 10
        assert all(price.fullmatch(entry.price) and size.fullmatch(entry.remaining_base_amount) for entry in entries)
        assert float(book.bids[0].price) < float(book.asks[0].price)
        assert size.fullmatch(detail.min_base_amount) and price.fullmatch(detail.mark_price)


def test_send_tx_batch_executes_consecutive_nonces_in_order(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, dict[int, Any]]:
        async with signer(lighter1) as client:
            bid, _ = await best_prices(client)
            nonce = await next_nonce(client, lighter1)
            key = lighter1.api_key_index
            first = client.sign_create_order(ETH, 131, 1000, bid - 1000, 0, LIMIT, GTT, nonce=nonce,
                                             api_key_index=key)
            second = client.sign_cancel_order(ETH, 131, nonce=nonce + 1, api_key_index=key)
            response = await client.send_tx_batch([first[0], second[0]], [first[1], second[1]])
            return response, await orders_by_client_index(client, lighter1, 131)

    response, orders = run(scenario())
    assert response.code == 200 and len(response.tx_hash) == 2
    assert orders[131].status == "canceled"


def test_cancel_of_an_order_that_is_not_open_is_accepted_fails_in_the_sequencer_and_consumes_the_nonce(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, int, int]:
        async with signer(lighter1) as client:
            before = await next_nonce(client, lighter1)
            response = assert_accepted(await client.cancel_order(ETH, 999))
            tx = await lighter.TransactionApi(client.api_client).tx(by="hash", value=response.tx_hash)
            return tx, before, await next_nonce(client, lighter1)

    tx, before, after = run(scenario())
    assert (tx.type, tx.status) == (15, 0)
    assert after == before + 1


def test_a_price_fall_that_breaches_maintenance_liquidates_the_long_with_a_liquidation_trade(
        venues: ThreadedPaperVenues, accounts: dict[str, PaperLighterAccount]) -> None:
    lighter1, lighter2 = accounts["lighter1"], accounts["lighter2"]

    async def open_positions() -> None:
        async with signer(lighter1) as first, signer(lighter2) as second:
            _, ask = await best_prices(first)
            # 45 ETH on 10000 USDC is close to the 20x limit; the small long of lighter2 is far from it.
            assert_accepted(await first.create_market_order(ETH, 1, 450_000, ask + 10_000, False))
            assert_accepted(await second.create_market_order(ETH, 1, 1000, ask + 10_000, False))

    async def read(account: PaperLighterAccount) -> tuple[Any, list[Any]]:
        async with signer(account) as client:
            trades = await client.order_api.trades(sort_by="trade_id", limit=10,
                                                   authorization=auth_token(client, account),
                                                   account_index=account.account_index)
            return await eth_position(client, account), [(trade.type, trade.size) for trade in trades.trades]

    run(open_positions())
    venues.arm("lighter", "price_move", percent=-4, symbol="ETH")
    position, trades = run(read(lighter1))
    assert position == (1, "0.0000")
    assert trades[0] == ("liquidation", "45.0000")
    assert {kind for kind, _ in trades[1:]} == {"trade"}
    assert run(read(lighter2)) == ((1, "0.1000"), [("trade", "0.1000")])
