"""Paper Backpack's trading, market-data and account endpoints, and its order-level faults, over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from hedgectl.sim.runner import ThreadedPaperVenues

from .conftest import BackpackTestClient

ETH = "ETH_USDC_PERP"


def test_market_order_answers_with_the_venue_order_shape(backpack: BackpackTestClient) -> None:
    answer = backpack.market("Bid", "0.05", clientId=4_000_000_000)
    assert answer.status_code == 200
    order = answer.json()
    assert isinstance(order["id"], str) and order["clientId"] == 4_000_000_000
    assert (order["status"], order["executedQuantity"], order["side"]) == ("Filled", "0.05", "Bid")
    assert Decimal(order["executedQuoteQuantity"]) > 0
    assert {"timeInForce", "selfTradePrevention", "reduceOnly", "createdAt", "quantity"} <= set(order)


def test_short_position_reads_back_with_negative_net_quantity_and_no_side(backpack: BackpackTestClient) -> None:
    backpack.market("Ask", "0.25")
    rows = backpack.request("GET", "/api/v1/position").json()
    assert len(rows) == 1
    row = rows[0]
    assert row["netQuantity"] == "-0.25" and row["netExposureQuantity"] == "0.25"
    assert "side" not in row
    assert Decimal(row["netCost"]) < 0
    assert Decimal(row["estLiquidationPrice"]) > Decimal(row["markPrice"])


@pytest.mark.parametrize(
    ("quantity", "message"),
    [("0.30000000000000004", "Quantity decimal too long"), ("0.0005", "Quantity is below the minimum allowed value")],
)
def test_quantity_breaking_market_rules_is_refused(backpack: BackpackTestClient, quantity: str, message: str) -> None:
    answer = backpack.market("Bid", quantity)
    assert answer.status_code == 400
    assert answer.json() == {"code": "INVALID_CLIENT_REQUEST", "message": message}
    assert backpack.signed_size() == "0"


def test_client_id_beyond_uint32_is_a_deserialisation_error(backpack: BackpackTestClient) -> None:
    answer = backpack.market("Bid", "0.01", clientId=2**32)
    assert answer.status_code == 400
    assert "clientId" in answer.text
    assert backpack.signed_size() == "0"


def test_order_beyond_available_margin_is_refused_with_insufficient_margin(backpack: BackpackTestClient) -> None:
    answer = backpack.market("Bid", "100")
    assert answer.status_code == 400
    assert answer.json()["code"] == "INSUFFICIENT_MARGIN"
    assert backpack.signed_size() == "0"


def test_reduce_only_without_a_position_is_refused(backpack: BackpackTestClient) -> None:
    answer = backpack.market("Ask", "0.01", reduceOnly=True)
    assert answer.status_code == 400 and answer.json()["code"] == "INVALID_ORDER"


def test_slippage_tolerance_cancels_what_would_fill_beyond_it(backpack: BackpackTestClient) -> None:
    depth = httpx.get(backpack.url + "/api/v1/depth", params={"symbol": ETH}).json()
    first_ask_size = Decimal(depth["asks"][0][1])
    answer = backpack.market("Bid", "5", slippageTolerance="0.001")
    order = answer.json()
    assert order["status"] == "Expired" and order["expiryReason"] == "SlippageToleranceExceeded"
    assert Decimal(order["executedQuantity"]) == first_ask_size


def test_limit_order_rests_is_queried_by_client_id_and_cancelled(backpack: BackpackTestClient) -> None:
    placed = backpack.request("POST", "/api/v1/order", {
        "symbol": ETH, "side": "Bid", "orderType": "Limit", "quantity": "0.1", "price": "3000", "clientId": 11,
        "postOnly": True, "timeInForce": "GTC",
    })
    assert placed.json()["status"] == "New" and placed.json()["price"] == "3000"
    queried = backpack.request("GET", "/api/v1/order", {"symbol": ETH, "clientId": "11"})
    assert queried.json()["id"] == placed.json()["id"]
    open_orders = backpack.request("GET", "/api/v1/orders", {"symbol": ETH}).json()
    assert [order["id"] for order in open_orders] == [placed.json()["id"]]
    cancelled = backpack.request("DELETE", "/api/v1/order", {"symbol": ETH, "orderId": placed.json()["id"]})
    assert cancelled.json()["status"] == "Cancelled"
    missing = backpack.request("GET", "/api/v1/order", {"symbol": ETH, "clientId": "11"})
    assert missing.status_code == 404 and missing.json()["code"] == "RESOURCE_NOT_FOUND"


def test_post_only_order_that_would_take_is_refused(backpack: BackpackTestClient) -> None:
    answer = backpack.request("POST", "/api/v1/order", {
        "symbol": ETH, "side": "Bid", "orderType": "Limit", "quantity": "0.1", "price": "99999", "postOnly": True,
    })
    assert answer.status_code == 400 and answer.json()["code"] == "INVALID_ORDER"


def test_cancel_all_returns_the_cancelled_orders(backpack: BackpackTestClient) -> None:
    for price in ("3000", "3001"):
        backpack.request("POST", "/api/v1/order",
                         {"symbol": ETH, "side": "Bid", "orderType": "Limit", "quantity": "0.1", "price": price})
    cancelled = backpack.request("DELETE", "/api/v1/orders", {"symbol": ETH})
    assert sorted(order["price"] for order in cancelled.json()) == ["3000", "3001"]
    assert backpack.request("GET", "/api/v1/orders").json() == []


def test_batch_execute_answers_each_order(backpack: BackpackTestClient) -> None:
    answer = backpack.request("POST", "/api/v1/orders", [
        {"symbol": ETH, "side": "Bid", "orderType": "Market", "quantity": "0.02"},
        {"symbol": "SOL_USDC_PERP", "side": "Ask", "orderType": "Market", "quantity": "0.001"},
    ])
    results = answer.json()
    assert results[0]["status"] == "Filled"
    assert results[1]["message"] == "Quantity decimal too long"


def test_order_and_fill_history_list_what_happened_newest_first(backpack: BackpackTestClient) -> None:
    first = backpack.market("Bid", "0.01", clientId=1).json()
    second = backpack.market("Bid", "0.02", clientId=2).json()
    history = backpack.request("GET", "/wapi/v1/history/orders", {"symbol": ETH, "limit": "10"}).json()
    assert [order["id"] for order in history] == [second["id"], first["id"]]
    fills = backpack.request("GET", "/wapi/v1/history/fills",
                             {"fillType": "User", "limit": "10", "symbol": ETH}).json()
    assert {fill["orderId"] for fill in fills} == {first["id"], second["id"]}
    assert all(fill["feeSymbol"] == "USDC" and not fill["isMaker"] for fill in fills)


def test_collateral_and_account_reflect_the_position(backpack: BackpackTestClient) -> None:
    backpack.market("Bid", "1")
    collateral = backpack.request("GET", "/api/v1/capital/collateral").json()
    assert Decimal(collateral["netExposureFutures"]) > 3000
    assert Decimal(collateral["netEquityAvailable"]) < Decimal(collateral["netEquity"])
    assert backpack.request("GET", "/api/v1/account").json()["leverageLimit"] == "10"


def test_leverage_limit_update_changes_the_margin_an_order_needs(backpack: BackpackTestClient) -> None:
    assert backpack.market("Bid", "40").status_code == 400
    assert backpack.request("PATCH", "/api/v1/account", {"leverageLimit": "50"}).status_code == 200
    assert backpack.market("Bid", "40").status_code == 200


def test_public_market_data(backpack: BackpackTestClient) -> None:
    url = backpack.url
    markets = httpx.get(url + "/api/v1/markets").json()
    eth = next(market for market in markets if market["symbol"] == ETH)
    assert eth["filters"]["quantity"]["stepSize"] == "0.0001" and eth["filters"]["price"]["tickSize"] == "0.01"
    assert httpx.get(url + "/api/v1/market", params={"symbol": ETH}).json() == eth
    depth = httpx.get(url + "/api/v1/depth", params={"symbol": ETH}).json()
    bids = [Decimal(price) for price, _ in depth["bids"]]
    assert bids == sorted(bids) and bids[-1] < Decimal(depth["asks"][0][0])
    assert httpx.get(url + "/api/v1/ticker", params={"symbol": ETH}).json()["symbol"] == ETH
    assert len(httpx.get(url + "/api/v1/tickers").json()) == 3
    assert {row["symbol"] for row in httpx.get(url + "/api/v1/markPrices").json()} >= {ETH}
    assert httpx.get(url + "/api/v1/status").json() == {"status": "Ok", "message": None}
    assert httpx.get(url + "/api/v1/ping").text == "pong"
    assert int(httpx.get(url + "/api/v1/time").text) > 1_700_000_000_000
    assert {asset["symbol"] for asset in httpx.get(url + "/api/v1/assets").json()} >= {"ETH", "USDC"}
    assert httpx.get(url + "/api/v1/market", params={"symbol": "DOGE_USDC_PERP"}).status_code == 400


def test_unknown_route_is_a_404(backpack: BackpackTestClient) -> None:
    assert httpx.get(backpack.url + "/api/v1/nothing-here").status_code == 404


# ----- order-level faults ---------------------------------------------------------------------------------------


def test_reject_fault_refuses_the_next_order_with_the_given_venue_error(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack_venues.arm("backpack", "reject", account="backpack", count=1, code="INSUFFICIENT_MARGIN",
                        message="Insufficient margin")
    rejected = backpack.market("Bid", "0.01")
    assert rejected.status_code == 400
    assert rejected.json() == {"code": "INSUFFICIENT_MARGIN", "message": "Insufficient margin"}
    assert backpack.signed_size() == "0"
    assert backpack.market("Bid", "0.01").status_code == 200


def test_drop_after_execute_closes_the_connection_but_the_order_executed(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack_venues.arm("backpack", "drop_after_execute", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        backpack.market("Bid", "0.03", clientId=303)
    assert backpack.signed_size() == "0.03"
    history = backpack.request("GET", "/wapi/v1/history/orders", {"symbol": ETH}).json()
    assert [(order["clientId"], order["status"]) for order in history] == [(303, "Filled")]


def test_drop_after_execute_as_504_answers_gateway_timeout_after_executing(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack_venues.arm("backpack", "drop_after_execute", count=1, mode="504", delay_ms=50)
    answer = backpack.market("Ask", "0.03")
    assert answer.status_code == 504
    assert backpack.signed_size() == "-0.03"


def test_partial_fill_fault_fills_only_a_fraction_of_the_next_market_order(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack_venues.arm("backpack", "partial_fill", count=1, fraction="0.4")
    order = backpack.market("Bid", "0.1").json()
    assert order["executedQuantity"] == "0.04" and order["status"] == "Expired"
    assert backpack.market("Bid", "0.1").json()["executedQuantity"] == "0.1"


def test_rate_limit_fault_answers_429_with_the_venue_body(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack_venues.arm("backpack", "rate_limit", count=1)
    answer = backpack.request("GET", "/api/v1/position")
    assert answer.status_code == 429 and answer.json()["code"] == "TOO_MANY_REQUESTS"


def test_error_fault_is_a_read_error_not_an_empty_position(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack.market("Bid", "0.01")
    backpack_venues.arm("backpack", "error", status=503, count=1, path="/api/v1/position")
    answer = backpack.request("GET", "/api/v1/position")
    assert answer.status_code == 503 and answer.json()["code"] == "MAINTENANCE"
    assert backpack.signed_size() == "0.01"


def test_liquidate_fault_closes_the_position_with_a_liquidation_fill(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack.market("Ask", "0.2")
    backpack_venues.arm("backpack", "liquidate", account="backpack")
    assert backpack.signed_size() == "0"
    fills = backpack.request("GET", "/wapi/v1/history/fills", {"fillType": "Liquidation"}).json()
    assert [(fill["side"], fill["quantity"]) for fill in fills] == [("Bid", "0.2")]


def test_price_move_fault_shocks_the_mark_price(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    def mark() -> Decimal:
        rows = httpx.get(backpack.url + "/api/v1/markPrices", params={"symbol": ETH}).json()
        return Decimal(rows[0]["markPrice"])

    before = mark()
    armed = httpx.post(backpack.url + "/_sim/faults", json={"kind": "price_move", "percent": -10, "symbol": "ETH"})
    assert armed.status_code == 200
    assert mark() == pytest.approx(before * Decimal("0.9"), rel=Decimal("0.0001"))


def test_large_price_move_liquidates_an_overleveraged_position(
    backpack_venues: ThreadedPaperVenues, backpack: BackpackTestClient
) -> None:
    backpack.request("PATCH", "/api/v1/account", {"leverageLimit": "50"})
    backpack.market("Bid", "100")
    backpack_venues.arm("backpack", "price_move", percent=-5, symbol="ETH")
    assert backpack.signed_size() == "0"
    state = backpack_venues.state("backpack")
    assert state["fills"][-1]["kind"] == "liquidation"


def test_sim_state_lists_accounts_orders_fills_and_mids(backpack: BackpackTestClient) -> None:
    backpack.market("Bid", "0.01", clientId=8)
    state = httpx.get(backpack.url + "/_sim/state").json()
    assert state["accounts"]["backpack"]["positions"][0]["signed_size"] == "0.01"
    assert state["orders"][-1]["client_id"] == 8
    assert state["fills"] and set(state["mid_prices"]) == {"ETH", "BTC", "SOL"}
    assert state["audit"] == []
