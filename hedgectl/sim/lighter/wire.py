"""Paper Lighter's wire vocabulary: error codes and bodies, fixed-decimal strings, and signed tx_info parsing.

Everything here mirrors what lighter-sdk sends and what the real venue answers; nothing here knows the market.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_CLIENT_ORDER_INDEX = 2**48 - 1
MAX_BASE_AMOUNT = 2**48 - 1
# Order indexes the venue assigns start above every possible client order index, so that a cancel's Index field
# can name either one unambiguously.
FIRST_ORDER_INDEX = 2**48

TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL_ORDERS = 16
TX_MODIFY_ORDER = 17
TX_UPDATE_LEVERAGE = 20

ORDER_TYPE_LIMIT = 0
ORDER_TYPE_MARKET = 1
ORDER_TYPE_NAMES = {
    0: "limit",
    1: "market",
    2: "stop-loss",
    3: "stop-loss-limit",
    4: "take-profit",
    5: "take-profit-limit",
    6: "twap",
}

TIF_IOC = 0
TIF_GTT = 1
TIF_POST_ONLY = 2
TIME_IN_FORCE_NAMES = {0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}

CANCEL_ALL_IMMEDIATE = 0

# Tx statuses as GET /api/v1/tx reports them.
TX_STATUS_FAILED = 0
TX_STATUS_EXECUTED = 2

# Codes taken from the real venue.
CODE_INVALID_NONCE = 21104
CODE_BATCH_NONCES_NOT_CONSECUTIVE = 21105
CODE_INVALID_PUBLIC_KEY = 21108
CODE_ACCIDENTAL_PRICE = 21733
CODE_TOO_MANY_REQUESTS = 23000
# Codes for refusals whose real number is not documented; the paper venue uses these and says so in its docs.
CODE_INVALID_PARAM = 20001
CODE_INVALID_AUTH = 20013
CODE_ACCOUNT_NOT_FOUND = 21100
CODE_TX_EXPIRED = 21111
CODE_INVALID_ORDER = 21700
CODE_MARKET_NOT_FOUND = 21701
CODE_TX_NOT_FOUND = 21500


class LighterApiError(Exception):
    """An API-level refusal: HTTP 400 with the venue's {"code", "message"} body; the nonce is not consumed."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def fixed(value: Decimal, decimals: int) -> str:
    """A plain decimal string with exactly `decimals` places, as the venue writes sizes and prices."""
    return f"{value.quantize(Decimal(1).scaleb(-decimals)):f}"


def from_units(units: int, decimals: int) -> Decimal:
    """The decimal value of an integer amount in the market's smallest units (BaseAmount, Price)."""
    return Decimal(units).scaleb(-decimals)


@dataclass(frozen=True)
class SignedTx:
    """Fields every signed L2 transaction carries."""

    tx_type: int
    account_index: int
    api_key_index: int
    nonce: int
    expired_at: int
    info: str


@dataclass(frozen=True)
class CreateOrderTx(SignedTx):
    market_index: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    order_type: int
    time_in_force: int
    reduce_only: bool
    trigger_price: int
    order_expiry: int


@dataclass(frozen=True)
class CancelOrderTx(SignedTx):
    market_index: int
    index: int


@dataclass(frozen=True)
class CancelAllOrdersTx(SignedTx):
    time_in_force: int
    time: int
    market_index: int | None


@dataclass(frozen=True)
class ModifyOrderTx(SignedTx):
    market_index: int
    index: int
    base_amount: int
    price: int
    trigger_price: int


@dataclass(frozen=True)
class UpdateLeverageTx(SignedTx):
    market_index: int
    initial_margin_fraction: int
    margin_mode: int


# The signer carries a cancel-all's market scope in L2TxAttributes under this key.
_ATTRIBUTE_MARKET_INDEX = "5"


def _int_field(info: dict[str, Any], name: str) -> int:
    value = info.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LighterApiError(CODE_INVALID_PARAM, f"invalid tx info: {name} missing or not an integer")
    return value


def _header(tx_type: int, info: dict[str, Any], raw: str) -> dict[str, Any]:
    return {
        "tx_type": tx_type,
        "account_index": _int_field(info, "AccountIndex"),
        "api_key_index": _int_field(info, "ApiKeyIndex"),
        "nonce": _int_field(info, "Nonce"),
        "expired_at": _int_field(info, "ExpiredAt"),
        "info": raw,
    }


def parse_tx(tx_type: int, raw: str) -> SignedTx:
    """Parse a tx_info JSON string of a supported type; malformed input is an API-level refusal."""
    try:
        info = json.loads(raw)
    except ValueError:
        raise LighterApiError(CODE_INVALID_PARAM, "invalid tx info: not JSON") from None
    if not isinstance(info, dict):
        raise LighterApiError(CODE_INVALID_PARAM, "invalid tx info: not an object")
    head = _header(tx_type, info, raw)
    if tx_type == TX_CREATE_ORDER:
        return CreateOrderTx(
            **head,
            market_index=_int_field(info, "MarketIndex"),
            client_order_index=_int_field(info, "ClientOrderIndex"),
            base_amount=_int_field(info, "BaseAmount"),
            price=_int_field(info, "Price"),
            is_ask=bool(_int_field(info, "IsAsk")),
            order_type=_int_field(info, "Type"),
            time_in_force=_int_field(info, "TimeInForce"),
            reduce_only=bool(_int_field(info, "ReduceOnly")),
            trigger_price=_int_field(info, "TriggerPrice"),
            order_expiry=_int_field(info, "OrderExpiry"),
        )
    if tx_type == TX_CANCEL_ORDER:
        return CancelOrderTx(**head, market_index=_int_field(info, "MarketIndex"), index=_int_field(info, "Index"))
    if tx_type == TX_CANCEL_ALL_ORDERS:
        attributes = info.get("L2TxAttributes") or {}
        market = attributes.get(_ATTRIBUTE_MARKET_INDEX) if isinstance(attributes, dict) else None
        return CancelAllOrdersTx(
            **head,
            time_in_force=_int_field(info, "TimeInForce"),
            time=_int_field(info, "Time"),
            market_index=market if isinstance(market, int) else None,
        )
    if tx_type == TX_MODIFY_ORDER:
        return ModifyOrderTx(
            **head,
            market_index=_int_field(info, "MarketIndex"),
            index=_int_field(info, "Index"),
            base_amount=_int_field(info, "BaseAmount"),
            price=_int_field(info, "Price"),
            trigger_price=_int_field(info, "TriggerPrice"),
        )
    if tx_type == TX_UPDATE_LEVERAGE:
        return UpdateLeverageTx(
            **head,
            market_index=_int_field(info, "MarketIndex"),
            initial_margin_fraction=_int_field(info, "InitialMarginFraction"),
            margin_mode=_int_field(info, "MarginMode"),
        )
    raise LighterApiError(CODE_INVALID_PARAM, f"tx type {tx_type} is not supported by the paper venue")
