"""The transport map, row by row, and each connector over loopback: a failure before the request left is "not sent",
one after the venue read it is "possibly sent" (an order so lost is ambiguous)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Any

import aiohttp
import httpx
import pytest

from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.connectors.lighter.rest import LighterRest
from hedgectl.connectors.lighter.signer import LighterSigner, SendOutcome, SignedTx
from hedgectl.errors import (
    AmbiguousOutcome,
    AuthError,
    RateLimited,
    VenueError,
    VenueProtocolError,
    VenueTimeout,
    VenueUnavailable,
)
from hedgectl.transport import (
    HTTPX_MAP,
    map_transport_errors,
    retry_after_secs,
    status_row,
    transport_error,
    transport_row,
)

SENT, NOT_SENT = True, False

# The settled rules, written out here rather than read from the table, so that changing a row fails a test.
HTTPX_ROWS = [
    (httpx.PoolTimeout, VenueTimeout, NOT_SENT),
    (httpx.ConnectTimeout, VenueTimeout, NOT_SENT),
    (httpx.ConnectError, VenueUnavailable, NOT_SENT),
    (httpx.ProxyError, VenueUnavailable, NOT_SENT),
    (httpx.UnsupportedProtocol, VenueUnavailable, NOT_SENT),
    (httpx.WriteTimeout, VenueTimeout, SENT),
    (httpx.WriteError, VenueUnavailable, SENT),
    (httpx.ReadTimeout, VenueTimeout, SENT),
    (httpx.ReadError, VenueUnavailable, SENT),
    (httpx.RemoteProtocolError, VenueUnavailable, SENT),
    (httpx.LocalProtocolError, VenueProtocolError, SENT),
    (httpx.DecodingError, VenueProtocolError, SENT),
    (httpx.TooManyRedirects, VenueProtocolError, SENT),
    (httpx.CloseError, VenueUnavailable, SENT),
]


@pytest.mark.parametrize(("exc_class", "error_class", "sent"), HTTPX_ROWS, ids=lambda v: getattr(v, "__name__", v))
def test_httpx_failure_maps_to_its_error_class_and_sent_rule(exc_class, error_class, sent) -> None:
    exc = exc_class("boom")

    read_error = transport_error(exc, "GET /x", venue="v", connector="c")
    order_error = transport_error(exc, "POST /order", venue="v", connector="c", order=True, client_order_index=7)

    assert type(read_error) is error_class
    assert read_error.possibly_sent is sent and read_error.connector == "c"
    if sent:
        assert type(order_error) is AmbiguousOutcome and order_error.client_order_index == 7
    else:
        assert type(order_error) is error_class
    assert order_error.possibly_sent is sent


def test_every_httpx_transport_exception_has_a_row_of_its_own() -> None:
    exported = [getattr(httpx, name) for name in dir(httpx)]
    transport = {cls for cls in exported if isinstance(cls, type) and issubclass(cls, httpx.TransportError)}
    assert transport - set(HTTPX_MAP) == set()


def _bare(cls: type[BaseException]) -> BaseException:
    # aiohttp's constructors want connection details the row does not depend on; only the class matters
    return cls.__new__(cls)


AIOHTTP_ROWS = [
    (aiohttp.ClientConnectorError, VenueUnavailable, NOT_SENT),
    (aiohttp.ClientSSLError, VenueUnavailable, NOT_SENT),
    (aiohttp.ClientProxyConnectionError, VenueUnavailable, NOT_SENT),
    (aiohttp.ConnectionTimeoutError, VenueTimeout, NOT_SENT),
    (aiohttp.InvalidURL, VenueUnavailable, NOT_SENT),
    (aiohttp.SocketTimeoutError, VenueTimeout, SENT),
    (aiohttp.ServerTimeoutError, VenueTimeout, SENT),
    (aiohttp.ServerDisconnectedError, VenueUnavailable, SENT),
    (aiohttp.ClientOSError, VenueUnavailable, SENT),
    (aiohttp.ClientConnectionResetError, VenueUnavailable, SENT),
    (aiohttp.ClientPayloadError, VenueProtocolError, SENT),
    (aiohttp.ClientResponseError, VenueProtocolError, SENT),
    (aiohttp.ClientError, VenueUnavailable, SENT),
    (asyncio.TimeoutError, VenueTimeout, SENT),
]


@pytest.mark.parametrize(("exc_class", "error_class", "sent"), AIOHTTP_ROWS, ids=lambda v: getattr(v, "__name__", v))
def test_aiohttp_failure_maps_to_its_error_class_and_sent_rule(exc_class, error_class, sent) -> None:
    row = transport_row(_bare(exc_class))

    assert row is not None
    assert (row.error, row.possibly_sent) == (error_class, sent)


STATUS_ROWS = [
    (401, AuthError, NOT_SENT),
    (403, AuthError, NOT_SENT),
    (408, VenueTimeout, NOT_SENT),
    (429, RateLimited, NOT_SENT),
    (500, VenueUnavailable, SENT),
    (502, VenueUnavailable, SENT),
    (503, VenueUnavailable, SENT),
    (504, VenueTimeout, SENT),
    (507, VenueUnavailable, SENT),
]


@pytest.mark.parametrize(("status", "error_class", "sent"), STATUS_ROWS)
def test_http_status_maps_to_its_error_class_and_sent_rule(status, error_class, sent) -> None:
    row = status_row(status)

    assert row is not None
    assert (row.error, row.possibly_sent) == (error_class, sent)


@pytest.mark.parametrize("status", [200, 400, 404, 409, 422])
def test_statuses_only_the_venue_can_explain_have_no_row(status) -> None:
    assert status_row(status) is None


def test_a_failure_that_is_not_a_transport_failure_passes_through_unmapped() -> None:
    with pytest.raises(KeyError), map_transport_errors("read", venue="v"):
        raise KeyError("not the network")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), (None, None), ("", None), ("soon", None), ("nan", None)],
)
def test_retry_after_header_in_seconds(header, seconds) -> None:
    assert retry_after_secs(header) == seconds


def test_retry_after_header_as_an_http_date_counts_from_now() -> None:
    now = datetime(2026, 12, 5, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2026, 12, 5, 12, 0, 42, tzinfo=timezone.utc), usegmt=True)

    assert retry_after_secs(later, now=now.timestamp()) == 42.0


# --- each connector over loopback ---------------------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def hang_up_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server that reads each whole request, then closes the connection without answering."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            received.append(head + await reader.readexactly(length))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.close()
        await server.wait_closed()


async def failure_of(call: Callable[[], Awaitable[Any]]) -> VenueError:
    with pytest.raises(VenueError) as caught:
        await call()
    return caught.value


def backpack(base_url: str) -> BackpackConnector:
    from nacl.signing import SigningKey
    import base64

    secret = base64.b64encode(bytes(SigningKey.generate())).decode()
    return BackpackConnector(ConnectorConfig(
        name="bp", venue="backpack", base_url=base_url, options={},
        secrets={"api_secret": Secret(secret, source="test")}, timeout_secs=2.0, read_retries=1,
    ))


def test_backpack_closed_port_is_not_sent_for_reads_and_orders() -> None:
    async def scenario():
        async with backpack(closed_port_url()) as connector:
            read = await failure_of(lambda: connector.top_of_book("ETH_USDC_PERP"))
            order = await failure_of(lambda: connector._request("POST", "/api/v1/order", {"clientId": 7},
                                                                idempotent=False))
            return read, order

    read, order = asyncio.run(scenario())

    assert isinstance(read, VenueUnavailable) and read.possibly_sent is False
    assert isinstance(order, VenueUnavailable) and order.possibly_sent is False


def test_backpack_hang_up_after_the_request_is_possibly_sent_and_an_order_ambiguous() -> None:
    async def scenario():
        async with hang_up_server() as (url, received), backpack(url) as connector:
            read = await failure_of(lambda: connector.top_of_book("ETH_USDC_PERP"))
            order = await failure_of(lambda: connector._request("POST", "/api/v1/order", {"clientId": 7},
                                                                idempotent=False))
            return read, order, list(received)

    read, order, received = asyncio.run(scenario())

    assert isinstance(read, VenueUnavailable) and read.possibly_sent is True
    assert isinstance(order, AmbiguousOutcome) and order.possibly_sent is True
    assert any(b'"clientId":7' in request for request in received)


def grvt(base_url: str) -> GrvtConnector:
    return GrvtConnector(ConnectorConfig(
        name="gr", venue="grvt", base_url=base_url, options={"chain_id": 326, "sub_account_id": 1},
        secrets={"api_key": Secret("k" * 24, source="test"), "private_key": Secret("11" * 32, source="test")},
        timeout_secs=2.0, read_retries=1,
    ))


def test_grvt_closed_port_is_not_sent_for_reads_and_orders() -> None:
    async def scenario():
        async with grvt(closed_port_url()) as connector:
            read = await failure_of(lambda: connector.market_rules("ETH_USDT_Perp"))
            order = await failure_of(lambda: connector._post(connector.hosts.trades + "/full/v1/create_order",
                                                             {"order": {}}, auth=False, what="create order",
                                                             order_index=7))
            return read, order

    read, order = asyncio.run(scenario())

    assert isinstance(read, VenueUnavailable) and read.possibly_sent is False
    assert isinstance(order, VenueUnavailable) and not isinstance(order, AmbiguousOutcome)
    assert order.possibly_sent is False


def test_grvt_hang_up_after_the_request_is_possibly_sent_and_an_order_ambiguous() -> None:
    async def scenario():
        async with hang_up_server() as (url, received), grvt(url) as connector:
            read = await failure_of(lambda: connector.market_rules("ETH_USDT_Perp"))
            order = await failure_of(lambda: connector._post(connector.hosts.trades + "/full/v1/create_order",
                                                             {"order": {"n": 7}}, auth=False, what="create order",
                                                             order_index=7))
            return read, order, list(received)

    read, order, received = asyncio.run(scenario())

    assert isinstance(read, VenueUnavailable) and read.possibly_sent is True
    assert isinstance(order, AmbiguousOutcome) and order.client_order_index == 7 and order.possibly_sent is True
    assert any(b'{"order":{"n":7}}' in request for request in received)


def test_lighter_reads_closed_port_is_not_sent_and_hang_up_possibly_sent() -> None:
    async def read(url: str) -> VenueError:
        rest = LighterRest(url, timeout=2.0, connector="l1")
        try:
            return await failure_of(lambda: rest.get("orderBookDetails", {}))
        finally:
            await rest.close()

    async def scenario():
        closed = await read(closed_port_url())
        async with hang_up_server() as (url, received):
            hung_up = await read(url)
            return closed, hung_up, list(received)

    closed, hung_up, received = asyncio.run(scenario())

    assert isinstance(closed, VenueUnavailable) and closed.possibly_sent is False
    assert isinstance(hung_up, VenueUnavailable) and hung_up.possibly_sent is True
    assert any(b"orderBookDetails" in request for request in received)


def test_lighter_send_to_a_closed_port_is_not_sent_and_after_a_hang_up_ambiguous() -> None:
    tx = SignedTx(tx_type=14, info='{"Nonce":1}', tx_hash="00", nonce=1, api_key_index=3)

    async def send(url: str) -> SendOutcome:
        signer = LighterSigner(url, 1, 3, Secret("ab" * 40, source="test"), chain_id=300, connector="l1")
        try:
            return (await signer.send(tx, timeout=2.0)).outcome
        finally:
            await signer.close()

    async def scenario():
        closed = await send(closed_port_url())
        async with hang_up_server() as (url, received):
            hung_up = await send(url)
            return closed, hung_up, list(received)

    closed, hung_up, received = asyncio.run(scenario())

    assert closed is SendOutcome.NOT_SENT
    assert hung_up is SendOutcome.AMBIGUOUS
    assert any(b"sendTx" in request for request in received)
