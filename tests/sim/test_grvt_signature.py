"""Paper GRVT's own signature check recovers the signer of grvt-pysdk's published test vector, and another signer
for a tampered order or a wrong chain id; a paper wallet signs as its own address."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct

from hedgectl.sim.grvt.accounts import new_wallet
from hedgectl.sim.grvt.signature import signer_of

ORDER = {
    "sub_account_id": "8289849667772468", "is_market": False, "time_in_force": "GOOD_TILL_TIME",
    "post_only": False, "reduce_only": False,
    "legs": [{"instrument": "BTC_USDT_Perp", "size": "1.013", "limit_price": "68900.5", "is_buying_asset": False}],
}
NONCE, EXPIRATION, CHAIN = 828700936, 1730800479321350000, 326
V = 28
R = 14615867946748605809126568669694142791729730263440553623296112010401671344650
S = 41758084966111141828834491248882149351523023670747687501271185591898818786045
SIGNER = "0xee2060eECaC18beC7F8F670D751801294911E445"


def scale(symbol: str) -> tuple[str, int]:
    assert symbol == "BTC_USDT_Perp"
    return "0x030501", 9


def test_the_sdk_test_vector_recovers_its_signer():
    assert signer_of(ORDER, NONCE, EXPIRATION, CHAIN, scale, V, R, S).lower() == SIGNER.lower()


def test_a_tampered_order_or_another_chain_recovers_someone_else():
    tampered = {**ORDER, "legs": [{**ORDER["legs"][0], "size": "1.014"}]}
    assert signer_of(tampered, NONCE, EXPIRATION, CHAIN, scale, V, R, S).lower() != SIGNER.lower()
    assert signer_of(ORDER, NONCE, EXPIRATION, 325, scale, V, R, S).lower() != SIGNER.lower()


def test_a_new_paper_wallet_signs_as_its_own_address():
    private_key, address = new_wallet()
    message = encode_defunct(text="paper grvt")
    signed = Account.sign_message(message, private_key=private_key)
    assert private_key.startswith("0x") and len(private_key) == 66
    assert Account.recover_message(message, signature=signed.signature) == address
    assert new_wallet()[1] != address
