"""GRVT order signatures against the venue SDK's published test vector, and the EIP-712 digest re-derived by hand
from the struct definitions (so a mistake shared by signer and paper verifier cannot pass unnoticed)."""

from __future__ import annotations

from eth_keys import keys
from eth_utils import keccak

from hedgectl.connectors.grvt.signing import LegScale, OrderSigner, order_message, recover_signer

# The SDK's test vector (tests/pysdk/test_grvt_raw_signing_intermediate_steps.py in grvt-pysdk).
PRIVATE_KEY = "c0663ca94684aead40c41a1cb3a94b68a24296e87245be3a186e882a29a15ee0"
ADDRESS = "0xee2060eECaC18beC7F8F670D751801294911E445"
NONCE = 828700936
EXPIRATION = 1730800479321350000
CHAIN_ID = 326
MESSAGE_HASH = "03cb7ca7b353969ab2c00ff92fd472f81f59a84d28fa1aa39128176f21062982"
R = 14615867946748605809126568669694142791729730263440553623296112010401671344650
S = 41758084966111141828834491248882149351523023670747687501271185591898818786045


def btc_scale(symbol: str) -> LegScale:
    assert symbol == "BTC_USDT_Perp"
    return LegScale("0x030501", 9)


def vector_order(size: str = "1.013", price: str | None = "68900.5", **flags: object) -> dict[str, object]:
    leg: dict[str, object] = {"instrument": "BTC_USDT_Perp", "size": size, "is_buying_asset": False}
    if price is not None:
        leg["limit_price"] = price
    return {"sub_account_id": "8289849667772468", "is_market": False, "time_in_force": "GOOD_TILL_TIME",
            "post_only": False, "reduce_only": False, "legs": [leg], **flags}


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def hand_digest(order: dict[str, object], chain_id: int) -> bytes:
    """EIP-712: keccak(0x1901 || domainSeparator || hashStruct(Order)), encoded field by field."""
    leg_type = b"OrderLeg(uint256 assetID,uint64 contractSize,uint64 limitPrice,bool isBuyingContract)"
    order_type = (b"Order(uint64 subAccountID,bool isMarket,uint8 timeInForce,bool postOnly,bool reduceOnly,"
                  b"OrderLeg[] legs,uint32 nonce,int64 expiration)") + leg_type
    legs = b"".join(
        keccak(keccak(leg_type) + word(leg["assetID"]) + word(leg["contractSize"]) + word(leg["limitPrice"])
               + word(int(leg["isBuyingContract"])))
        for leg in order["legs"]
    )
    struct = keccak(
        keccak(order_type) + word(order["subAccountID"]) + word(int(order["isMarket"])) + word(order["timeInForce"])
        + word(int(order["postOnly"])) + word(int(order["reduceOnly"])) + keccak(legs) + word(order["nonce"])
        + word(order["expiration"])
    )
    domain = keccak(
        keccak(b"EIP712Domain(string name,string version,uint256 chainId)") + keccak(b"GRVT Exchange") + keccak(b"0")
        + word(chain_id)
    )
    return keccak(b"\x19\x01" + domain + struct)


def test_signature_matches_the_published_test_vector() -> None:
    signature = OrderSigner(PRIVATE_KEY, CHAIN_ID).sign(vector_order(), NONCE, EXPIRATION, btc_scale)
    assert signature["signer"] == ADDRESS
    assert (int(signature["r"], 16), int(signature["s"], 16), signature["v"]) == (R, S, 28)
    assert signature["expiration"] == str(EXPIRATION) and signature["nonce"] == NONCE
    assert len(signature["r"]) == len(signature["s"]) == 66


def test_digest_follows_the_eip712_encoding_of_the_order_struct() -> None:
    message = order_message(vector_order(), NONCE, EXPIRATION, btc_scale)
    digest = hand_digest(message, CHAIN_ID)
    assert digest.hex() == MESSAGE_HASH
    recovered = keys.Signature(vrs=(1, R, S)).recover_public_key_from_msg_hash(digest)
    assert recovered.to_checksum_address() == ADDRESS


def test_sizes_and_prices_are_truncated_to_the_signed_precision() -> None:
    leg = order_message(vector_order("1.1231231239", "68900.7771234799"), NONCE, EXPIRATION, btc_scale)["legs"][0]
    assert (leg["contractSize"], leg["limitPrice"]) == (1123123123, 68900777123479)
    assert leg["assetID"] == 0x030501


def test_market_order_signs_a_zero_limit_price_and_the_ioc_code() -> None:
    message = order_message(vector_order(price=None, is_market=True, time_in_force="IMMEDIATE_OR_CANCEL"),
                            NONCE, EXPIRATION, btc_scale)
    assert (message["isMarket"], message["timeInForce"], message["legs"][0]["limitPrice"]) == (True, 3, 0)


def test_recovery_under_another_chain_id_names_another_address() -> None:
    order = vector_order()
    signature = OrderSigner(PRIVATE_KEY, CHAIN_ID).sign(order, NONCE, EXPIRATION, btc_scale)
    vrs = (signature["v"], int(signature["r"], 16), int(signature["s"], 16))
    assert recover_signer(order, NONCE, EXPIRATION, CHAIN_ID, btc_scale, *vrs) == ADDRESS
    assert recover_signer(order, NONCE, EXPIRATION, 325, btc_scale, *vrs) != ADDRESS


def test_signer_repr_shows_the_address_not_the_key() -> None:
    text = repr(OrderSigner("0x" + PRIVATE_KEY, CHAIN_ID))
    assert ADDRESS in text and PRIVATE_KEY not in text
