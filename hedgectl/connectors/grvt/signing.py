"""GRVT order signatures: the EIP-712 typed data of an order, built from the order's wire document, and signing and
signer recovery over it with eth-account.

The message is rebuilt from the JSON order exactly as the venue does it (sizes scaled by the instrument's base
decimals, prices by 10^9, both truncated toward zero), so whoever holds the document can sign or verify it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data

DOMAIN_NAME = "GRVT Exchange"
DOMAIN_VERSION = "0"
PRICE_DECIMALS = 9
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

#: The signed time-in-force codes of the order struct (the JSON carries the names).
SIGN_TIME_IN_FORCE = {"GOOD_TILL_TIME": 1, "ALL_OR_NONE": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}

ORDER_TYPES = {
    "Order": [
        {"name": "subAccountID", "type": "uint64"},
        {"name": "isMarket", "type": "bool"},
        {"name": "timeInForce", "type": "uint8"},
        {"name": "postOnly", "type": "bool"},
        {"name": "reduceOnly", "type": "bool"},
        {"name": "legs", "type": "OrderLeg[]"},
        {"name": "nonce", "type": "uint32"},
        {"name": "expiration", "type": "int64"},
    ],
    "OrderLeg": [
        {"name": "assetID", "type": "uint256"},
        {"name": "contractSize", "type": "uint64"},
        {"name": "limitPrice", "type": "uint64"},
        {"name": "isBuyingContract", "type": "bool"},
    ],
}


@dataclass(frozen=True)
class LegScale:
    """What signing needs of an instrument: its asset id (``instrument_hash``) and its base decimals."""

    asset_id: str
    base_decimals: int


ScaleLookup = Callable[[str], LegScale]


def domain(chain_id: int) -> dict[str, Any]:
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id}


def scaled(text: Any, decimals: int, what: str) -> int:
    """``text`` (a decimal string) times 10^decimals, truncated toward zero; ValueError when it is not a number."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ValueError(f"{what} is not a decimal: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a non-negative decimal, got {text!r}")
    units = int(value.scaleb(decimals).to_integral_value(rounding=ROUND_DOWN))
    if units > UINT64_MAX:
        raise ValueError(f"{what} is too large: {text!r}")
    return units


def _flag(order: Mapping[str, Any], key: str) -> bool:
    value = order.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be a boolean")
    return value


def order_message(order: Mapping[str, Any], nonce: int, expiration_ns: int, scale_of: ScaleLookup) -> dict[str, Any]:
    """The ``Order`` struct of a full-format order document; ValueError for a document that cannot be signed."""
    legs = order.get("legs")
    if not isinstance(legs, list) or not legs:
        raise ValueError("order needs at least one leg")
    try:
        sub_account = int(str(order.get("sub_account_id")))
    except ValueError:
        raise ValueError("sub_account_id is not an integer") from None
    time_in_force = SIGN_TIME_IN_FORCE.get(str(order.get("time_in_force")))
    if time_in_force is None:
        raise ValueError(f"unknown time_in_force {order.get('time_in_force')!r}")
    signed_legs = []
    for leg in legs:
        if not isinstance(leg, Mapping):
            raise ValueError("a leg is not an object")
        scale = scale_of(str(leg.get("instrument")))
        price = leg.get("limit_price")
        signed_legs.append({
            "assetID": int(scale.asset_id, 16),
            "contractSize": scaled(leg.get("size"), scale.base_decimals, "size"),
            "limitPrice": 0 if price in (None, "") else scaled(price, PRICE_DECIMALS, "limit_price"),
            "isBuyingContract": _flag(leg, "is_buying_asset"),
        })
    if not 0 <= nonce <= UINT32_MAX:
        raise ValueError("nonce must be a uint32")
    return {
        "subAccountID": sub_account,
        "isMarket": _flag(order, "is_market"),
        "timeInForce": time_in_force,
        "postOnly": _flag(order, "post_only"),
        "reduceOnly": _flag(order, "reduce_only"),
        "legs": signed_legs,
        "nonce": nonce,
        "expiration": expiration_ns,
    }


def signable(order: Mapping[str, Any], nonce: int, expiration_ns: int, chain_id: int,
             scale_of: ScaleLookup) -> SignableMessage:
    return encode_typed_data(domain(chain_id), ORDER_TYPES, order_message(order, nonce, expiration_ns, scale_of))


class OrderSigner:
    """Signs orders with the private key of an API key's wallet; the key never appears in reprs or errors."""

    __slots__ = ("_account", "chain_id")

    def __init__(self, private_key: str, chain_id: int):
        try:
            self._account = Account.from_key(private_key.strip())
        except (ValueError, TypeError):
            raise ValueError("private_key is not a 32-byte hex private key") from None
        self.chain_id = chain_id

    @property
    def address(self) -> str:
        return self._account.address

    def __repr__(self) -> str:
        return f"OrderSigner(address={self.address!r}, chain_id={self.chain_id})"

    def sign(self, order: Mapping[str, Any], nonce: int, expiration_ns: int, scale_of: ScaleLookup) -> dict[str, Any]:
        """The ``signature`` object of ``order`` (signer, r, s, v, expiration, nonce) as the venue expects it."""
        signed = self._account.sign_message(signable(order, nonce, expiration_ns, self.chain_id, scale_of))
        return {
            "signer": self.address,
            "r": "0x" + signed.r.to_bytes(32, "big").hex(),
            "s": "0x" + signed.s.to_bytes(32, "big").hex(),
            "v": signed.v,
            "expiration": str(expiration_ns),
            "nonce": nonce,
        }


def recover_signer(order: Mapping[str, Any], nonce: int, expiration_ns: int, chain_id: int, scale_of: ScaleLookup,
                   v: int, r: int, s: int) -> str:
    """The address whose key produced signature (v, r, s) over ``order`` under ``chain_id``'s domain."""
    return Account.recover_message(signable(order, nonce, expiration_ns, chain_id, scale_of), vrs=(v, r, s))


def new_private_key() -> tuple[str, str]:
    """A fresh ``(private key hex with 0x, address)`` pair (paper accounts)."""
    account = Account.create()
    return "0x" + bytes(account.key).hex(), account.address
