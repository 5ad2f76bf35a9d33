"""Paper GRVT's wire vocabulary: the venue's error codes and answers, and how it reads and writes numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from hedgectl.sim.server import json_response

PRICE_QUANTUM = Decimal("0.000000001")
QUOTE_QUANTUM = Decimal("0.000001")
NANOS_PER_MS = 1_000_000

#: Code -> (HTTP status, message) of the venue errors paper GRVT answers.
ERRORS: dict[int, tuple[int, str]] = {
    1000: (401, "You need to authenticate prior to using this functionality"),
    1001: (403, "You are not authorized to access this functionality"),
    1002: (500, "Internal Server Error"),
    1003: (400, "Request could not be processed due to malformed syntax"),
    1004: (404, "Data Not Found"),
    1006: (429, "You have surpassed the allocated rate limit for your tier"),
    1009: (503, "We are temporarily deactivating this API endpoint, please try again later"),
    2000: (403, "Signature is from an unauthorized signer"),
    2001: (403, "Signature has expired"),
    2002: (403, "Signature does not match payload"),
    2003: (403, "Order sub account does not match logged in user"),
    2005: (403, "Signature V must be 27/28"),
    2006: (403, "Signature R/S must have exactly 64 characters long without 0x prefix"),
    2007: (403, "Signature S must be in the lower half of the curve"),
    2008: (403, "Signature exceeds maximum allowed duration."),
    2010: (400, "Order ID should be empty when creating an order"),
    2011: (400, "Client Order ID should be supplied when creating an order"),
    2012: (400, "Client Order ID overlaps with existing active order"),
    2020: (400, "Market Order must always be supplied without a limit price"),
    2021: (400, "Limit Order must always be supplied with a limit price"),
    2030: (400, "Orderbook Orders must have a TimeInForce of GTT/IOC/FOK"),
    2032: (400, "Post Only can only be set to true for GTT/AON orders"),
    2040: (400, "Order must contain at least one leg"),
    2042: (400, "Orderbook Orders must contain only one leg"),
    2050: (400, "Order state must be empty upon creation"),
    2061: (400, "Unsupported Instrument Requested"),
    2062: (400, "Order size smaller than min size"),
    2064: (400, "Invalid limit price tick"),
    2065: (400, "Order size too granular"),
    2080: (400, "Insufficient margin to create order"),
    2081: (400, "Order Fill would result in exceeding maximum position size"),
    2301: (400, "Order cancel time-to-live exceeds maximum allowed value."),
    2400: (400, "Reduce only order with no position"),
    2401: (400, "Reduce only order must not increase position size"),
    3000: (400, "Instrument is invalid"),
    3021: (400, "Either order ID or client order ID must be supplied"),
    3031: (400, "Depth is invalid"),
}


class GrvtError(Exception):
    """A GRVT error answer: ``{"code", "message", "status"}`` with the HTTP status of the code."""

    def __init__(self, code: int, message: str | None = None, status: int | None = None) -> None:
        default_status, default_message = ERRORS.get(code, (400, "Request could not be processed"))
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        super().__init__(f"{self.code}: {self.message}")

    def response(self) -> web.Response:
        return json_response({"code": self.code, "message": self.message, "status": self.status}, status=self.status)


def num_text(value: Decimal | None) -> str:
    """A decimal as the venue writes it: plain, without trailing zeros, with at least one decimal place."""
    if value is None or value == 0:
        return "0.0"
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def price_text(value: Decimal | None) -> str:
    return num_text(value.quantize(PRICE_QUANTUM) if value is not None else None)


def quote_text(value: Decimal) -> str:
    return num_text(value.quantize(QUOTE_QUANTUM))


def decimal_field(value: Any, code: int = 1003) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise GrvtError(code)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise GrvtError(code) from None
    if not number.is_finite():
        raise GrvtError(code)
    return number


def integer_field(value: Any, maximum: int, code: int = 1003) -> int:
    text = str(value) if value is not None and not isinstance(value, bool) else ""
    if not text.isdigit() or int(text) > maximum:
        raise GrvtError(code)
    return int(text)


def flag(document: dict[str, Any], key: str) -> bool:
    value = document.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise GrvtError(1003)
    return value


def hex64(value: Any) -> int:
    text = str(value or "")
    text = text[2:] if text.lower().startswith("0x") else text
    if len(text) != 64:
        raise GrvtError(2006)
    try:
        return int(text, 16)
    except ValueError:
        raise GrvtError(2006) from None

