"""Lighter's wire vocabulary for the connector: error codes mapped into the hedgectl error tree, order statuses,
and the integer units (size_decimals / price_decimals) that signed transactions carry.

Nothing here imports lighter-sdk; the read-only paths use it without loading the SDK.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hedgectl.connectors import fields
from hedgectl.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrder,
    NonceMismatch,
    PostOnlyRejected,
    RateLimited,
    VenueError,
    VenueProtocolError,
    VenueUnavailable,
)

VENUE = "lighter"

CODE_OK = 200
CODE_INVALID_NONCE = 21104
CODE_BATCH_NONCES_NOT_CONSECUTIVE = 21105
CODE_INVALID_PUBLIC_KEY = 21108
CODE_INVALID_SIGNATURE = 21120
CODE_ACCIDENTAL_PRICE = 21733
CODE_TOO_MANY_REQUESTS = 23000
#: "no such transaction" from GET tx, as paper Lighter numbers it; the live venue's number is not documented, so an
#: API refusal whose message says "not found" counts as well (see ``is_not_found``)
CODE_TX_NOT_FOUND = 21500

#: ``status`` of GET /api/v1/tx. Public sources disagree on the numbering (docs/venue-facts.md): one reading has
#: 0 failed, 1 pending, 2 executed, 3 executed and final; another 0 pending, 1 queued, 2 committed, 3 executed,
#: 4 failed, 5 rejected. 2 and 3 mean a transaction that ran under both. 4 and 5 exist only in the second, as
#: failures; 0 is a failure only in the first, where a processed transaction carries its execution time, so 0 counts
#: as failed only with an ``executed_at``: under the second reading a pending transaction has none.
TX_EXECUTED_STATUSES = frozenset({2, 3})
TX_FAILED_STATUSES = frozenset({4, 5})
TX_STATUS_FAILED_OR_PENDING = 0
#: The longest venue reason quoted in an error (the text is the venue's, so it is bounded and made printable).
MAX_REASON_CHARS = 160

MAX_CLIENT_ORDER_INDEX = 2**48 - 1
MAX_BASE_AMOUNT = 2**48 - 1
MAX_PRICE_UNITS = 2**32 - 1
NIL_MARKET_INDEX = 255

ORDER_TYPE_LIMIT = 0
ORDER_TYPE_MARKET = 1
TIF_IMMEDIATE_OR_CANCEL = 0
TIF_GOOD_TILL_TIME = 1
TIF_POST_ONLY = 2
#: The signer's "28 days from now" expiry for resting orders; market / IOC orders carry 0.
ORDER_EXPIRY_DEFAULT = -1
ORDER_EXPIRY_IOC = 0
CANCEL_ALL_IMMEDIATE = 0

MARGIN_MODES = {"cross": 0, "isolated": 1}

#: Statuses of an order the sequencer is still working; every other status is final.
WORKING_STATUSES = frozenset({"in-progress", "pending", "open"})

#: Final statuses that, with nothing filled, mean the venue refused the order (FAILED with this error class).
#: Other ``canceled-*`` statuses (too much slippage, not enough liquidity, expired, ...) end CANCELLED.
REFUSAL_STATUSES: dict[str, type[VenueError]] = {
    "canceled-margin-not-allowed": InsufficientMargin,
    "canceled-invalid-balance": InsufficientMargin,
    "canceled-reduce-only": InvalidOrder,
    "canceled-position-not-allowed": InvalidOrder,
    "canceled-post-only": PostOnlyRejected,
}

_CODE_ERRORS: dict[int, tuple[type[VenueError], str]] = {
    CODE_INVALID_NONCE: (NonceMismatch, "invalid nonce"),
    CODE_BATCH_NONCES_NOT_CONSECUTIVE: (NonceMismatch, "batch nonces are not consecutive"),
    CODE_INVALID_PUBLIC_KEY: (AuthError, "the api key is not registered for this account"),
    CODE_INVALID_SIGNATURE: (AuthError, "invalid signature (check chain_id: 304 mainnet, 300 testnet)"),
    CODE_ACCIDENTAL_PRICE: (
        InvalidOrder,
        "accidental price: the sell's worst-price bound is too far below mark (lower max_slippage)",
    ),
    CODE_TOO_MANY_REQUESTS: (RateLimited, "too many requests"),
}


def error_for_code(
    code: int | None, message: str, *, connector: str | None, status: int | None = None, context: str | None = None
) -> VenueError:
    """The hedgectl error for a Lighter ``{"code", "message"}`` refusal (an HTTP 400, or a 200 with code != 200).

    ``context`` (the request, e.g. "sendTx") prefixes the message.
    """
    known = _CODE_ERRORS.get(code) if code is not None else None
    text = message or "request refused"
    if known is not None:
        cls, description = known
        text = description if not message or message.lower() in description.lower() else f"{description} ({message})"
    elif status in (401, 403) or "auth" in text.lower() or "signature" in text.lower():
        cls = AuthError
    elif code is not None and 21700 <= code < 21800:
        cls = InvalidOrder  # the venue's order-validation family
    else:
        cls = VenueError
    if context:
        text = f"{context}: {text}"
    return cls(text, venue=VENUE, connector=connector, code=code, status=status)


def is_not_found(error: VenueError) -> bool:
    """Whether a lookup's error is the venue's clean answer that it holds no such record: an API refusal with the
    venue's code and a "not found" message. A failure to answer, an unreadable or unauthorised answer, or any other
    refusal says nothing about whether the record exists."""
    if isinstance(error, (AuthError, RateLimited, VenueUnavailable)) or error.code is None:
        return False
    return error.code == CODE_TX_NOT_FOUND or (error.status in (400, 404) and "not found" in error.message.lower())


def tx_outcome(document: dict[str, Any]) -> str | None:
    """"executed", "failed" or None (not final, or not readable as either) for a GET tx answer, safe under every
    published reading of its ``status`` (see ``TX_EXECUTED_STATUSES``)."""
    status = document.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        return None
    if status in TX_EXECUTED_STATUSES:
        return "executed"
    if status in TX_FAILED_STATUSES:
        return "failed"
    if status == TX_STATUS_FAILED_OR_PENDING:
        executed_at = document.get("executed_at")
        if isinstance(executed_at, int) and not isinstance(executed_at, bool) and executed_at > 0:
            return "failed"
    return None


def tx_failure_reason(document: dict[str, Any]) -> str:
    """The venue's reason for a failed transaction, from its ``event_info`` (a JSON text), bounded and printable."""
    reason = ""
    info = document.get("event_info")
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            reason = info
    if isinstance(info, dict):
        for key in ("error", "message", "reason", "ae"):
            if isinstance(info.get(key), str) and info[key]:
                reason = info[key]
                break
    reason = "".join(ch if ch.isprintable() else " " for ch in reason).strip()[:MAX_REASON_CHARS]
    return reason or f"transaction failed (status {document.get('status')})"


def is_working(status: str) -> bool:
    return status in WORKING_STATUSES


# --- decimals and integer units -------------------------------------------------------------------------------------


def to_units(value: Decimal, decimals: int, *, what: str) -> int:
    """``value`` in the market's smallest units (3500.12 with 2 decimals -> 350012); it must already be on the grid."""
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise InvalidOrder(f"{what} {value} has more than {decimals} decimals", venue=VENUE)
    return int(scaled)


def from_units(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)


def decimal_field(document: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    """A decimal field of a venue document (string or number); VenueProtocolError when it is missing or not a number."""
    return fields.decimal_field(document, name, venue=VENUE, required=required)


def int_field(document: dict[str, Any], name: str) -> int:
    value = document.get(name)
    if isinstance(value, bool) or value is None:
        raise VenueProtocolError(f"field {name!r} missing or not an integer", venue=VENUE)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise VenueProtocolError(f"field {name!r} is not an integer: {value!r}", venue=VENUE) from None


def list_field(document: dict[str, Any], name: str, *, required: bool = False) -> list[dict[str, Any]]:
    """A list of objects; a missing field reads as empty unless ``required`` (then it is a VenueProtocolError).

    Require every list whose emptiness the connector acts on (positions, an account's orders, its trades): an
    answer that lost the field must never read as "flat" or "no such order".
    """
    value = document.get(name)
    if value is None:
        if required:
            raise VenueProtocolError(f"field {name!r} missing in the venue's answer", venue=VENUE)
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise VenueProtocolError(f"field {name!r} is not a list of objects", venue=VENUE)
    return value
