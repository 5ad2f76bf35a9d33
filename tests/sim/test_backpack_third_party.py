"""Independent Backpack clients from PyPI trade against paper Backpack unmodified, only their base URL changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backpack_exchange_sdk.authenticated import AuthenticationClient
from bpx.account import Account
from bpx.public import Public

from hedgectl.sim.runner import ThreadedPaperVenues

ETH = "ETH_USDC_PERP"


def _account(venues: ThreadedPaperVenues) -> tuple[str, dict[str, Any]]:
    section = venues.accounts_document()["backpack"]
    return section["url"] + "/", section["accounts"][0]


def test_bpx_py_reads_markets_trades_and_reads_the_position_back(backpack_venues: ThreadedPaperVenues) -> None:
    base_url, account = _account(backpack_venues)
    public = Public()
    public.BASE_URL = base_url
    assert any(market["symbol"] == ETH for market in public.get_markets())
    assert public.get_ticker(ETH)["symbol"] == ETH
    client = Account(account["api_key"], account["api_secret"])
    client.BPX_API_URL = base_url
    order = client.execute_order(symbol=ETH, side="Ask", order_type="Market", quantity="0.05", client_id=42,
                                 reduce_only=False)
    assert order["status"] == "Filled", order
    positions = client.get_open_positions()
    assert [(row["symbol"], row["netQuantity"]) for row in positions] == [(ETH, "-0.05")]
    closing = client.execute_order(symbol=ETH, side="Bid", order_type="Market", quantity="0.05", reduce_only=True)
    assert closing["status"] == "Filled", closing
    assert client.get_open_positions() == []
    assert client.get_balances()["USDC"]["available"] != "10000"
    limit = client.execute_order(symbol=ETH, side="Bid", order_type="Limit", quantity="0.01", price="3000",
                                 time_in_force="GTC", post_only=True)
    assert limit["status"] == "New", limit
    assert [order["id"] for order in client.get_open_orders(symbol=ETH)] == [limit["id"]]
    cancelled = client.cancel_all_orders(symbol=ETH)
    assert [order["status"] for order in cancelled] == ["Cancelled"]
    fills = client.get_fill_history(symbol=ETH, limit=10, fill_type="User")
    assert len(fills) == 2 and {fill["side"] for fill in fills} == {"Bid", "Ask"}
    assert backpack_venues.exchange_audit() == []


def test_backpack_exchange_sdk_trades_and_reads_collateral(backpack_venues: ThreadedPaperVenues) -> None:
    base_url, account = _account(backpack_venues)
    client = AuthenticationClient(account["api_key"], account["api_secret"], base_url=base_url)
    order = client.execute_order("Market", "Bid", ETH, quantity="0.1", clientId=7, reduceOnly=False)
    assert order["status"] == "Filled" and order["clientId"] == 7
    batch = client.execute_batch_orders([
        {"symbol": ETH, "side": "Bid", "orderType": "Limit", "quantity": "0.01", "price": "3000"},
        {"symbol": ETH, "side": "Bid", "orderType": "Limit", "quantity": "0.01", "price": "3001"},
    ])
    assert [item["status"] for item in batch] == ["New", "New"]
    assert len(client.get_open_orders(symbol=ETH)) == 2
    client.cancel_open_orders(ETH)
    assert client.get_open_orders(symbol=ETH) == []
    collateral = client.get_collateral()
    assert Decimal(collateral["netExposureFutures"]) > 0
    history = client.get_order_history(symbol=ETH, limit=10)
    assert [item["clientId"] for item in history][-1] == 7


def test_securities_answer_an_empty_list_and_markets_filter_by_market_type(backpack) -> None:
    import httpx

    with httpx.Client(timeout=10) as http:
        securities = http.get(backpack.url + "/api/v1/securities")
        perps = http.get(backpack.url + "/api/v1/markets", params={"marketType": "PERP"})
        spots = http.get(backpack.url + "/api/v1/markets", params={"marketType": "SPOT"})
        every = http.get(backpack.url + "/api/v1/markets")
    assert securities.status_code == 200 and securities.json() == []
    assert perps.json() == every.json() and len(every.json()) == 3
    assert spots.status_code == 200 and spots.json() == []


def test_order_history_honours_the_documented_sort_direction(backpack) -> None:
    for _ in range(2):
        assert backpack.market("Bid", "0.01").status_code == 200
    newest = backpack.request("GET", "/wapi/v1/history/orders", {"sortDirection": "Desc"}).json()
    oldest = backpack.request("GET", "/wapi/v1/history/orders", {"sortDirection": "Asc"}).json()
    default = backpack.request("GET", "/wapi/v1/history/orders").json()
    assert [row["id"] for row in newest] == [row["id"] for row in reversed(oldest)] == [row["id"] for row in default]
    assert newest[0]["id"] != oldest[0]["id"]
    assert backpack.request("GET", "/wapi/v1/history/orders", {"sortDirection": "Sideways"}).status_code == 400
