"""An accepted Lighter order whose transaction the venue then fails is refused at the first confirming read; the
transaction status is read safely under every published numbering; orders are identified by market and client
order index, never by the records' undocumented ``nonce``."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from aiohttp import web

from hedgectl.connectors.lighter.wire import tx_failure_reason, tx_outcome
from hedgectl.errors import InvalidOrder
from hedgectl.model.orders import OrderState, Side

from .lighter_support import ETH, LighterProxy, PaperLighter, paper_lighter  # noqa: F401


def states(handle) -> list[OrderState]:
    return [transition.to_state for transition in handle.tracker.transitions]


def test_accepted_order_whose_transaction_fails_is_refused_at_the_first_confirming_read(paper_lighter: PaperLighter):
    async def scenario(connector):
        async with LighterProxy(paper_lighter.url) as proxy:
            async with paper_lighter.connector("lighter1", base_url=proxy.url) as connector:
                # were the failure not read, the order would wait out this long before timing out
                connector.confirm_timeout_secs = 60.0
                await connector.prepare(ETH)
                paper_lighter.arm("reject_after_accept", account="lighter1", count=1,
                                  message="order price is outside the market's price band")
                nonce_before = paper_lighter.next_nonce()
                proxy.received.clear()
                handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
                snapshot = await handle.wait_final(60)
                return handle, snapshot, nonce_before, list(proxy.received)

    handle, snapshot, nonce_before, received = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FAILED and snapshot.filled_size == 0
    assert isinstance(snapshot.error, InvalidOrder) and "price band" in str(snapshot.error)
    assert OrderState.OPEN in states(handle)  # accepted first, then refused
    assert paper_lighter.next_nonce() == nonce_before + 1  # the failed transaction consumed its nonce
    assert paper_lighter.orders(client_order_index=handle.tracker.intent.client_order_index) == []
    # one round of confirming reads: the order records and, alongside, the transaction by hash
    assert received.count("/api/v1/accountOrders") == 1
    assert received.count("/api/v1/tx") == 1
    assert paper_lighter.signed_size() == 0


def test_a_limit_order_whose_transaction_fails_is_refused_too(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        book = await connector.top_of_book(ETH)
        paper_lighter.arm("reject_after_accept", account="lighter1", count=1)
        handle = await connector.submit_limit_order(ETH, Side.BUY, Decimal("0.2"), book.bid - 50)
        return handle, await handle.wait_final(30)

    handle, snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FAILED and isinstance(snapshot.error, InvalidOrder)
    assert paper_lighter.open_orders() == []


def rewriting(proxy: LighterProxy, change):
    """A proxy route that forwards the request and hands the venue's JSON answer to ``change`` before returning it."""

    async def route(request: web.Request, body: bytes) -> web.Response:
        answer = await proxy.forward(request, body)
        document = json.loads(answer.body)
        change(document)
        return web.json_response(document)

    return route


def test_an_order_record_of_another_market_with_the_same_client_index_is_not_the_order(paper_lighter: PaperLighter):
    """The records' ``nonce`` is not read: a record with another nonce is still the order when market and client
    order index match, and a record in another market is not it."""

    def foreign(document):
        for order in document.get("orders", []):
            order["nonce"] = 987654
            order["market_index"] = 0

    async def scenario(connector):
        async with LighterProxy(paper_lighter.url) as proxy:
            async with paper_lighter.connector("lighter1", base_url=proxy.url) as connector:
                await connector.prepare(ETH)
                handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
                snapshot = await handle.wait_final(10)
                proxy.on("/api/v1/accountOrders", rewriting(proxy, foreign))
                same_market = await connector.find_order(ETH, snapshot.intent.client_order_index)
                market = await connector.market(ETH)
                other = await connector._orders_by_client_index(snapshot.intent.client_order_index,
                                                                market.market_id + 1)
                return snapshot, same_market, other

    snapshot, same_market, other = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FILLED
    assert same_market is not None and same_market.filled_size == Decimal("0.2")
    assert other == []


def test_order_records_that_serve_their_indexes_as_strings_still_identify_the_order(paper_lighter: PaperLighter):
    """A record is never taken for absent because its integers came as JSON strings (absence can lead to a resend),
    and a record without its market still counts: the client order index is the account's own."""

    def as_strings(document):
        for order in document.get("orders", []):
            order["client_order_index"] = str(order["client_order_index"])
            order["market_index"] = str(order["market_index"])

    def without_market(document):
        for order in document.get("orders", []):
            order.pop("market_index", None)

    async def scenario(connector):
        async with LighterProxy(paper_lighter.url) as proxy:
            async with paper_lighter.connector("lighter1", base_url=proxy.url) as connector:
                await connector.prepare(ETH)
                handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
                snapshot = await handle.wait_final(10)
                market = await connector.market(ETH)
                index = snapshot.intent.client_order_index
                proxy.on("/api/v1/accountOrders", rewriting(proxy, as_strings))
                found_as_strings = await connector._orders_by_client_index(index, market.market_id)
                proxy.on("/api/v1/accountOrders", rewriting(proxy, without_market))
                found_without_market = await connector._orders_by_client_index(index, market.market_id)
                return found_as_strings, found_without_market

    found_as_strings, found_without_market = paper_lighter.run(scenario)

    assert len(found_as_strings) == 1 and len(found_without_market) == 1


def test_a_market_order_whose_trades_show_is_filled_even_when_its_status_reads_failed(paper_lighter: PaperLighter):
    """Trades are the venue's own record of an execution: a status misread as failed never turns them into a
    refusal (the order would be sent again while its fill stands)."""

    def failed(document):
        document.update(status=4, executed_at=1)

    def unlisted(document):
        document["orders"] = []  # a done market order that the records do not list (yet)

    async def scenario(connector):
        async with LighterProxy(paper_lighter.url) as proxy:
            proxy.on("/api/v1/tx", rewriting(proxy, failed))
            proxy.on("/api/v1/accountOrders", rewriting(proxy, unlisted))
            async with paper_lighter.connector("lighter1", base_url=proxy.url) as connector:
                await connector.prepare(ETH)
                handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
                return await handle.wait_final(30)

    snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.2")
    assert paper_lighter.signed_size() == Decimal("0.2")


@pytest.mark.parametrize("document, outcome", [
    ({"status": 2, "executed_at": 0}, "executed"),  # executed (one reading) / committed (the other)
    ({"status": 3, "executed_at": 1}, "executed"),  # executed and final / executed
    ({"status": 4, "executed_at": 1}, "failed"),
    ({"status": 5}, "failed"),
    ({"status": 0, "executed_at": 1764900000000}, "failed"),  # processed: failed under the reading that has 0
    ({"status": 0, "executed_at": 0}, None),  # could be pending under the other reading: not a refusal
    ({"status": 0}, None),
    ({"status": 1, "executed_at": 5}, None),  # pending or queued under both
    ({"status": "2"}, None),  # retyped: not read as either
    ({"status": True}, None),
    ({}, None),
])
def test_tx_status_is_read_safely_under_every_published_numbering(document, outcome):
    assert tx_outcome(document) == outcome


def test_tx_failure_reason_is_the_venues_own_bounded_and_printable():
    assert tx_failure_reason({"status": 0, "event_info": json.dumps({"error": "not enough margin"})}) == \
        "not enough margin"
    long = tx_failure_reason({"status": 4, "event_info": json.dumps({"message": "x\u0007" * 500})})
    assert len(long) <= 160 and "\u0007" not in long
    assert tx_failure_reason({"status": 4, "event_info": "{}"}) == "transaction failed (status 4)"
