"""The Lighter side of the fault kinds, seen through the unmodified lighter-sdk and over raw HTTP: nonce skew,
lost answers after execution, partial fills, rejections, forced liquidation, price shocks, 5xx and 429."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import lighter
import pytest

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


async def market_buy(client: lighter.SignerClient, client_order_index: int, base_amount: int = 1000) -> Any:
    _, ask = await best_prices(client)
    return await client.create_market_order(ETH, client_order_index, base_amount, ask + 2000, False)


def test_nonce_skew_makes_the_next_order_fail_with_21104_and_the_sdk_recovers_on_retry(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[str | None, int, int, dict[int, Any]]:
        async with signer(lighter1) as client:
            assert_accepted(await market_buy(client, 1))
            before = await next_nonce(client, lighter1)
            # Arming blocks this loop briefly; the venue runs in its own thread.
            venues.arm("lighter", "nonce_skew", account="lighter1", amount=3)
            _, response, error = await market_buy(client, 2)
            assert response is None
            assert_accepted(await market_buy(client, 2))
            after = await next_nonce(client, lighter1)
            return error, before, after, await orders_by_client_index(client, lighter1, 2)

    error, before, after, orders = run(scenario())
    assert error is not None and "invalid nonce" in error
    assert after == before + 3 + 1
    assert orders[2].status == "filled"


def test_nonce_skew_on_one_account_leaves_the_other_alone(venues: ThreadedPaperVenues,
                                                          accounts: dict[str, PaperLighterAccount]) -> None:
    with httpx.Client(base_url=accounts["lighter1"].url) as http:
        def nonces() -> dict[str, int]:
            return {
                name: http.get("/api/v1/nextNonce", params={"account_index": account.account_index,
                                                             "api_key_index": account.api_key_index}).json()["nonce"]
                for name, account in accounts.items()
            }

        before = nonces()
        venues.arm("lighter", "nonce_skew", account="lighter2", amount=5)
        assert nonces() == {"lighter1": before["lighter1"], "lighter2": before["lighter2"] + 5}


def test_drop_after_execute_closes_the_connection_after_the_order_filled(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    venues.arm("lighter", "drop_after_execute", account="lighter1", count=1)

    async def scenario() -> tuple[BaseException | None, dict[int, Any], Any]:
        async with signer(lighter1) as client:
            raised = None
            try:
                await market_buy(client, 3)
            except aiohttp.ClientError as exc:
                raised = exc
            return raised, await orders_by_client_index(client, lighter1, 3), await eth_position(client, lighter1)

    raised, orders, position = run(scenario())
    assert isinstance(raised, aiohttp.ClientError)
    assert orders[3].status == "filled"
    assert position == (1, "0.1000")


def test_drop_after_execute_in_504_mode_answers_504_after_the_order_filled(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    venues.arm("lighter", "drop_after_execute", account="lighter1", count=1, mode="504", delay_ms=20)

    async def scenario() -> tuple[BaseException | None, dict[int, Any]]:
        async with signer(lighter1) as client:
            raised = None
            try:
                await market_buy(client, 4)
            except lighter.ApiException as exc:
                raised = exc
            return raised, await orders_by_client_index(client, lighter1, 4)

    raised, orders = run(scenario())
    assert isinstance(raised, lighter.ApiException) and raised.status == 504
    assert orders[4].status == "filled"


def test_partial_fill_fills_only_the_fraction_of_the_next_market_order(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    venues.arm("lighter", "partial_fill", account="lighter1", count=1, fraction="0.25")

    async def scenario() -> tuple[dict[int, Any], Any]:
        async with signer(lighter1) as client:
            assert_accepted(await market_buy(client, 5, 2000))
            assert_accepted(await market_buy(client, 6, 2000))
            return await orders_by_client_index(client, lighter1, 5, 6), await eth_position(client, lighter1)

    orders, position = run(scenario())
    assert (orders[5].filled_base_amount, orders[5].status) == ("0.0500", "canceled-not-enough-liquidity")
    assert (orders[6].filled_base_amount, orders[6].status) == ("0.2000", "filled")
    assert position == (1, "0.2500")


def test_partial_fill_scoped_to_another_account_does_not_touch_this_one(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    venues.arm("lighter", "partial_fill", account="lighter2", fraction="0.5")

    async def scenario() -> dict[int, Any]:
        async with signer(lighter1) as client:
            assert_accepted(await market_buy(client, 7))
            return await orders_by_client_index(client, lighter1, 7)

    assert run(scenario())[7].status == "filled"


def test_reject_without_a_code_is_a_margin_cancel_behind_an_http_200_that_consumes_the_nonce(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    venues.arm("lighter", "reject", account="lighter1", count=1)

    async def scenario() -> tuple[dict[int, Any], int, int, Any]:
        async with signer(lighter1) as client:
            before = await next_nonce(client, lighter1)
            assert_accepted(await market_buy(client, 8))
            after = await next_nonce(client, lighter1)
            return await orders_by_client_index(client, lighter1, 8), before, after, await eth_position(client,
                                                                                                       lighter1)

    orders, before, after, position = run(scenario())
    assert (orders[8].status, orders[8].filled_base_amount) == ("canceled-margin-not-allowed", "0.0000")
    assert after == before + 1
    assert position is None


def test_reject_with_a_lighter_code_is_that_http_400_and_consumes_nothing(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    venues.arm("lighter", "reject", account="lighter1", count=1, code="21120", message="invalid signature")

    async def scenario() -> tuple[str | None, int, int]:
        async with signer(lighter1) as client:
            before = await next_nonce(client, lighter1)
            _, response, error = await market_buy(client, 9)
            assert response is None
            return error, before, await next_nonce(client, lighter1)

    error, before, after = run(scenario())
    assert error is not None and "21120" in error and "invalid signature" in error
    assert after == before


def test_liquidate_closes_the_position_with_a_liquidation_trade_and_cancels_resting_orders(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    async def open_position() -> None:
        async with signer(lighter1) as client:
            assert_accepted(await market_buy(client, 10, 3000))
            bid, _ = await best_prices(client)
            assert_accepted(await client.create_order(ETH, 11, 1000, bid - 3000, False, client.ORDER_TYPE_LIMIT,
                                                      client.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME))

    run(open_position())
    venues.arm("lighter", "liquidate", account="lighter1")

    async def read() -> tuple[Any, list[Any], dict[int, Any]]:
        async with signer(lighter1) as client:
            trades = await client.order_api.trades(sort_by="timestamp", limit=10, type="liquidation",
                                                   authorization=auth_token(client, lighter1),
                                                   account_index=lighter1.account_index)
            return (await eth_position(client, lighter1), trades.trades,
                    await orders_by_client_index(client, lighter1, 11))

    position, trades, orders = run(read())
    assert position is not None and position[1] == "0.0000"
    assert [(trade.type, trade.size, trade.ask_account_id) for trade in trades] == [
        ("liquidation", "0.3000", lighter1.account_index)]
    assert orders[11].status == "canceled-liquidation"


def test_price_move_shocks_the_lighter_book(venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    async def top() -> tuple[int, int]:
        async with signer(lighter1) as client:
            return await best_prices(client)

    bid_before, _ = run(top())
    venues.arm("lighter", "price_move", percent=10, symbol="ETH")
    bid_after, _ = run(top())
    assert 1.09 < bid_after / bid_before < 1.11


@pytest.mark.parametrize(("kind", "options", "status", "body"), [
    ("error", {"status": 503}, 503, {"code": 503, "message": "internal server error"}),
    ("rate_limit", {}, 429, {"code": 23000, "message": "Too Many Requests"}),
])
def test_request_faults_answer_with_lighter_bodies_then_clear(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount, kind: str, options: dict[str, Any],
        status: int, body: dict[str, Any]) -> None:
    venues.arm("lighter", kind, count=1, **options)
    params = {"account_index": lighter1.account_index, "api_key_index": lighter1.api_key_index}
    with httpx.Client(base_url=lighter1.url) as http:
        faulted = http.get("/api/v1/nextNonce", params=params)
        assert (faulted.status_code, faulted.json()) == (status, body)
        assert http.get("/api/v1/nextNonce", params=params).status_code == 200


def test_arming_a_fault_for_an_unknown_account_over_http_is_a_400(lighter1: PaperLighterAccount) -> None:
    with httpx.Client(base_url=lighter1.url) as http:
        answer = http.post("/_sim/faults", json={"kind": "nonce_skew", "account": "nobody"})
        assert answer.status_code == 400 and "nobody" in answer.json()["error"]
        armed = http.post("/_sim/faults", json={"kind": "nonce_skew", "account": "lighter1", "amount": 2})
        assert armed.status_code == 200


def test_lag_hides_new_orders_trades_and_txs_from_the_listings_but_not_from_the_position(
        venues: ThreadedPaperVenues, lighter1: PaperLighterAccount) -> None:
    import asyncio

    venues.arm("lighter", "lag", account="lighter1", ms=800)

    async def listings(client: lighter.SignerClient, tx_hash: str) -> tuple[Any, ...]:
        token = auth_token(client, lighter1)
        async with httpx.AsyncClient(base_url=lighter1.url) as http:
            trades = (await http.get("/api/v1/trades", headers={"authorization": token}, params={
                "account_index": lighter1.account_index, "market_id": ETH, "sort_by": "timestamp",
                "limit": 10})).json()["trades"]
            tx = (await http.get("/api/v1/tx", params={"by": "hash", "value": tx_hash})).json()
        return (await orders_by_client_index(client, lighter1, 7), trades, tx.get("code"),
                await eth_position(client, lighter1))

    async def scenario() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        async with signer(lighter1) as client:
            response = assert_accepted(await market_buy(client, 7))
            early = await listings(client, response.tx_hash)
            await asyncio.sleep(1.0)
            return early, await listings(client, response.tx_hash)

    early, late = run(scenario())
    assert early[0] == {} and early[1] == [] and early[2] == 21500
    assert early[3] == (1, "0.1000")  # the position is current while the records trail
    assert late[0][7].status == "filled" and len(late[1]) == 1 and late[2] == 200


def test_lag_is_refused_by_a_venue_that_does_not_model_it() -> None:
    from hedgectl.sim.faults import Fault, FaultBoard, FaultError, FaultKind

    board = FaultBoard("telegram")
    with pytest.raises(FaultError, match="does not support fault kind lag"):
        board.admit(Fault(kind=FaultKind.LAG, ms=500))
    board.handles(FaultKind.LAG)
    assert board.admit(Fault(kind=FaultKind.LAG, ms=500)).venue == "telegram"
    with pytest.raises(FaultError, match="lag ms"):
        Fault.from_json({"kind": "lag"})
