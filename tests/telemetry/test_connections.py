"""The collector's connection limits over real loopback sockets: idle, header and body timeouts, a connection cap,
and no traceback for a malformed request."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import pytest

from hedgectl.telemetry.collector import ConnectionLimits, HeartbeatStore, ThreadedCollector
from hedgectl.telemetry.ingest import check_heartbeat
from tests.telemetry.conftest import TOKEN

# The timeout under test is a fraction of a second, the others far longer than any test, so each test shows that
# its own timeout closed the connection; the socket timeout only guards against a hang.
SHORT, LONG = 0.3, 600
HANG_GUARD_SECS = 20


def collector_with(**limits: float) -> ThreadedCollector:
    options = {"header_timeout_secs": LONG, "body_timeout_secs": LONG, "idle_timeout_secs": LONG, **limits}
    return ThreadedCollector(port=0, token=TOKEN, limits=ConnectionLimits(**options))


@pytest.fixture
def limited() -> Iterator[ThreadedCollector]:
    with collector_with(header_timeout_secs=SHORT, body_timeout_secs=SHORT) as server:
        yield server


@pytest.fixture
def idle_limited() -> Iterator[ThreadedCollector]:
    with collector_with(idle_timeout_secs=SHORT) as server:
        yield server


def connect(server: ThreadedCollector) -> socket.socket:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=HANG_GUARD_SECS)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a hang fails the test by timeout)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def request_head(path: str, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: collector\r\nx-auth-token: {TOKEN}\r\n{extra}".encode()


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(idle_limited):
    with connect(idle_limited) as sock:
        assert read_until_closed(sock) == b""


def test_a_request_whose_headers_never_end_is_closed_after_the_header_timeout(limited):
    with connect(limited) as sock:
        sock.sendall(request_head("/ingest/bp-1", "Content-Type: application/json\r\n"))

        assert read_until_closed(sock) == b""


def test_a_short_body_under_a_longer_content_length_times_out_with_408(limited):
    with connect(limited) as sock:
        sock.sendall(request_head("/ingest/bp-1", "Content-Length: 100\r\n\r\n") + b'{"role":')

        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"body not received" in answer
    assert len(limited.store) == 0


def test_a_keep_alive_connection_is_closed_when_idle_after_its_request(idle_limited):
    with connect(idle_limited) as sock:
        sock.sendall(request_head("/ingest/bp-1", "Content-Length: 2\r\n\r\n") + b"{}")

        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.count(b"HTTP/1.1") == 1


def test_connections_beyond_the_cap_are_refused_with_503_while_the_others_are_served():
    with collector_with(max_connections=3) as server:
        held = [connect(server) for _ in range(3)]
        try:
            # the server accepts in arrival order, so the three held sockets fill the cap before this one
            with connect(server) as extra:
                assert read_until_closed(extra).startswith(b"HTTP/1.1 503 ")
            held[0].sendall(
                b"GET /api/status HTTP/1.1\r\nHost: c\r\nConnection: close\r\nx-auth-token: "
                + TOKEN.encode()
                + b"\r\n\r\n"
            )
            assert read_until_closed(held[0]).startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in held:
                sock.close()


@pytest.mark.parametrize(
    "request_line", [b"GET /\xc3\xa9t\xc3\xa9 HTTP/1.1", b"POST /ingest/\xff\xfe HTTP/1.1", b"GET /\x1b[2J HTTP/1.1"]
)
def test_a_malformed_request_before_authentication_is_refused_without_a_traceback(limited, caplog, request_line):
    caplog.set_level(logging.DEBUG)
    with connect(limited) as sock:
        sock.sendall(request_line + b"\r\nHost: collector\r\n\r\n")
        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 400 ") or answer.startswith(b"HTTP/1.0 400 ")
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.exc_info]
    assert "\x1b" not in caplog.text
    assert any("malformed request" in record.getMessage() for record in caplog.records)


def test_a_client_that_stops_reading_the_status_document_is_disconnected_after_the_send_timeout(clock):
    store = HeartbeatStore(clock_ms=clock, max_total_bytes=2**30)
    payload, encoded = check_heartbeat(json.dumps({f"pad{i}": "x" * 250 for i in range(12)}).encode())
    for index in range(10_000):
        store.put(f"bot-{index}", payload, encoded)
    limits = ConnectionLimits(send_timeout_secs=SHORT, header_timeout_secs=LONG, idle_timeout_secs=LONG)
    with ThreadedCollector(port=0, token=TOKEN, store=store, limits=limits) as server, connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: c\r\nx-auth-token: " + TOKEN.encode() + b"\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        assert server.open_connections == 1

        # the client reads no more of the ~30 MB document; the server lets go of it once the send timeout passes
        wait_until(lambda: server.open_connections == 0)


def wait_until(condition, guard_secs: float = HANG_GUARD_SECS) -> None:
    """Poll until `condition()` holds; fails only when it never does (a guard against a hang, not a timing claim)."""
    give_up = time.monotonic() + guard_secs
    while not condition():
        assert time.monotonic() < give_up, "condition never held"
        time.sleep(0.02)
