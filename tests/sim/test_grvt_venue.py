"""Paper GRVT over loopback HTTP: login, market data, the order lifecycle read back by client order id, EIP-712
signature checks, venue rules, and the fault kinds, driven by a minimal client written from the wire facts."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hedgectl.connectors.grvt.signing import LegScale, OrderSigner, new_private_key
from hedgectl.sim.grvt.markets import BASE_DECIMALS, INSTRUMENT_HASHES
from hedgectl.sim.runner import ThreadedPaperVenues

ETH = "ETH_USDT_Perp"
CLIENT_IDS = itertools.count(2**63 + 1000)


def scale_of(symbol: str) -> LegScale:
    return LegScale(INSTRUMENT_HASHES[symbol], BASE_DECIMALS)


@dataclass
class GrvtTestClient:
    """Logs in with the API key (cookie jar plus account header) and signs orders with the account's wallet."""

    url: str
    account: dict[str, Any]
    http: httpx.Client
    signer: OrderSigner = field(init=False)

    def __post_init__(self) -> None:
        self.signer = OrderSigner(self.account["private_key"], self.account["chain_id"])

    @property
    def sub_account(self) -> str:
        return str(self.account["sub_account_id"])

    def login(self) -> httpx.Response:
        response = self.http.post(self.url + "/auth/api_key/login", json={"api_key": self.account["api_key"]})
        if response.status_code == 200:
            self.http.headers["X-Grvt-Account-Id"] = response.headers["X-Grvt-Account-Id"]
        return response

    def post(self, name: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"{self.url}/full/v1/{name}", json=body)

    def order(self, side: str, size: str, *, price: str | None = None, time_in_force: str | None = None,
              is_market: bool | None = None, post_only: bool = False, reduce_only: bool = False,
              client_order_id: int | None = None, symbol: str = ETH, signer: OrderSigner | None = None,
              expires_in: float = 60, sign: bool = True) -> dict[str, Any]:
        market = price is None if is_market is None else is_market
        leg = {"instrument": symbol, "size": size, "is_buying_asset": side == "buy"}
        if price is not None:
            leg["limit_price"] = price
        order = {
            "sub_account_id": self.sub_account,
            "is_market": market,
            "time_in_force": time_in_force or ("IMMEDIATE_OR_CANCEL" if market else "GOOD_TILL_TIME"),
            "post_only": post_only,
            "reduce_only": reduce_only,
            "legs": [leg],
            "metadata": {"client_order_id": str(client_order_id or next(CLIENT_IDS))},
        }
        if sign:
            expiration = time.time_ns() + int(expires_in * 1e9)
            order["signature"] = (signer or self.signer).sign(order, 77, expiration, scale_of)
        return order

    def create(self, side: str, size: str, **options: Any) -> httpx.Response:
        return self.post("create_order", {"order": self.order(side, size, **options)})

    def lookup(self, order: dict[str, Any]) -> dict[str, Any]:
        response = self.post("order", {"sub_account_id": self.sub_account,
                                       "client_order_id": order["metadata"]["client_order_id"]})
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def trade(self, side: str, size: str, **options: Any) -> dict[str, Any]:
        order = self.order(side, size, **options)
        response = self.post("create_order", {"order": order})
        assert response.status_code == 200, response.text
        return self.lookup(order)

    def signed_size(self, symbol: str = ETH) -> str:
        rows = self.post("positions", {"sub_account_id": self.sub_account}).json()["result"]
        return next((row["size"] for row in rows if row["instrument"] == symbol), "0")


@pytest.fixture
def grvt_venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["grvt"])


@pytest.fixture
def grvt(grvt_venues: ThreadedPaperVenues) -> Iterator[GrvtTestClient]:
    section = grvt_venues.accounts_document()["grvt"]
    with httpx.Client(timeout=10) as http:
        client = GrvtTestClient(section["url"], section["accounts"][0], http)
        assert client.login().status_code == 200
        yield client


def error_of(response: httpx.Response) -> tuple[int, int]:
    body = response.json()
    assert body["status"] == response.status_code
    return response.status_code, body["code"]


# ----- login and market data ------------------------------------------------------------------------------------


def test_accounts_entry_has_keys_sub_account_and_chain(grvt_venues: ThreadedPaperVenues) -> None:
    section = grvt_venues.accounts_document()["grvt"]
    assert section["url"].startswith("http://127.0.0.1:")
    [account] = section["accounts"]
    assert sorted(account) == ["api_key", "chain_id", "name", "private_key", "sub_account_id"]
    assert account["name"] == "grvt" and account["chain_id"] == 326
    assert account["private_key"].startswith("0x") and len(account["private_key"]) == 66


def test_login_sets_the_gravity_cookie_and_reports_the_sub_account(grvt_venues: ThreadedPaperVenues) -> None:
    section = grvt_venues.accounts_document()["grvt"]
    account = section["accounts"][0]
    response = httpx.post(section["url"] + "/auth/api_key/login", json={"api_key": account["api_key"]})
    assert response.status_code == 200
    assert response.cookies.get("gravity")
    assert "expires=" in response.headers["set-cookie"].lower()
    assert response.headers["X-Grvt-Account-Id"].startswith("0x")
    assert response.json()["sub_account_id"] == str(account["sub_account_id"])


def test_unknown_api_key_cannot_log_in(grvt_venues: ThreadedPaperVenues) -> None:
    section = grvt_venues.accounts_document()["grvt"]
    response = httpx.post(section["url"] + "/auth/api_key/login", json={"api_key": "not-a-key"})
    assert error_of(response) == (401, 1000)
    assert "gravity" not in response.cookies


def test_trading_endpoints_need_a_session(grvt: GrvtTestClient) -> None:
    response = httpx.post(grvt.url + "/full/v1/positions", json={"sub_account_id": grvt.sub_account})
    assert error_of(response) == (401, 1000)


def test_another_sub_account_is_not_readable(grvt: GrvtTestClient) -> None:
    assert error_of(grvt.post("positions", {"sub_account_id": "1"})) == (403, 1001)


def test_instrument_describes_the_signing_scale(grvt: GrvtTestClient) -> None:
    instrument = grvt.post("instrument", {"instrument": ETH}).json()["result"]
    assert instrument["instrument_hash"] == "0x030401"
    assert instrument["base_decimals"] == 9
    assert (instrument["tick_size"], instrument["min_size"]) == ("0.01", "0.01")
    assert error_of(grvt.post("instrument", {"instrument": "DOGE_USDT_Perp"})) == (400, 3000)
    names = [row["instrument"] for row in grvt.post("all_instruments", {}).json()["result"]]
    assert names == ["ETH_USDT_Perp", "BTC_USDT_Perp", "SOL_USDT_Perp"]


def test_book_lists_best_levels_first_and_checks_the_depth(grvt: GrvtTestClient) -> None:
    book = grvt.post("book", {"instrument": ETH, "depth": 10}).json()["result"]
    bids = [Decimal(level["price"]) for level in book["bids"]]
    asks = [Decimal(level["price"]) for level in book["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert error_of(grvt.post("book", {"instrument": ETH, "depth": 7})) == (400, 3031)
    ticker = grvt.post("ticker", {"instrument": ETH}).json()["result"]
    assert Decimal(ticker["best_bid_price"]) == bids[0] and Decimal(ticker["best_ask_price"]) == asks[0]


# ----- the order lifecycle --------------------------------------------------------------------------------------


def test_market_order_is_accepted_pending_and_read_back_filled(grvt: GrvtTestClient) -> None:
    order = grvt.order("buy", "0.1")
    answer = grvt.post("create_order", {"order": order}).json()["result"]
    assert answer["order_id"] == "0x00" and answer["state"]["status"] == "PENDING"
    looked_up = grvt.lookup(order)
    assert looked_up["state"]["status"] == "FILLED"
    assert looked_up["state"]["traded_size"] == ["0.1"]
    assert looked_up["order_id"].startswith("0x") and looked_up["order_id"] != "0x00"
    assert Decimal(looked_up["state"]["avg_fill_price"][0]) > 3000


def test_positions_carry_the_sign_of_the_net_trade(grvt: GrvtTestClient) -> None:
    grvt.trade("sell", "0.2")
    assert grvt.signed_size() == "-0.2"
    grvt.trade("buy", "0.5")
    assert grvt.signed_size() == "0.3"


def test_limit_order_rests_until_cancelled_by_client_order_id(grvt: GrvtTestClient) -> None:
    order = grvt.order("buy", "0.05", price="3000.00")
    assert grvt.post("create_order", {"order": order}).status_code == 200
    open_orders = grvt.post("open_orders", {"sub_account_id": grvt.sub_account}).json()["result"]
    assert [row["metadata"]["client_order_id"] for row in open_orders] == [order["metadata"]["client_order_id"]]
    assert grvt.lookup(order)["state"]["status"] == "OPEN"
    ack = grvt.post("cancel_order", {"sub_account_id": grvt.sub_account,
                                     "client_order_id": order["metadata"]["client_order_id"]})
    assert ack.json() == {"result": {"ack": True}}
    state = grvt.lookup(order)["state"]
    assert (state["status"], state["reject_reason"]) == ("CANCELLED", "CLIENT_CANCEL")


def test_cancel_all_orders_cancels_every_resting_order(grvt: GrvtTestClient) -> None:
    orders = [grvt.order("buy", "0.05", price="3000.00"), grvt.order("sell", "0.05", price="4000.00")]
    for order in orders:
        assert grvt.post("create_order", {"order": order}).status_code == 200
    cancelled = grvt.post("cancel_all_orders", {"sub_account_id": grvt.sub_account, "kind": ["PERPETUAL"]})
    assert cancelled.status_code == 200
    assert grvt.post("open_orders", {"sub_account_id": grvt.sub_account}).json()["result"] == []
    assert {grvt.lookup(order)["state"]["reject_reason"] for order in orders} == {"CLIENT_BULK_CANCEL"}


def test_unknown_client_order_id_is_data_not_found(grvt: GrvtTestClient) -> None:
    response = grvt.post("order", {"sub_account_id": grvt.sub_account, "client_order_id": str(2**63 + 5)})
    assert error_of(response) == (404, 1004)
    assert error_of(grvt.post("order", {"sub_account_id": grvt.sub_account})) == (400, 3021)


def test_cancel_with_a_time_to_live_fences_an_order_still_in_flight(grvt: GrvtTestClient) -> None:
    order = grvt.order("buy", "0.1")
    grvt.post("cancel_order", {"sub_account_id": grvt.sub_account, "time_to_live_ms": "5000",
                               "client_order_id": order["metadata"]["client_order_id"]})
    assert grvt.post("create_order", {"order": order}).status_code == 200
    state = grvt.lookup(order)["state"]
    assert (state["status"], state["traded_size"]) == ("CANCELLED", ["0.0"])
    assert grvt.signed_size() == "0"


def test_post_only_order_that_would_take_is_rejected_by_the_matching_engine(grvt: GrvtTestClient) -> None:
    order = grvt.order("buy", "0.05", price="4000.00", post_only=True)
    assert grvt.post("create_order", {"order": order}).status_code == 200
    state = grvt.lookup(order)["state"]
    assert (state["status"], state["reject_reason"]) == ("REJECTED", "FAIL_POST_ONLY")


def test_fill_history_is_newest_first_and_pages_with_a_cursor(grvt: GrvtTestClient) -> None:
    for size in ("0.1", "0.2", "0.3"):
        grvt.trade("buy", size)
    first = grvt.post("fill_history", {"sub_account_id": grvt.sub_account, "limit": 2}).json()
    assert [row["size"] for row in first["result"]] == ["0.3", "0.2"]
    second = grvt.post("fill_history", {"sub_account_id": grvt.sub_account, "limit": 2,
                                        "cursor": first["next"]}).json()
    assert [row["size"] for row in second["result"]] == ["0.1"] and second["next"] == ""
    assert all(row["is_buyer"] and row["is_taker"] and not row["is_liquidation"] for row in first["result"])


def test_account_summary_reports_equity_and_what_is_available(grvt: GrvtTestClient) -> None:
    before = grvt.post("account_summary", {"sub_account_id": grvt.sub_account}).json()["result"]
    assert Decimal(before["total_equity"]) == Decimal("10000") == Decimal(before["available_balance"])
    grvt.trade("buy", "1")
    after = grvt.post("account_summary", {"sub_account_id": grvt.sub_account}).json()["result"]
    assert Decimal(after["available_balance"]) < Decimal(after["total_equity"]) < Decimal("10000")
    assert [row["size"] for row in after["positions"]] == ["1.0"]


# ----- signatures -----------------------------------------------------------------------------------------------


def test_signature_under_another_chain_id_is_rejected(grvt: GrvtTestClient) -> None:
    wrong_domain = OrderSigner(grvt.account["private_key"], 325)
    response = grvt.create("buy", "0.1", signer=wrong_domain)
    assert error_of(response) == (403, 2002)
    assert grvt.signed_size() == "0"


def test_valid_signature_by_an_unregistered_key_is_rejected(grvt: GrvtTestClient) -> None:
    forger = OrderSigner(new_private_key()[0], grvt.account["chain_id"])
    assert error_of(grvt.create("buy", "0.1", signer=forger)) == (403, 2000)
    assert grvt.signed_size() == "0"


def test_order_changed_after_signing_is_rejected(grvt: GrvtTestClient) -> None:
    order = grvt.order("buy", "0.1")
    order["legs"][0]["size"] = "1.0"
    assert error_of(grvt.post("create_order", {"order": order})) == (403, 2002)


def test_expired_or_missing_signature_is_rejected(grvt: GrvtTestClient) -> None:
    assert error_of(grvt.create("buy", "0.1", expires_in=-1)) == (403, 2001)
    assert error_of(grvt.create("buy", "0.1", expires_in=31 * 24 * 3600)) == (403, 2008)
    assert error_of(grvt.post("create_order", {"order": grvt.order("buy", "0.1", sign=False)})) == (400, 1003)


# ----- venue rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"size": "0.001"}, 2062),
        ({"size": "0.015"}, 2065),
        ({"size": "0.1", "price": "3000.005"}, 2064),
        ({"size": "0.1", "price": "3000.00", "is_market": True}, 2020),
        ({"size": "0.1", "is_market": False}, 2021),
        ({"size": "0.1", "price": "3000.00", "time_in_force": "IMMEDIATE_OR_CANCEL", "post_only": True}, 2032),
        ({"size": "0.1", "reduce_only": True}, 2400),
        ({"size": "50"}, 2080),
        ({"size": "0.1", "symbol": "DOGE_USDT_Perp", "sign": False}, 2061),
    ],
)
def test_orders_breaking_a_venue_rule_are_refused(grvt: GrvtTestClient, options: dict[str, Any], code: int) -> None:
    size = options.pop("size")
    assert error_of(grvt.create("buy", size, **options))[1] == code
    assert grvt.signed_size() == "0"


def test_reduce_only_order_may_not_increase_the_position(grvt: GrvtTestClient) -> None:
    grvt.trade("buy", "0.2")
    assert error_of(grvt.create("buy", "0.1", reduce_only=True)) == (400, 2401)
    closed = grvt.trade("sell", "0.5", reduce_only=True)
    assert (closed["state"]["status"], closed["state"]["traded_size"]) == ("CANCELLED", ["0.2"])
    assert grvt.signed_size() == "0"


def test_client_order_id_of_an_active_order_cannot_be_reused(grvt: GrvtTestClient) -> None:
    order = grvt.order("buy", "0.05", price="3000.00")
    assert grvt.post("create_order", {"order": order}).status_code == 200
    again = grvt.create("buy", "0.05", price="3001.00", client_order_id=int(order["metadata"]["client_order_id"]))
    assert error_of(again) == (400, 2012)


# ----- faults ---------------------------------------------------------------------------------------------------


def test_drop_after_execute_executes_once_and_loses_the_answer(grvt: GrvtTestClient,
                                                               grvt_venues: ThreadedPaperVenues) -> None:
    grvt_venues.arm("grvt", "drop_after_execute", account="grvt", count=1)
    order = grvt.order("buy", "0.3")
    with pytest.raises(httpx.TransportError):
        grvt.post("create_order", {"order": order})
    assert grvt.lookup(order)["state"]["status"] == "FILLED"
    assert grvt.signed_size() == "0.3"
    assert grvt_venues.exchange_audit() == []


def test_drop_after_execute_in_504_mode_answers_gateway_timeout(grvt: GrvtTestClient,
                                                                grvt_venues: ThreadedPaperVenues) -> None:
    grvt_venues.arm("grvt", "drop_after_execute", mode="504", count=1)
    order = grvt.order("sell", "0.1")
    assert grvt.post("create_order", {"order": order}).status_code == 504
    assert grvt.lookup(order)["state"]["status"] == "FILLED"


def test_reject_fault_answers_the_venue_error_and_executes_nothing(grvt: GrvtTestClient,
                                                                   grvt_venues: ThreadedPaperVenues) -> None:
    grvt_venues.arm("grvt", "reject", count=1)
    order = grvt.order("buy", "0.1")
    assert error_of(grvt.post("create_order", {"order": order})) == (400, 2080)
    assert grvt.post("order", {"sub_account_id": grvt.sub_account,
                               "client_order_id": order["metadata"]["client_order_id"]}).status_code == 404


def test_request_faults_answer_with_grvt_error_bodies(grvt: GrvtTestClient, grvt_venues: ThreadedPaperVenues) -> None:
    body = {"sub_account_id": grvt.sub_account}
    grvt_venues.arm("grvt", "rate_limit", count=1)
    assert error_of(grvt.post("positions", body)) == (429, 1006)
    grvt_venues.arm("grvt", "error", count=1)
    assert error_of(grvt.post("positions", body)) == (500, 1002)
    grvt_venues.arm("grvt", "error", status=503, count=1)
    assert error_of(grvt.post("positions", body)) == (503, 1009)
    assert grvt.post("positions", body).status_code == 200


def test_partial_fill_fault_fills_a_fraction_of_a_market_order(grvt: GrvtTestClient,
                                                               grvt_venues: ThreadedPaperVenues) -> None:
    grvt_venues.arm("grvt", "partial_fill", fraction="0.5", count=1)
    state = grvt.trade("buy", "1")["state"]
    assert (state["status"], state["reject_reason"], state["traded_size"]) == ("CANCELLED", "MARKET_CANCEL", ["0.5"])


def test_liquidation_closes_the_position_and_shows_in_fill_history(grvt: GrvtTestClient,
                                                                    grvt_venues: ThreadedPaperVenues) -> None:
    grvt.trade("sell", "1")
    grvt_venues.arm("grvt", "liquidate", account="grvt")
    assert grvt.signed_size() == "0"
    newest = grvt.post("fill_history", {"sub_account_id": grvt.sub_account}).json()["result"][0]
    assert newest["is_liquidation"] is True and newest["is_buyer"] is True and newest["size"] == "1.0"


def test_expired_session_is_refused_until_the_next_login(grvt: GrvtTestClient,
                                                         grvt_venues: ThreadedPaperVenues) -> None:
    grvt_venues.call_sync(lambda: grvt_venues.venues.venue("grvt").expire_sessions())
    assert error_of(grvt.post("positions", {"sub_account_id": grvt.sub_account})) == (401, 1000)
    assert grvt.login().status_code == 200
    assert grvt.post("positions", {"sub_account_id": grvt.sub_account}).status_code == 200


def test_state_file_keeps_keys_and_positions_across_restarts(tmp_path: Any) -> None:
    options = {"seed": 5, "tick_seconds": 0, "kinds": ["grvt"], "state_file": tmp_path / "paper-state.json"}
    with ThreadedPaperVenues(**options) as first, httpx.Client(timeout=10) as http:
        section = first.accounts_document()["grvt"]
        client = GrvtTestClient(section["url"], section["accounts"][0], http)
        client.login()
        client.trade("sell", "0.4")
    with ThreadedPaperVenues(**options) as second, httpx.Client(timeout=10) as http:
        section = second.accounts_document()["grvt"]
        assert section["accounts"][0] == client.account
        restarted = GrvtTestClient(section["url"], section["accounts"][0], http)
        assert restarted.login().status_code == 200
        assert restarted.signed_size() == "-0.4"


@pytest.mark.parametrize("zero_price", ["0", "0E-9"])
def test_market_order_in_the_form_the_official_sdk_sends_fills(grvt: GrvtTestClient, zero_price: str) -> None:
    # grvt-pysdk: is_market true, limit price the string of a rounded zero, good-till-time by default
    filled = grvt.trade("buy", "0.1", price=zero_price, is_market=True, time_in_force="GOOD_TILL_TIME")
    assert filled["state"]["status"] == "FILLED" and filled["state"]["traded_size"] == ["0.1"]
    assert grvt.signed_size() == "0.1"
