"""Backpack error answers mapped into the exception tree by status, code and message together."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from hedgectl.connectors.backpack import BackpackConnector, wire
from hedgectl.errors import (
    AuthError,
    BelowMinimumSize,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    PostOnlyRejected,
    RateLimited,
    VenueProtocolError,
    VenueUnavailable,
)
from hedgectl.model.orders import OrderState, Side

from .conftest import ETH, PaperBackpack


def _body(code: str, message: str) -> str:
    return json.dumps({"code": code, "message": message})


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (401, _body("INVALID_CLIENT_REQUEST", "Invalid signature"), AuthError),
        (400, _body("INVALID_CLIENT_REQUEST", "Invalid X-Signature header"), AuthError),
        (400, _body("INVALID_CLIENT_REQUEST", "Invalid X-API-Key header"), AuthError),
        (401, _body("INVALID_CLIENT_REQUEST", "Request has expired"), wire.RequestExpired),
        (401, _body("UNAUTHORIZED", "Unauthorized"), AuthError),
        (401, "Unauthorized", AuthError),
        (400, _body("INVALID_CLIENT_REQUEST", "Quantity decimal too long"), InvalidOrder),
        (400, _body("INVALID_CLIENT_REQUEST", "Price decimal too long"), InvalidOrder),
        (400, _body("INVALID_CLIENT_REQUEST", "Quantity is below the minimum allowed value"), BelowMinimumSize),
        (400, _body("INVALID_ORDER", "Order would immediately match and take"), PostOnlyRejected),
        (400, _body("INVALID_ORDER", "Reduce only order not reduced"), InvalidOrder),
        (400, _body("INVALID_ORDER", "No liquidity for market order"), InvalidOrder),
        (400, _body("INVALID_SYMBOL", "Invalid symbol"), InvalidOrder),
        (400, _body("INSUFFICIENT_MARGIN", "Insufficient margin"), InsufficientMargin),
        (400, _body("INSUFFICIENT_FUNDS", "Insufficient funds"), InsufficientMargin),
        (404, _body("RESOURCE_NOT_FOUND", "Order not found"), OrderNotFound),
        (429, _body("TOO_MANY_REQUESTS", "Too many requests"), RateLimited),
        (429, "", RateLimited),
        (503, _body("MAINTENANCE", "Service unavailable"), VenueUnavailable),
        (400, _body("TRADING_PAUSED", "Trading is paused"), VenueUnavailable),
        (500, _body("SERVER_ERROR", "Internal server error"), VenueUnavailable),
        (502, "Bad Gateway", VenueUnavailable),
        (400, "Failed to deserialize the JSON body into the target type: clientId: invalid value", InvalidOrder),
        (302, "moved", VenueProtocolError),
    ],
)
def test_error_answers_map_to_their_class(status: int, text: str, expected: type) -> None:
    error = wire.error_from_response(status, text, connector="bp")
    assert type(error) is expected
    assert error.status == status and error.venue == "backpack" and error.connector == "bp"


def test_the_same_code_maps_by_its_message() -> None:
    signature = wire.error_from_response(400, _body("INVALID_CLIENT_REQUEST", "Invalid signature"))
    quantity = wire.error_from_response(400, _body("INVALID_CLIENT_REQUEST", "Quantity decimal too long"))
    assert isinstance(signature, AuthError) and not isinstance(quantity, AuthError)
    assert signature.code == quantity.code == "INVALID_CLIENT_REQUEST"


def test_plain_text_error_keeps_its_text_without_a_code() -> None:
    error = wire.error_from_response(400, "Failed to deserialize the JSON body: expected u32\n")
    assert error.code is None and error.message == "Failed to deserialize the JSON body: expected u32"


@pytest.mark.parametrize(
    ("reason", "filled", "expected"),
    [
        ("InsufficientMargin", "0", InsufficientMargin),
        ("ReduceOnlyNotReduced", "0", InvalidOrder),
        ("PostOnlyTaker", "0", PostOnlyRejected),
        ("SlippageToleranceExceeded", "0", None),
        ("ImmediateOrCancel", "0", None),
        ("InsufficientMargin", "0.1", None),
    ],
)
def test_an_order_that_expired_unfilled_is_a_refusal_only_for_refusal_reasons(reason: str, filled: str,
                                                                              expected: type | None) -> None:
    document = {"id": "1", "clientId": 5, "symbol": ETH, "side": "Bid", "orderType": "Market", "quantity": "0.2",
                "executedQuantity": filled, "executedQuoteQuantity": "0", "status": "Expired", "expiryReason": reason}
    refused = wire.refusal(wire.order_report(document), wire.expiry_reason(document))
    assert (type(refused) if refused is not None else None) is expected


def test_refusal_by_signature_ends_the_order_failed_as_auth_error(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("reject", code="INVALID_CLIENT_REQUEST", message="Invalid signature", count=1)

    async def scenario(connector: BackpackConnector):
        await connector.prepare(ETH)
        intent = await connector.build_intent(ETH, Side.BUY, Decimal("0.1"))
        handles = []
        with pytest.raises(AuthError):
            handles.append(await connector.submit_order(intent, listeners=[lambda s, t: handles.append(s)]))
        return handles

    snapshots = paper_backpack.run(scenario)
    assert snapshots[-1].state is OrderState.FAILED and isinstance(snapshots[-1].error, AuthError)
    assert paper_backpack.orders() == []


def test_rate_limited_order_is_refused_not_left_unknown(paper_backpack: PaperBackpack) -> None:
    paper_backpack.arm("rate_limit", count=1, path="/api/v1/order")

    async def scenario(connector: BackpackConnector) -> None:
        await connector.prepare(ETH)
        with pytest.raises(RateLimited):
            await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))

    paper_backpack.run(scenario)
    assert paper_backpack.orders() == []
