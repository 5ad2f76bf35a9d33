"""Paper Lighter at the HTTP level: error bodies and codes, what consumes a nonce, client order index limits,
auth tokens on account reads, batches, and the inspection document."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import lighter
import pytest

from .support import ETH, PaperLighterAccount, run, signer

MARKET = lighter.SignerClient.ORDER_TYPE_MARKET
LIMIT = lighter.SignerClient.ORDER_TYPE_LIMIT
IOC = lighter.SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL
GTT = lighter.SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME


@pytest.fixture
def http(lighter1: PaperLighterAccount) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lighter1.url, timeout=10) as client:
        yield client


def nonce_of(http: httpx.Client, account: PaperLighterAccount) -> int:
    answer = http.get("/api/v1/nextNonce", params={"account_index": account.account_index,
                                                    "api_key_index": account.api_key_index})
    assert answer.status_code == 200
    return answer.json()["nonce"]


def sign_market_buy(account: PaperLighterAccount, nonce: int, *, client_order_index: int = 7,
                    base_amount: int = 1000) -> tuple[int, str]:
    """A signed market buy of ``base_amount`` ETH units, bounded far above the book."""

    async def sign() -> tuple[int, str]:
        async with signer(account) as client:
            tx_type, tx_info, _, error = client.sign_create_order(
                ETH, client_order_index, base_amount, 400_000, 0, MARKET, IOC, order_expiry=0, nonce=nonce,
                api_key_index=account.api_key_index)
            assert error is None, error
            return tx_type, tx_info

    return run(sign())


def edited(tx_info: str, **fields: Any) -> str:
    """The tx_info with some fields replaced (the paper venue does not verify signatures)."""
    return json.dumps({**json.loads(tx_info), **fields})


def send(http: httpx.Client, tx_type: int, tx_info: str) -> httpx.Response:
    return http.post("/api/v1/sendTx", data={"tx_type": str(tx_type), "tx_info": tx_info})


def test_wrong_nonce_is_a_400_with_code_21104_and_consumes_nothing(http: httpx.Client,
                                                                   lighter1: PaperLighterAccount) -> None:
    nonce = nonce_of(http, lighter1)
    answer = send(http, *sign_market_buy(lighter1, nonce + 5))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"code": 21104, "message": "invalid nonce"}
    assert nonce_of(http, lighter1) == nonce
    accepted = send(http, *sign_market_buy(lighter1, nonce))
    assert accepted.status_code == 200 and accepted.json()["code"] == 200
    assert nonce_of(http, lighter1) == nonce + 1


def test_unregistered_api_key_index_is_refused(http: httpx.Client, lighter1: PaperLighterAccount) -> None:
    unregistered = dataclasses.replace(lighter1, api_key_index=lighter1.api_key_index + 1)
    answer = send(http, *sign_market_buy(unregistered, 1))
    assert answer.status_code == 400 and answer.json()["code"] == 21108
    nonce = http.get("/api/v1/nextNonce", params={"account_index": lighter1.account_index,
                                                   "api_key_index": lighter1.api_key_index + 1})
    assert nonce.status_code == 400 and nonce.json()["code"] == 21108


def test_api_keys_list_the_public_key_without_0x(http: httpx.Client, lighter1: PaperLighterAccount) -> None:
    keys = http.get("/api/v1/apikeys", params={"account_index": lighter1.account_index}).json()
    assert keys["code"] == 200
    [key] = keys["api_keys"]
    assert (key["account_index"], key["api_key_index"]) == (lighter1.account_index, lighter1.api_key_index)
    assert re.fullmatch(r"[0-9a-f]{80}", key["public_key"])
    missing = http.get("/api/v1/apikeys", params={"account_index": 1})
    assert missing.status_code == 400 and missing.json()["code"] == 21100


@pytest.mark.parametrize("client_order_index", [0, 2**48, -1])
def test_client_order_index_outside_1_to_2_pow_48_minus_1_is_refused_without_consuming_the_nonce(
        http: httpx.Client, lighter1: PaperLighterAccount, client_order_index: int) -> None:
    nonce = nonce_of(http, lighter1)
    tx_type, tx_info = sign_market_buy(lighter1, nonce)
    answer = send(http, tx_type, edited(tx_info, ClientOrderIndex=client_order_index))
    assert answer.status_code == 400 and answer.json()["message"] == "invalid client order index"
    assert nonce_of(http, lighter1) == nonce


def test_largest_client_order_index_is_accepted(http: httpx.Client, lighter1: PaperLighterAccount) -> None:
    nonce = nonce_of(http, lighter1)
    answer = send(http, *sign_market_buy(lighter1, nonce, client_order_index=2**48 - 1))
    assert answer.status_code == 200


def test_market_sell_bounded_absurdly_far_below_mark_is_refused_as_accidental_price(
        lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[str | None, int, int]:
        async with signer(lighter1) as client:
            before = (await client.tx_api.next_nonce(lighter1.account_index, lighter1.api_key_index)).nonce
            _, _, error = await client.create_market_order(ETH, 8, 1000, 1, True)
            after = (await client.tx_api.next_nonce(lighter1.account_index, lighter1.api_key_index)).nonce
            return error, before, after

    error, before, after = run(scenario())
    assert error is not None and "21733" in error
    assert after == before


def test_order_below_the_market_minimum_is_refused_at_the_api(http: httpx.Client,
                                                              lighter1: PaperLighterAccount) -> None:
    nonce = nonce_of(http, lighter1)
    answer = send(http, *sign_market_buy(lighter1, nonce, base_amount=10))
    assert answer.status_code == 400 and "minimum" in answer.json()["message"]
    assert nonce_of(http, lighter1) == nonce


def test_expired_transaction_is_refused_without_consuming_the_nonce(http: httpx.Client,
                                                                    lighter1: PaperLighterAccount) -> None:
    nonce = nonce_of(http, lighter1)
    tx_type, tx_info = sign_market_buy(lighter1, nonce)
    answer = send(http, tx_type, edited(tx_info, ExpiredAt=int(time.time() * 1000) - 1000))
    assert answer.status_code == 400 and answer.json()["message"] == "transaction expired"
    assert nonce_of(http, lighter1) == nonce


def test_malformed_send_tx_forms_are_400_with_an_error_body(http: httpx.Client) -> None:
    for form in ({"tx_type": "14"}, {"tx_type": "x", "tx_info": "{}"}, {"tx_type": "14", "tx_info": "not json"},
                 {"tx_type": "99", "tx_info": json.dumps({"AccountIndex": 1, "ApiKeyIndex": 3, "Nonce": 1,
                                                           "ExpiredAt": 1})}):
        answer = http.post("/api/v1/sendTx", data=form)
        assert answer.status_code == 400 and set(answer.json()) == {"code", "message"}


def test_account_order_reads_need_a_current_auth_token_for_that_account(
        http: httpx.Client, accounts: dict[str, PaperLighterAccount]) -> None:
    lighter1, lighter2 = accounts["lighter1"], accounts["lighter2"]

    async def tokens() -> dict[str, str]:
        async with signer(lighter1) as first, signer(lighter2) as second:
            now = int(time.time())
            return {
                "valid": first.create_auth_token_with_expiry(api_key_index=lighter1.api_key_index)[0],
                "expired": first.create_auth_token_with_expiry(60, timestamp=now - 3600,
                                                               api_key_index=lighter1.api_key_index)[0],
                "other_account": second.create_auth_token_with_expiry(api_key_index=lighter2.api_key_index)[0],
            }

    issued = run(tokens())
    deadline, _, _, signature = issued["valid"].split(":")
    issued["unregistered_key"] = f"{deadline}:{lighter1.account_index}:9:{signature}"
    issued["garbage"] = "not-a-token"
    params = {"account_index": lighter1.account_index}
    for name in ("expired", "other_account", "unregistered_key", "garbage"):
        answer = http.get("/api/v1/accountActiveOrders", params=params, headers={"authorization": issued[name]})
        assert answer.status_code == 400 and answer.json()["code"] == 20013, name
    assert http.get("/api/v1/accountActiveOrders", params=params).status_code == 400
    accepted = http.get("/api/v1/accountActiveOrders", params=params, headers={"authorization": issued["valid"]})
    assert accepted.status_code == 200 and accepted.json() == {"code": 200, "orders": []}
    by_query = http.get("/api/v1/accountInactiveOrders", params={**params, "limit": 5, "auth": issued["valid"]})
    assert by_query.status_code == 200


def test_batch_whose_nonces_are_not_consecutive_is_refused_with_21105_and_executes_nothing(
        http: httpx.Client, lighter1: PaperLighterAccount) -> None:
    nonce = nonce_of(http, lighter1)
    first = sign_market_buy(lighter1, nonce, client_order_index=1)
    third = sign_market_buy(lighter1, nonce + 2, client_order_index=3)
    answer = http.post("/api/v1/sendTxBatch", data={"tx_types": json.dumps([first[0], third[0]]),
                                                    "tx_infos": json.dumps([first[1], third[1]])})
    assert answer.status_code == 400 and answer.json()["code"] == 21105
    assert nonce_of(http, lighter1) == nonce


def test_account_document_has_decimal_strings_and_positions_with_market_decimals(
        http: httpx.Client, lighter1: PaperLighterAccount) -> None:
    send(http, *sign_market_buy(lighter1, nonce_of(http, lighter1), base_amount=1234))
    answer = http.get("/api/v1/account", params={"by": "index", "value": lighter1.account_index})
    assert answer.status_code == 200
    document = answer.json()
    assert (document["code"], document["total"]) == (200, 1)
    [account] = document["accounts"]
    assert account["index"] == account["account_index"] == lighter1.account_index
    assert re.fullmatch(r"\d+\.\d{6}", account["collateral"]) and re.fullmatch(r"\d+\.\d{6}",
                                                                               account["available_balance"])
    [position] = account["positions"]
    assert (position["market_id"], position["symbol"], position["sign"], position["position"]) == (0, "ETH", 1,
                                                                                                 "0.1234")
    assert re.fullmatch(r"\d+\.\d{2}", position["avg_entry_price"])
    assert re.fullmatch(r"\d+\.\d{2}", position["liquidation_price"])
    by_address = http.get("/api/v1/account", params={"by": "l1_address", "value": account["l1_address"]})
    assert by_address.json()["accounts"][0]["index"] == lighter1.account_index


def test_unknown_path_is_a_plain_404(http: httpx.Client) -> None:
    answer = http.get("/api/v1/noSuchThing")
    assert answer.status_code == 404 and answer.text == "404 page not found"


def test_unknown_tx_hash_is_a_400(http: httpx.Client) -> None:
    answer = http.get("/api/v1/tx", params={"by": "hash", "value": "00" * 40})
    assert answer.status_code == 400 and answer.json()["message"] == "tx not found"


def test_sim_state_shows_nonces_and_never_a_private_key(http: httpx.Client, lighter1: PaperLighterAccount) -> None:
    nonce = nonce_of(http, lighter1)
    send(http, *sign_market_buy(lighter1, nonce))
    state = http.get("/_sim/state")
    assert state.status_code == 200
    document = state.json()
    entry = next(item for item in document["lighter"]["accounts"] if item["name"] == "lighter1")
    assert entry["api_keys"][0]["next_nonce"] == nonce + 1
    assert document["lighter"]["orders"][0]["status"] == "filled"
    assert lighter1.api_private_key not in state.text
