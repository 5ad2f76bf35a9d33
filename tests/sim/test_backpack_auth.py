"""Paper Backpack verifies Ed25519-signed requests exactly as the venue does."""

from __future__ import annotations

import base64
import json
import time

import httpx
from nacl.signing import SigningKey

from hedgectl.sim.backpack.signature import signing_string

from .conftest import BackpackTestClient

VECTOR_SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
VECTOR_PUBLIC = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
VECTOR_MESSAGE = (
    "instruction=orderExecute&clientId=123&orderType=Market&quantity=0.01&reduceOnly=true&side=Bid"
    "&symbol=ETH_USDC_PERP&timestamp=1750793021519&window=5000"
)
VECTOR_SIGNATURE = "NBGWe44A5pbxnOiujUGii4Q7hTalEbDqZeM+HM9367mFMQIq1Psy9zoWocnDHvm1MGfPqOz5l92K+vCVK/BkAw=="


def test_signing_string_and_signature_match_the_spec_test_vector() -> None:
    params = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.01",
              "reduceOnly": True, "clientId": 123}
    message = signing_string("orderExecute", params, "1750793021519", "5000")
    assert message == VECTOR_MESSAGE
    key = SigningKey(base64.b64decode(VECTOR_SECRET))
    assert base64.b64encode(bytes(key.verify_key)).decode() == VECTOR_PUBLIC
    assert base64.b64encode(key.sign(message.encode()).signature).decode() == VECTOR_SIGNATURE


def test_batch_signing_string_repeats_the_instruction_per_order() -> None:
    orders = [{"symbol": "ETH_USDC_PERP", "side": "Bid"}, {"side": "Ask", "symbol": "SOL_USDC_PERP"}]
    assert signing_string("orderExecute", orders, "1", "5000") == (
        "instruction=orderExecute&side=Bid&symbol=ETH_USDC_PERP"
        "&instruction=orderExecute&side=Ask&symbol=SOL_USDC_PERP&timestamp=1&window=5000"
    )


def test_signing_string_without_parameters_and_with_nulls_omitted() -> None:
    assert signing_string("balanceQuery", {}, "5", "5000") == "instruction=balanceQuery&timestamp=5&window=5000"
    assert signing_string("orderQueryAll", {"symbol": None}, "5", "60000") == (
        "instruction=orderQueryAll&timestamp=5&window=60000"
    )


def test_signed_request_is_accepted(backpack: BackpackTestClient) -> None:
    answer = backpack.request("GET", "/api/v1/capital")
    assert answer.status_code == 200
    assert answer.json()["USDC"]["available"] == "10000"


def test_request_without_window_header_is_signed_with_the_default_window(backpack: BackpackTestClient) -> None:
    assert backpack.request("GET", "/api/v1/account", window=None).status_code == 200


def test_tampered_body_is_rejected_as_invalid_signature(backpack: BackpackTestClient) -> None:
    signed = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.01"}
    headers = backpack.signed_headers("POST", "/api/v1/order", signed)
    tampered = dict(signed, quantity="1")
    answer = backpack.http.post(backpack.url + "/api/v1/order", content=json.dumps(tampered), headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"code": "INVALID_CLIENT_REQUEST", "message": "Invalid signature"}
    assert backpack.signed_size() == "0"


def test_expired_timestamp_is_rejected(backpack: BackpackTestClient) -> None:
    answer = backpack.request("GET", "/api/v1/capital", timestamp=int(time.time() * 1000) - 10_000)
    assert answer.status_code == 401
    assert answer.json() == {"code": "INVALID_CLIENT_REQUEST", "message": "Request has expired"}


def test_window_over_60000_is_rejected(backpack: BackpackTestClient) -> None:
    answer = backpack.request("GET", "/api/v1/capital", window=60_001)
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_CLIENT_REQUEST"
    assert backpack.request("GET", "/api/v1/capital", window=60_000).status_code == 200


def test_same_request_is_accepted_whatever_its_key_order_and_whitespace(backpack: BackpackTestClient) -> None:
    params = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.01",
              "reduceOnly": False, "clientId": 77}
    bodies = [
        json.dumps(params),
        json.dumps(dict(reversed(list(params.items()))), indent=4),
        '{ "clientId" : 77 ,\n"quantity":"0.01","orderType":"Market",  "side":"Bid","reduceOnly":false,'
        '"symbol":"ETH_USDC_PERP"}',
    ]
    for body in bodies:
        headers = backpack.signed_headers("POST", "/api/v1/order", params)
        answer = backpack.http.post(backpack.url + "/api/v1/order", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    assert backpack.signed_size() == "0.03"


def test_decimals_sent_as_json_numbers_are_signed_as_sent(backpack: BackpackTestClient) -> None:
    body = '{"symbol":"ETH_USDC_PERP","side":"Ask","orderType":"Market","quantity":0.01,"clientId":5}'
    params = {"symbol": "ETH_USDC_PERP", "side": "Ask", "orderType": "Market", "quantity": 0.01, "clientId": 5}
    headers = backpack.signed_headers("POST", "/api/v1/order", params)
    answer = backpack.http.post(backpack.url + "/api/v1/order", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["executedQuantity"] == "0.01"


def test_forged_key_is_rejected(backpack: BackpackTestClient) -> None:
    forger = SigningKey.generate()
    forged = BackpackTestClient(backpack.url, base64.b64encode(bytes(forger.verify_key)).decode(),
                                base64.b64encode(bytes(forger)).decode(), backpack.http)
    answer = forged.request("GET", "/api/v1/position")
    assert answer.status_code == 401
    assert answer.json()["message"] == "Invalid signature"


def test_known_key_with_a_signature_from_another_secret_is_rejected(backpack: BackpackTestClient) -> None:
    other = base64.b64encode(bytes(SigningKey.generate())).decode()
    answer = backpack.request("GET", "/api/v1/position", secret=other)
    assert answer.status_code == 401


def test_replay_after_the_window_is_rejected(backpack: BackpackTestClient) -> None:
    params = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.01"}
    headers = backpack.signed_headers("POST", "/api/v1/order", params, window=300)
    first = backpack.http.post(backpack.url + "/api/v1/order", content=json.dumps(params), headers=headers)
    assert first.status_code == 200
    time.sleep(0.35)
    replay = backpack.http.post(backpack.url + "/api/v1/order", content=json.dumps(params), headers=headers)
    assert replay.status_code == 401 and replay.json()["message"] == "Request has expired"
    assert backpack.signed_size() == "0.01"


def test_missing_signature_header_is_refused(backpack: BackpackTestClient) -> None:
    headers = backpack.signed_headers("GET", "/api/v1/capital")
    del headers["X-Signature"]
    answer = httpx.get(backpack.url + "/api/v1/capital", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["message"] == "Invalid X-Signature header"


def test_unparseable_body_is_a_plain_text_400(backpack: BackpackTestClient) -> None:
    headers = backpack.signed_headers("POST", "/api/v1/order", {})
    answer = backpack.http.post(backpack.url + "/api/v1/order", content="{not json", headers=headers)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/plain")
