"""Backpack request signing: the spec's test vector, the signing string's rules, and keys that never print."""

from __future__ import annotations

import asyncio
import base64

import pytest
from nacl.signing import SigningKey

from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.connectors.backpack.signing import Signer, signing_string
from hedgectl.errors import AuthError, ConfigError

from .conftest import PaperBackpack

VECTOR_SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
VECTOR_PUBLIC = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
VECTOR_MESSAGE = (
    "instruction=orderExecute&clientId=123&orderType=Market&quantity=0.01&reduceOnly=true&side=Bid"
    "&symbol=ETH_USDC_PERP&timestamp=1750793021519&window=5000"
)
VECTOR_SIGNATURE = "NBGWe44A5pbxnOiujUGii4Q7hTalEbDqZeM+HM9367mFMQIq1Psy9zoWocnDHvm1MGfPqOz5l92K+vCVK/BkAw=="
VECTOR_PARAMS = {
    "symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.01", "clientId": 123,
    "reduceOnly": True,
}


def _config(api_secret: str, api_key: str | None, url: str = "http://127.0.0.1:9") -> ConnectorConfig:
    secrets = {"api_secret": Secret(api_secret, source="test")}
    if api_key is not None:
        secrets["api_key"] = Secret(api_key, source="test")
    return ConnectorConfig(name="bp", venue="backpack", base_url=url, secrets=secrets)


def test_order_parameters_sign_to_the_spec_test_vector() -> None:
    signer = Signer(VECTOR_SECRET)
    message = signing_string("orderExecute", VECTOR_PARAMS, 1750793021519, 5000)
    assert message == VECTOR_MESSAGE
    assert signer.api_key == VECTOR_PUBLIC
    assert signer.sign(message) == VECTOR_SIGNATURE
    headers = signer.headers("orderExecute", VECTOR_PARAMS, 1750793021519, 5000)
    assert headers == {
        "X-API-Key": VECTOR_PUBLIC, "X-Signature": VECTOR_SIGNATURE, "X-Timestamp": "1750793021519", "X-Window": "5000",
    }


def test_signing_string_sorts_keys_writes_booleans_in_lowercase_and_omits_nulls() -> None:
    params = {"symbol": "SOL_USDC_PERP", "postOnly": False, "price": None, "clientId": 7, "reduceOnly": True}
    assert signing_string("orderExecute", params, 1, 60000) == (
        "instruction=orderExecute&clientId=7&postOnly=false&reduceOnly=true&symbol=SOL_USDC_PERP"
        "&timestamp=1&window=60000"
    )


def test_a_request_without_parameters_still_signs_timestamp_and_window() -> None:
    assert signing_string("positionQuery", None, 42, 5000) == "instruction=positionQuery&timestamp=42&window=5000"
    assert signing_string("positionQuery", {}, 42, 5000) == "instruction=positionQuery&timestamp=42&window=5000"


def test_a_sixty_four_byte_secret_signs_with_its_seed() -> None:
    seed = base64.b64decode(VECTOR_SECRET)
    expanded = base64.b64encode(seed + bytes(SigningKey(seed).verify_key)).decode()
    assert Signer(expanded).sign(VECTOR_MESSAGE) == VECTOR_SIGNATURE


@pytest.mark.parametrize(
    ("api_secret", "api_key", "problem"),
    [
        (VECTOR_SECRET, base64.b64encode(bytes(32)).decode(), "not the public key"),
        ("not base64 at all!", None, "not valid base64"),
        (base64.b64encode(bytes(16)).decode(), None, "32 or 64 bytes"),
    ],
)
def test_unusable_keys_are_a_config_error_that_never_shows_the_secret(api_secret: str, api_key: str | None,
                                                                      problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BackpackConnector(_config(api_secret, api_key))
    assert problem in str(caught.value)
    assert api_secret not in str(caught.value) and api_secret not in repr(caught.value)


def test_the_connector_and_its_signer_never_print_the_secret() -> None:
    connector = BackpackConnector(_config(VECTOR_SECRET, VECTOR_PUBLIC))
    for text in (repr(connector), str(connector), repr(connector._signer), repr(connector.config)):
        assert VECTOR_SECRET not in text
    assert connector.account_key() == BackpackConnector(_config(VECTOR_SECRET, None)).account_key()
    assert "/" not in connector.account_key() and "+" not in connector.account_key()


def test_a_key_the_venue_does_not_know_is_an_auth_error(paper_backpack: PaperBackpack) -> None:
    stranger = base64.b64encode(bytes(SigningKey.generate())).decode()
    config = _config(stranger, None, url=paper_backpack.url)

    async def scenario() -> None:
        async with BackpackConnector(config) as connector:
            await connector.check()

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())
    assert caught.value.code == "INVALID_CLIENT_REQUEST"
    assert stranger not in str(caught.value)
