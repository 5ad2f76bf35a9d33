"""Paper Backpack's wire vocabulary: the venue's names for sides, order types, statuses and refusals, its error
answers, and numbers and times as the venue writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

from hedgectl.sim.exchange.records import CancelReason, OrderStatus, OrderType, RuleViolation, Side, TimeInForce
from hedgectl.sim.market import plain
from hedgectl.sim.server import json_response

SIDES = {"Bid": Side.BUY, "Ask": Side.SELL}
SIDE_NAMES = {Side.BUY: "Bid", Side.SELL: "Ask"}
ORDER_TYPES = {"Market": OrderType.MARKET, "Limit": OrderType.LIMIT}
TIME_IN_FORCE = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
TIME_IN_FORCE_NAMES = {value: key for key, value in TIME_IN_FORCE.items()}
STATUS_NAMES = {
    OrderStatus.NEW: "New",
    OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
    OrderStatus.FILLED: "Filled",
}
EXPIRY_REASONS = {
    CancelReason.INSUFFICIENT_MARGIN: "InsufficientMargin",
    CancelReason.INSUFFICIENT_LIQUIDITY: "InsufficientLiquidity",
    CancelReason.REDUCE_ONLY: "ReduceOnlyNotReduced",
    CancelReason.POST_ONLY_TAKER: "PostOnlyTaker",
    CancelReason.IMMEDIATE_OR_CANCEL: "ImmediateOrCancel",
    CancelReason.SLIPPAGE: "SlippageToleranceExceeded",
    CancelReason.FILL_OR_KILL: "FillOrKill",
    CancelReason.LIQUIDATION: "Liquidation",
}
# What an order that could not execute at all answers, instead of an order document.
REFUSALS = {
    CancelReason.INSUFFICIENT_MARGIN: ("INSUFFICIENT_MARGIN", "Insufficient margin"),
    CancelReason.REDUCE_ONLY: ("INVALID_ORDER", "Reduce only order not reduced"),
    CancelReason.POST_ONLY_TAKER: ("INVALID_ORDER", "Order would immediately match and take"),
    CancelReason.INSUFFICIENT_LIQUIDITY: ("INVALID_ORDER", "No liquidity for market order"),
    CancelReason.FILL_OR_KILL: ("INVALID_ORDER", "Fill or kill order would not fill completely"),
}
RULE_MESSAGES = {
    RuleViolation.UNKNOWN_SYMBOL: ("INVALID_SYMBOL", "Invalid symbol"),
    RuleViolation.QUANTITY_NOT_POSITIVE: ("INVALID_CLIENT_REQUEST", "Quantity must be positive"),
    RuleViolation.QUANTITY_PRECISION: ("INVALID_CLIENT_REQUEST", "Quantity decimal too long"),
    RuleViolation.QUANTITY_BELOW_MINIMUM: ("INVALID_CLIENT_REQUEST", "Quantity is below the minimum allowed value"),
    RuleViolation.NOTIONAL_BELOW_MINIMUM: ("INVALID_CLIENT_REQUEST", "Quantity is below the minimum allowed value"),
    RuleViolation.PRICE_MISSING: ("INVALID_CLIENT_REQUEST", "Price is required for a limit order"),
    RuleViolation.PRICE_NOT_POSITIVE: ("INVALID_PRICE", "Price must be positive"),
    RuleViolation.PRICE_PRECISION: ("INVALID_CLIENT_REQUEST", "Price decimal too long"),
    RuleViolation.PRICE_TOO_HIGH: ("INVALID_PRICE", "Price is too far from the last active price"),
}


class RawNumber(str):
    """A JSON number kept as the text it was sent as, so that the signing string matches what the client signed."""


class ApiError(Exception):
    """An error answer: Backpack's ``{"code", "message"}`` JSON body, or plain text when ``code`` is None."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        if self.code is None:
            return web.Response(status=self.status, text=self.message)
        return json_response({"code": self.code, "message": self.message}, status=self.status)


def bad_request(message: str, code: str = "INVALID_CLIENT_REQUEST") -> ApiError:
    return ApiError(400, code, message)


def parse_error(message: str) -> ApiError:
    # The venue answers body deserialisation failures in plain text.
    return ApiError(400, None, f"Failed to deserialize the JSON body into the target type: {message}")


def decimal_text(value: Decimal | None) -> str | None:
    """A Decimal without trailing zeros, in plain notation."""
    if value is None:
        return None
    return plain(value.normalize()) if value != 0 else "0"


def iso_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]

