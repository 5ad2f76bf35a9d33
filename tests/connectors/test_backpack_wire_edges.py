"""Answers the live venue gives that paper Backpack does not: 202 with an empty body on cancel, plain-text errors,
an unreadable order answer, an order answered as expired for margin, order history lagging behind fills.

A scripted Backpack-shaped server on a loopback port plays them; it checks every request's signature with the paper
venue's own verifier (written independently of the connector's signer) and records what it received.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from nacl.signing import SigningKey

from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.errors import AmbiguousOutcome, InsufficientMargin, InvalidOrder, VenueError
from hedgectl.model.orders import OrderState, Side
from hedgectl.sim.backpack.signature import SIGNED_ROUTES, signing_string

from .loopback import serve

ETH = "ETH_USDC_PERP"
MARKET = {
    "symbol": ETH, "baseSymbol": "ETH", "quoteSymbol": "USDC", "marketType": "PERP",
    "filters": {"price": {"tickSize": "0.01"}, "quantity": {"minQuantity": "0.001", "stepSize": "0.0001"}},
}

Handler = Callable[[dict[str, Any]], web.StreamResponse]


class ScriptedVenue:
    """A loopback HTTP server answering Backpack routes from a script; ``received`` lists (method, path, params)."""

    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.script: dict[tuple[str, str], Handler] = {
            ("GET", "/api/v1/time"): lambda params: web.Response(text=str(int(time.time() * 1000))),
            ("GET", "/api/v1/market"): lambda params: web.json_response(MARKET),
        }
        self.received: list[tuple[str, str, Any]] = []
        self.bad_signatures = 0
        self.windows: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.script[(method, path)] = handler

    def config(self, **fields: Any) -> ConnectorConfig:
        return ConnectorConfig(
            name="bp", venue="backpack", base_url=self.url,
            secrets={"api_secret": Secret(base64.b64encode(bytes(self.key)).decode(), source="test")},
            **fields,
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            params: Any = dict(request.query)
        else:
            raw = await request.read()
            params = json.loads(raw) if raw else {}
        self.received.append((request.method, request.path, params))
        instruction = SIGNED_ROUTES.get((request.method, request.path))
        if instruction is not None:
            self.windows.add(request.headers["X-Window"])
            message = signing_string(instruction, params, request.headers["X-Timestamp"], request.headers["X-Window"])
            try:
                self.key.verify_key.verify(message.encode(), base64.b64decode(request.headers["X-Signature"]))
            except Exception:
                self.bad_signatures += 1
                return web.json_response({"code": "INVALID_CLIENT_REQUEST", "message": "Invalid signature"}, status=401)
        handler = self.script.get((request.method, request.path))
        if handler is None:
            return web.Response(status=404)
        return handler(params)

    async def __aenter__(self) -> ScriptedVenue:
        self._runner, self.url = await serve(self._handle)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()


def run(scenario: Callable[[ScriptedVenue, BackpackConnector], Awaitable[Any]], **config: Any) -> Any:
    async def main() -> Any:
        async with ScriptedVenue() as venue:
            async with BackpackConnector(venue.config(**config)) as connector:
                connector.resolve_poll_secs = 0.02
                result = await scenario(venue, connector)
            assert venue.bad_signatures == 0
            return result

    return asyncio.run(main())


def _order(client_id: int, **fields: Any) -> dict[str, Any]:
    return {"id": "77", "clientId": client_id, "symbol": ETH, "side": "Bid", "orderType": "Market",
            "quantity": "0.2", "executedQuantity": "0", "executedQuoteQuantity": "0", "status": "New", **fields}


def _not_found(params: dict[str, Any]) -> web.Response:
    return web.json_response({"code": "RESOURCE_NOT_FOUND", "message": "Order not found"}, status=404)


def test_cancel_answered_202_with_an_empty_body_is_accepted_and_carries_a_json_body() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("DELETE", "/api/v1/order", lambda params: web.Response(status=202))
        await connector.cancel_order(ETH, 4242)
        return [entry for entry in venue.received if entry[0] == "DELETE"]

    deletes = run(scenario)
    assert deletes == [("DELETE", "/api/v1/order", {"symbol": ETH, "clientId": 4242})]


def test_cancel_all_answered_202_returns_once_the_venue_shows_nothing_open() -> None:
    answers = [[_order(1, orderType="Limit", price="3000")], []]

    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("DELETE", "/api/v1/orders", lambda params: web.Response(status=202))
        venue.on("GET", "/api/v1/orders", lambda params: web.json_response(answers.pop(0)))
        await connector.cancel_all(ETH)
        return venue.received

    received = run(scenario)
    assert ("DELETE", "/api/v1/orders", {"symbol": ETH}) in received
    assert answers == []


def test_cancel_all_that_leaves_orders_open_raises_naming_them() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector) -> None:
        venue.on("DELETE", "/api/v1/orders", lambda params: web.Response(status=202))
        venue.on("GET", "/api/v1/orders",
                 lambda params: web.json_response([_order(31337, orderType="Limit", price="3000")]))
        connector.cancel_confirm_secs = 0.3
        with pytest.raises(VenueError, match="31337"):
            await connector.cancel_all(ETH)

    run(scenario)


def test_plain_text_400_on_an_order_ends_it_failed_as_invalid_order() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("POST", "/api/v1/order",
                 lambda params: web.Response(status=400, text="Failed to deserialize the JSON body: quantity"))
        await connector.prepare(ETH)
        states = []
        with pytest.raises(InvalidOrder) as caught:
            await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"),
                                                listeners=[lambda s, t: states.append(s.state)])
        return caught.value, states

    error, states = run(scenario)
    assert error.code is None and "deserialize" in error.message
    assert states[-1] is OrderState.FAILED


def test_order_answered_expired_for_margin_ends_failed_as_insufficient_margin() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("POST", "/api/v1/order", lambda params: web.json_response(
            _order(params["clientId"], status="Expired", expiryReason="InsufficientMargin")))
        await connector.prepare(ETH)
        intent = await connector.build_intent(ETH, Side.BUY, Decimal("0.2"))
        states = []
        with pytest.raises(InsufficientMargin):
            await connector.submit_order(intent, listeners=[lambda s, t: states.append(s.state)])
        return states

    assert run(scenario) == [OrderState.SUBMITTING, OrderState.FAILED]


def test_unreadable_order_answer_is_resolved_by_client_id_from_fills_when_history_lags() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        sent: dict[str, Any] = {}

        def execute(params: dict[str, Any]) -> web.Response:
            sent.update(params)
            return web.Response(status=200, text="<html>upstream hiccup</html>")

        venue.on("POST", "/api/v1/order", execute)
        venue.on("GET", "/api/v1/order", _not_found)
        venue.on("GET", "/wapi/v1/history/orders", lambda params: web.json_response([]))
        venue.on("GET", "/wapi/v1/history/fills", lambda params: web.json_response([
            {"tradeId": n, "orderId": "77", "clientId": str(sent["clientId"]), "symbol": ETH, "side": "Bid",
             "price": price, "quantity": "0.1", "fee": "0.17", "feeSymbol": "USDC", "isMaker": False,
             "timestamp": "2025-07-27T17:39:00.092"}
            for n, price in ((1, "3500"), (2, "3502"))
        ]))
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        assert handle.snapshot().state is OrderState.UNKNOWN
        return await handle.wait_final(10), [entry for entry in venue.received if entry[0] == "POST"]

    final, posts = run(scenario)
    assert final.state is OrderState.FILLED and final.filled_size == Decimal("0.2")
    assert final.average_price == Decimal("3501") and final.fee == Decimal("0.34")
    assert len(posts) == 1


def test_order_body_is_exactly_what_was_signed() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("POST", "/api/v1/order", lambda params: web.json_response(
            _order(params["clientId"], side=params["side"], status="Filled", executedQuantity="0.3",
                   executedQuoteQuantity="1050")))
        venue.on("GET", "/api/v1/depth", lambda params: web.json_response(
            {"asks": [["3501.00", "2"]], "bids": [["3499.99", "1"], ["3500.00", "3"]], "lastUpdateId": "1",
             "timestamp": 1}))
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.3"), reduce_only=True,
                                                     max_slippage=Decimal("0.005"))
        return handle, [entry[2] for entry in venue.received if entry[0] == "POST"], venue.windows

    handle, [body], windows = run(scenario, options={"window_ms": 2500})
    assert windows == {"2500"}
    assert body == {
        "symbol": ETH, "side": "Ask", "quantity": "0.3", "clientId": handle.client_order_index,
        # the bound is a price, whose meaning no venue reads differently: best bid 3500 less 0.5 %, IOC
        "reduceOnly": True, "orderType": "Limit", "price": "3482.5", "timeInForce": "IOC",
    }
    assert handle.snapshot().state is OrderState.FILLED and handle.snapshot().average_price == Decimal("3500")


def test_lost_answer_the_venue_never_explains_ends_ambiguous_and_is_never_resent() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        unavailable = lambda params: web.json_response(  # noqa: E731
            {"code": "SERVER_ERROR", "message": "Internal server error"}, status=500)
        for method, path in (("POST", "/api/v1/order"), ("GET", "/api/v1/order"),
                             ("GET", "/wapi/v1/history/orders"), ("GET", "/wapi/v1/history/fills")):
            venue.on(method, path, unavailable)
        await connector.prepare(ETH)
        connector.resolve_timeout_secs = 0.3
        connector.absence_margin_secs = 0.05
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        with pytest.raises(AmbiguousOutcome) as caught:
            await handle.wait_final(10)
        posts = [entry for entry in venue.received if entry[0] == "POST"]
        return caught.value, handle.snapshot(), posts

    error, snapshot, posts = run(scenario, options={"window_ms": 100}, read_retries=1)
    assert error.client_order_index == snapshot.intent.client_order_index
    assert snapshot.state is OrderState.UNKNOWN and len(posts) == 1


class LaggingHistory:
    """Scripts a venue that executes a market buy whose answer is lost (HTTP 500 after execution), with a position
    that shows the fill at once and an order history that shows it only from ``visible_at`` (monotonic seconds)."""

    def __init__(self, venue: ScriptedVenue, *, executes: bool = True) -> None:
        self.net = Decimal(0)
        self.executed: dict[str, Any] | None = None
        self.visible_at = float("inf")
        self.executes = executes
        venue.on("POST", "/api/v1/order", self._execute)
        venue.on("GET", "/api/v1/order", _not_found)
        venue.on("GET", "/api/v1/position", self._position)
        venue.on("GET", "/wapi/v1/history/orders", self._history)
        venue.on("GET", "/wapi/v1/history/fills", lambda params: web.json_response([]))

    def _execute(self, params: dict[str, Any]) -> web.Response:
        if self.executes:
            self.net += Decimal(params["quantity"])
            self.executed = _order(params["clientId"], quantity=params["quantity"], status="Filled",
                                   executedQuantity=params["quantity"],
                                   executedQuoteQuantity=str(Decimal(params["quantity"]) * 3500))
        return web.json_response({"code": "SERVER_ERROR", "message": "Internal server error"}, status=500)

    def _position(self, params: dict[str, Any]) -> web.Response:
        rows = [] if self.net == 0 else [{"symbol": ETH, "netQuantity": str(self.net)}]
        return web.json_response(rows)

    def _history(self, params: dict[str, Any]) -> web.Response:
        shown = self.executed is not None and time.monotonic() >= self.visible_at
        return web.json_response([self.executed] if shown else [])


def _lost_buy(venue: ScriptedVenue, connector: BackpackConnector, *, prepare: bool = True):
    async def send():
        if prepare:
            await connector.prepare(ETH)
        connector.absence_margin_secs = 0.05
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        assert handle.snapshot().state is OrderState.UNKNOWN
        try:
            final = await handle.wait_final(10)
        except AmbiguousOutcome as exc:
            final = exc
        return handle, final, [entry for entry in venue.received if entry[0] == "POST"]

    return send()


def test_lost_order_is_not_declared_absent_while_its_history_lags_and_the_position_moved() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        history = LaggingHistory(venue)
        # the history shows the order long after two empty lookups past the request's window
        history.visible_at = time.monotonic() + 0.8
        return await _lost_buy(venue, connector)

    handle, final, posts = run(scenario, options={"window_ms": 100})
    assert final.state is OrderState.FILLED and final.filled_size == Decimal("0.2")
    assert len(posts) == 1


def test_lost_order_with_no_history_but_a_moved_position_ends_ambiguous_not_failed() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        LaggingHistory(venue)
        connector.resolve_timeout_secs = 0.3
        return await _lost_buy(venue, connector)

    handle, outcome, posts = run(scenario, options={"window_ms": 100})
    assert isinstance(outcome, AmbiguousOutcome) and "position moved from 0 to 0.2" in outcome.message
    assert outcome.client_order_index == handle.client_order_index
    assert handle.snapshot().state is OrderState.UNKNOWN and len(posts) == 1


def test_lost_order_is_proven_absent_only_against_a_position_read_before_the_send() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        LaggingHistory(venue, executes=False)
        connector.resolve_timeout_secs = 0.3
        venue.on("GET", "/api/v1/position", lambda params: web.json_response(
            {"code": "SERVER_ERROR", "message": "Internal server error"}, status=503))
        return await _lost_buy(venue, connector)

    handle, outcome, posts = run(scenario, options={"window_ms": 100}, read_retries=1)
    assert isinstance(outcome, AmbiguousOutcome) and "no position reading from before the send" in outcome.message
    assert handle.snapshot().state is OrderState.UNKNOWN and len(posts) == 1


def test_lost_order_that_never_executed_is_proven_absent_when_the_position_held_still() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        LaggingHistory(venue, executes=False)
        return await _lost_buy(venue, connector)

    handle, final, posts = run(scenario, options={"window_ms": 100})
    assert final.state is OrderState.FAILED and "never reached the venue" in final.error.message
    assert len(posts) == 1


def _fills_of(client_id: int, *quantities: str) -> Handler:
    return lambda params: web.json_response([
        {"tradeId": n, "orderId": "77", "clientId": str(client_id), "symbol": ETH, "side": "Bid", "price": "3500",
         "quantity": quantity, "fee": "0.1", "feeSymbol": "USDC", "isMaker": False,
         "timestamp": "2025-07-27T17:39:00.092"}
        for n, quantity in enumerate(quantities, 1)
    ])


def test_order_found_only_through_its_fills_and_not_resting_is_done() -> None:
    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("GET", "/api/v1/order", _not_found)
        venue.on("GET", "/wapi/v1/history/orders", lambda params: web.json_response([]))
        venue.on("GET", "/wapi/v1/history/fills", _fills_of(4242, "0.1", "0.1"))
        return await connector.find_order(ETH, 4242)

    found = run(scenario)
    assert found is not None and found.done and found.filled_size == Decimal("0.2")
    assert found.average_price == Decimal("3500")


def test_order_found_through_its_fills_that_has_come_to_rest_since_is_reported_resting() -> None:
    answers = [_not_found, lambda params: web.json_response(
        _order(4242, orderType="Limit", price="3500", quantity="0.5", executedQuantity="0.1",
               executedQuoteQuantity="350", status="PartiallyFilled"))]

    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("GET", "/api/v1/order", lambda params: answers.pop(0)(params))
        venue.on("GET", "/wapi/v1/history/orders", lambda params: web.json_response([]))
        venue.on("GET", "/wapi/v1/history/fills", _fills_of(4242, "0.1"))
        return await connector.find_order(ETH, 4242)

    found = run(scenario)
    assert found is not None and not found.done and found.status == "PartiallyFilled"
    assert found.size == Decimal("0.5") and found.filled_size == Decimal("0.1")


def test_order_history_is_asked_newest_first_and_a_page_older_than_the_send_ends_the_scan() -> None:
    from hedgectl.connectors.backpack import order_reads as backpack_connector

    old_ms = int(time.time() * 1000) - 3_600_000
    full_page = [_order(9000 + n, createdAt=old_ms - n) for n in range(backpack_connector.HISTORY_PAGE)]

    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("GET", "/api/v1/order", _not_found)
        venue.on("GET", "/wapi/v1/history/orders", lambda params: web.json_response(full_page))
        venue.on("GET", "/wapi/v1/history/fills", lambda params: web.json_response([]))
        await connector.prepare(ETH)
        found = await connector._lookup(ETH, 4242, since_ms=int(time.time() * 1000))
        return found, [entry[2] for entry in venue.received if entry[1] == "/wapi/v1/history/orders"]

    found, asked = run(scenario)
    assert found is None
    assert [params["sortDirection"] for params in asked] == ["Desc"]  # one page: it is older than the send


def test_order_history_answered_oldest_first_is_scanned_to_its_page_limit() -> None:
    from hedgectl.connectors.backpack import order_reads as backpack_connector

    old_ms = int(time.time() * 1000) - 3_600_000
    ascending = [_order(9000 + n, createdAt=old_ms + n) for n in range(backpack_connector.HISTORY_PAGE)]

    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("GET", "/api/v1/order", _not_found)
        venue.on("GET", "/wapi/v1/history/orders", lambda params: web.json_response(ascending))
        venue.on("GET", "/wapi/v1/history/fills", lambda params: web.json_response([]))
        await connector.prepare(ETH)
        await connector._lookup(ETH, 4242, since_ms=int(time.time() * 1000))
        return [entry for entry in venue.received if entry[1] == "/wapi/v1/history/orders"]

    asked = run(scenario)
    assert len(asked) == backpack_connector.HISTORY_PAGES  # the direction was not honoured: no early stop


def test_an_unreadable_history_row_of_another_order_does_not_hide_the_order_looked_for() -> None:
    from hedgectl.connectors.backpack import order_reads as backpack_connector

    now_ms = int(time.time() * 1000)
    size = backpack_connector.HISTORY_PAGE
    first = [_order(9000 + n, createdAt=now_ms - n) for n in range(size)]
    first[3] = {"clientId": 9003, "side": "Sideways", "symbol": ETH}  # another order's row, unreadable
    first[4] = {"clientId": "\u00b2", "side": "Bid"}  # a Unicode digit is no clientId
    second = [_order(4242, createdAt=now_ms - size - 1, status="Filled", executedQuantity="0.2",
                     executedQuoteQuantity="600")]

    def history(params: dict[str, Any]) -> web.Response:
        return web.json_response(first if int(params["offset"]) == 0 else second)

    async def scenario(venue: ScriptedVenue, connector: BackpackConnector):
        venue.on("GET", "/api/v1/order", _not_found)
        venue.on("GET", "/wapi/v1/history/orders", history)
        venue.on("GET", "/wapi/v1/history/fills", lambda params: web.json_response([]))
        await connector.prepare(ETH)
        return await connector._lookup(ETH, 4242, since_ms=now_ms - 3_600_000)

    found = run(scenario)
    assert found is not None
    report, _ = found
    assert report.client_order_index == 4242 and report.filled_size == Decimal("0.2")
