"""Backpack's wire formats: error bodies mapped into hedgectl's exception tree, and venue documents parsed into the
connector's data types (orders, positions, fills, market rules, collateral).

Errors are classified by the venue's ``code`` and ``message`` together: the same code (INVALID_CLIENT_REQUEST) covers
a bad signature, an expired request and a quantity off the step, and only the message tells them apart.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import Balance, Fill, MarketRules, OrderReport, Position
from hedgectl.connectors.fields import decimal_field
from hedgectl.decimals import ROUND_DOWN, ZERO, to_decimal
from hedgectl.errors import (
    AuthError,
    BelowMinimumSize,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    PostOnlyRejected,
    RateLimited,
    VenueError,
    VenueProtocolError,
    VenueUnavailable,
)
from hedgectl.model.orders import Side

VENUE = "backpack"

SIDE_TO_WIRE = {Side.BUY: "Bid", Side.SELL: "Ask"}
SIDE_FROM_WIRE = {"Bid": Side.BUY, "Ask": Side.SELL}

#: Statuses after which the venue fills no more of an order. Unknown statuses are treated as still working.
DONE_STATUSES = frozenset({"Filled", "Cancelled", "Expired", "TriggerFailed"})

AUTH_CODES = frozenset({"UNAUTHORIZED", "INVALID_SIGNATURE", "FORBIDDEN", "ACCOUNT_DEACTIVATED"})
# Messages under INVALID_CLIENT_REQUEST that concern the request's authentication rather than its content.
AUTH_MESSAGES = ("invalid signature", "request has expired", "invalid x-signature", "invalid x-api-key",
                 "invalid x-timestamp", "invalid x-window", "invalid api key")
MARGIN_CODES = frozenset({"INSUFFICIENT_MARGIN", "INSUFFICIENT_FUNDS"})
UNAVAILABLE_CODES = frozenset({"MAINTENANCE", "SERVER_ERROR", "TIMEOUT", "TRADING_PAUSED"})
POST_ONLY_MESSAGES = ("immediately match", "post only", "postonly")

#: Expiry reasons that mean the venue refused an order outright (when nothing of it filled).
REFUSAL_REASONS: dict[str, type[VenueError]] = {
    "InsufficientMargin": InsufficientMargin,
    "InsufficientFunds": InsufficientMargin,
    "NegativeEquity": InsufficientMargin,
    "ReduceOnlyNotReduced": InvalidOrder,
    "PostOnlyTaker": PostOnlyRejected,
    "InvalidPrice": InvalidOrder,
    "InvalidQuantity": InvalidOrder,
    "PriceOutOfBounds": InvalidOrder,
    "PositionLimit": InvalidOrder,
    "AccountTradingSuspended": AuthError,
    "UserPermissions": AuthError,
}


class RequestExpired(AuthError):
    """The venue refused a request as older than its window; it was not executed (re-learn the clock, resend)."""


def error_body(text: str) -> tuple[str | None, str]:
    """The ``(code, message)`` of an error answer; plain-text bodies give ``(None, text)``."""
    try:
        document = json.loads(text)
    except ValueError:
        return None, text.strip()[:300]
    if isinstance(document, dict):
        code = document.get("code")
        message = document.get("message")
        return (str(code) if code is not None else None), str(message if message is not None else text.strip()[:300])
    return None, text.strip()[:300]


def error_from_response(status: int, text: str, *, connector: str | None = None) -> VenueError:
    """The exception for a non-2xx answer, chosen by status, code and message together."""
    code, message = error_body(text)
    lowered = message.lower()
    where = dict(venue=VENUE, connector=connector, code=code, status=status)
    described = message or f"HTTP {status}"
    if status == 429 or code == "TOO_MANY_REQUESTS":
        return RateLimited(described or "rate limited", **where)
    if "request has expired" in lowered:
        return RequestExpired(described, **where)
    if code in AUTH_CODES or (code == "INVALID_CLIENT_REQUEST" and any(m in lowered for m in AUTH_MESSAGES)):
        return AuthError(described, **where)
    if status in (401, 403) and code in (None, "INVALID_CLIENT_REQUEST"):
        return AuthError(described, **where)
    if code in MARGIN_CODES or "insufficient margin" in lowered or "insufficient funds" in lowered:
        return InsufficientMargin(described, **where)
    if code == "RESOURCE_NOT_FOUND":
        return OrderNotFound(described, **where)
    if status >= 500 or code in UNAVAILABLE_CODES:
        return VenueUnavailable(described, **where)
    if "below the minimum" in lowered:
        return BelowMinimumSize(described, **where)
    if any(m in lowered for m in POST_ONLY_MESSAGES) and ("match" in lowered or "taker" in lowered):
        return PostOnlyRejected(described, **where)
    if 400 <= status < 500:
        return InvalidOrder(described, **where)
    return VenueProtocolError(f"unexpected answer: {described}", **where)


# --- documents ------------------------------------------------------------------------------------------------


def _decimal(document: dict[str, Any], key: str, *, default: Decimal | None = None) -> Decimal | None:
    return decimal_field(document, key, venue=VENUE, default=default)


def _required_decimal(document: dict[str, Any], key: str) -> Decimal:
    return decimal_field(document, key, venue=VENUE, required=True)


def client_id(value: Any) -> int | None:
    """A clientId as the venue sends it (a number, or digits in a string), or None."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value)
    # ASCII digits only, and no longer than a u32 can be: int() refuses other Unicode digits and very long texts
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


def _timestamp_seconds(value: Any) -> float | None:
    """Milliseconds (number or digits), microseconds, or a naive ISO date-time in UTC, as Unix seconds."""
    if value is None:
        return None
    text = str(value)
    if text.isdigit():
        number = int(text)
        return number / 1_000_000 if number > 10**14 else number / 1000
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def expect(document: Any, kind: type, what: str) -> Any:
    if not isinstance(document, kind):
        raise VenueProtocolError(f"{what}: expected a JSON {kind.__name__}, got {type(document).__name__}", venue=VENUE)
    return document


def order_report(document: dict[str, Any]) -> OrderReport:
    """An order document (execute answer, open order, history row) as an OrderReport."""
    expect(document, dict, "order")
    side = SIDE_FROM_WIRE.get(document.get("side"))
    if side is None:
        raise VenueProtocolError(f"order side {document.get('side')!r} is neither Bid nor Ask", venue=VENUE)
    status = str(document.get("status") or "")
    filled = _decimal(document, "executedQuantity", default=ZERO)
    quote = _decimal(document, "executedQuoteQuantity", default=ZERO)
    average = quote / filled if filled else None
    return OrderReport(
        client_order_index=client_id(document.get("clientId")),
        venue_order_id=str(document["id"]) if document.get("id") is not None else None,
        symbol=str(document.get("symbol")),
        side=side,
        size=_decimal(document, "quantity", default=filled),
        filled_size=filled,
        done=status in DONE_STATUSES,
        status=status,
        average_price=average,
        price=_decimal(document, "price"),
        reduce_only=bool(document.get("reduceOnly")),
        created_at=_timestamp_seconds(document.get("createdAt")),
    )


def expiry_reason(document: dict[str, Any]) -> str | None:
    """Why the venue ended an order early (``InsufficientMargin``, ``SlippageToleranceExceeded``, ...), if it says."""
    reason = document.get("expiryReason")
    return str(reason) if reason else None


def refusal(report: OrderReport, reason: str | None, *, connector: str | None = None) -> VenueError | None:
    """The error an order that ended with nothing filled stands for, when its expiry reason is a refusal."""
    if not report.done or report.filled_size != 0:
        return None
    error_class = REFUSAL_REASONS.get(reason or "")
    if error_class is None:
        return None
    return error_class(f"order expired: {reason}", venue=VENUE, connector=connector, code=reason)


def market_rules(document: dict[str, Any]) -> MarketRules:
    expect(document, dict, "market")
    filters = expect(document.get("filters"), dict, "market filters")
    price = expect(filters.get("price"), dict, "price filter")
    quantity = expect(filters.get("quantity"), dict, "quantity filter")
    step = _required_decimal(quantity, "stepSize")
    tick = _required_decimal(price, "tickSize")
    if step <= 0 or tick <= 0:
        raise VenueProtocolError(f"{document.get('symbol')}: step {step} / tick {tick} must be positive", venue=VENUE)
    return MarketRules(
        symbol=str(document["symbol"]),
        base_asset=str(document.get("baseSymbol") or str(document["symbol"]).split("_")[0]),
        step_size=step,
        tick_size=tick,
        min_size=_decimal(quantity, "minQuantity", default=step),
        max_leverage=_max_leverage(document.get("imfFunction")),
    )


def _max_leverage(imf_function: Any) -> Decimal | None:
    """A perp's highest leverage: 1 / the base of its initial margin function (the margin fraction of the smallest
    position; larger positions need more). None when the market does not publish one."""
    if not isinstance(imf_function, dict):
        return None
    try:
        base = _decimal(imf_function, "base")
    except VenueProtocolError:
        return None
    if base is None or base <= 0:
        return None
    return (Decimal(1) / base).to_integral_value(rounding=ROUND_DOWN)


def taker_fee_rate(document: Any) -> Decimal | None:
    """``/api/v1/account``'s ``futuresTakerFee`` (basis points) as a fraction of notional; None when absent."""
    if not isinstance(document, dict):
        return None
    try:
        bps = _decimal(document, "futuresTakerFee")
    except VenueProtocolError:
        return None
    if bps is None or bps < 0:
        return None
    return bps / 10_000


def position(document: dict[str, Any], *, connector: str) -> Position:
    """A ``/api/v1/position`` row; ``netQuantity`` is signed (negative = short), there is no side field."""
    expect(document, dict, "position")
    liquidation = _decimal(document, "estLiquidationPrice")
    return Position(
        connector=connector,
        venue=VENUE,
        symbol=str(document.get("symbol")),
        signed_size=_required_decimal(document, "netQuantity"),
        entry_price=_decimal(document, "entryPrice"),
        mark_price=_decimal(document, "markPrice"),
        unrealized_pnl=_decimal(document, "pnlUnrealized"),
        realized_pnl=_decimal(document, "pnlRealized"),
        liquidation_price=liquidation if liquidation else None,
    )


def balance(document: dict[str, Any], *, connector: str) -> Balance:
    """``/api/v1/capital/collateral``: net equity, what is available for new orders, and the collateral value."""
    expect(document, dict, "collateral")
    rows = document.get("collateral") or []
    collateral = sum((_decimal(row, "collateralValue", default=ZERO) for row in rows if isinstance(row, dict)), ZERO)
    return Balance(
        connector=connector,
        venue=VENUE,
        asset="USDC",
        equity=_required_decimal(document, "netEquity"),
        available=_required_decimal(document, "netEquityAvailable"),
        collateral=collateral if rows else None,
    )


def fill(document: dict[str, Any]) -> Fill:
    """A fill-history row; liquidation and ADL fills are told apart by their ``systemOrderType``."""
    expect(document, dict, "fill")
    system_type = str(document.get("systemOrderType") or "")
    if "Adl" in system_type:
        kind = "adl"
    elif "Liquidat" in system_type or "Backstop" in system_type:
        kind = "liquidation"
    else:
        kind = "trade"
    side = SIDE_FROM_WIRE.get(document.get("side"))
    if side is None:
        raise VenueProtocolError(f"fill side {document.get('side')!r} is neither Bid nor Ask", venue=VENUE)
    return Fill(
        symbol=str(document.get("symbol")),
        side=side,
        size=_required_decimal(document, "quantity"),
        price=_required_decimal(document, "price"),
        fee=_decimal(document, "fee", default=ZERO),
        kind=kind,
        at=_timestamp_seconds(document.get("timestamp")) or 0.0,
        order_id=str(document["orderId"]) if document.get("orderId") is not None else None,
        client_order_index=client_id(document.get("clientId")),
    )


def best_prices(levels: Any, *, best_is_max: bool) -> tuple[Decimal | None, Decimal | None]:
    """The best price and its size from depth levels ``[[price, size], ...]``, in whatever order they are listed."""
    best: tuple[Decimal, Decimal] | None = None
    for level in expect(levels, list, "depth levels"):
        price, size = to_decimal(level[0], what="price"), to_decimal(level[1], what="size")
        if size <= 0:
            continue
        if best is None or (price > best[0] if best_is_max else price < best[0]):
            best = (price, size)
    return best if best is not None else (None, None)
