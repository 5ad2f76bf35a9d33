"""Paper GRVT's own check of an order signature: the EIP-712 message is rebuilt from the order JSON here, from the
venue's published definition, independently of the connector's signing module, so that a mistake made on one side
of the wire cannot be repeated on the other and pass unseen."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from eth_keys.exceptions import BadSignature, ValidationError

from hedgectl.sim.grvt.wire import GrvtError, hex64, integer_field

MAX_SIGNATURE_NS = 30 * 24 * 3600 * 10**9
UINT32_MAX = 2**32 - 1
SECP256K1_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

#: (asset id as hex text, base decimals) of an instrument
InstrumentScale = Callable[[str], tuple[str, int]]

_TIME_IN_FORCE_CODES = {"GOOD_TILL_TIME": 1, "ALL_OR_NONE": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}
_PRICE_SCALE = 9
_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
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


def _units(text: Any, decimals: int) -> int:
    """A decimal string in integer units of 10^-decimals, truncated toward zero as the venue does."""
    try:
        value = Decimal(str(text if text not in (None, "") else "0"))
    except InvalidOperation:
        raise ValueError(f"not a decimal: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a non-negative decimal: {text!r}")
    return int(value.scaleb(decimals).to_integral_value(rounding=ROUND_DOWN))


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, "", 0, "false"):
        return False
    if value in (1, "true"):
        return True
    raise ValueError(f"not a boolean: {value!r}")


def typed_order(order: Mapping[str, Any], nonce: int, expiration_ns: int, chain_id: int,
                scale: InstrumentScale) -> dict[str, Any]:
    """The full EIP-712 typed-data document the order's signature must cover."""
    legs = []
    for leg in order.get("legs") or []:
        asset_id, base_decimals = scale(str(leg.get("instrument")))
        legs.append({
            "assetID": int(asset_id, 16),
            "contractSize": _units(leg.get("size"), base_decimals),
            "limitPrice": _units(leg.get("limit_price"), _PRICE_SCALE),
            "isBuyingContract": _boolean(leg.get("is_buying_asset")),
        })
    time_in_force = order.get("time_in_force")
    if time_in_force not in _TIME_IN_FORCE_CODES:
        raise ValueError(f"unknown time in force {time_in_force!r}")
    return {
        "types": _TYPES,
        "primaryType": "Order",
        "domain": {"name": "GRVT Exchange", "version": "0", "chainId": chain_id},
        "message": {
            "subAccountID": int(str(order.get("sub_account_id"))),
            "isMarket": _boolean(order.get("is_market")),
            "timeInForce": _TIME_IN_FORCE_CODES[time_in_force],
            "postOnly": _boolean(order.get("post_only")),
            "reduceOnly": _boolean(order.get("reduce_only")),
            "legs": legs,
            "nonce": nonce,
            "expiration": expiration_ns,
        },
    }


def signer_of(order: Mapping[str, Any], nonce: int, expiration_ns: int, chain_id: int, scale: InstrumentScale,
              v: int, r: int, s: int) -> str:
    """The address that signed the order (ValueError for an order that cannot be encoded; eth-keys' own errors
    for a signature that is not a valid point)."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    message = encode_typed_data(full_message=typed_order(order, nonce, expiration_ns, chain_id, scale))
    return Account.recover_message(message, vrs=(v, r, s))


def verify_order_signature(order: Mapping[str, Any], *, signer: str, chain_id: int, now_ns: int,
                           scale: InstrumentScale) -> None:
    """Raise the venue's GrvtError unless the order's signature is well formed, unexpired, covers the order and
    was made by ``signer`` (the address of the account's registered key)."""
    signature = order.get("signature")
    if not isinstance(signature, dict):
        raise GrvtError(1003)
    v = signature.get("v")
    if isinstance(v, bool) or v not in (27, 28):
        raise GrvtError(2005)
    r, s = hex64(signature.get("r")), hex64(signature.get("s"))
    if s > SECP256K1_HALF_ORDER:
        raise GrvtError(2007)
    expiration = integer_field(signature.get("expiration"), 2**63 - 1)
    now = now_ns
    if expiration < now:
        raise GrvtError(2001)
    if expiration > now + MAX_SIGNATURE_NS:
        raise GrvtError(2008)
    nonce = integer_field(signature.get("nonce"), UINT32_MAX)
    try:
        recovered = signer_of(order, nonce, expiration, chain_id, scale, v, r, s)
    except ValueError:
        raise GrvtError(1003) from None
    except (BadSignature, ValidationError):
        raise GrvtError(2002) from None
    claimed = str(signature.get("signer") or "")
    if recovered.lower() != claimed.lower():
        raise GrvtError(2002)
    if claimed.lower() != signer.lower():
        raise GrvtError(2000)
