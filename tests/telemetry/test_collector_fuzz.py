"""Property tests of the collector's HTTP surface: random requests never give a 5xx and never pass without the token."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hedgectl.telemetry.collector import ThreadedCollector
from tests.telemetry.conftest import TOKEN

ALLOWED_WITH_TOKEN = {200, 400, 404, 405, 413}

methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
segments = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"), max_size=80),
    st.text(st.characters(codec="utf-8"), max_size=80).map(lambda text: quote(text, safe="")),
)
paths = st.one_of(
    st.sampled_from(["/ingest/bp", "/api/status", "/admin/prune", "/", "/ingest/", "/ingest//x", "/api/status/"]),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["/ingest/", "/admin/", "/api/", "/"]), segments),
)
queries = st.dictionaries(st.sampled_from(["older_ms", "x", "token"]), st.text(max_size=20), max_size=2)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(min_size=16_000, max_size=20_000),
)
header_names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-_0123456789"), min_size=1, max_size=20).filter(
    lambda name: name not in {"content-length", "transfer-encoding", "host", "connection", "expect", "x-auth-token"}
)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip)
extra_headers = st.dictionaries(header_names, header_values, max_size=4)
offered_tokens = st.one_of(st.none(), header_values, st.just(TOKEN.upper()), st.just(TOKEN + "0"), st.just(TOKEN[1:]))


@pytest.fixture(scope="module")
def fuzz_collector() -> Iterator[ThreadedCollector]:
    with ThreadedCollector(port=0, token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_client(fuzz_collector: ThreadedCollector) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_collector.url, timeout=10) as client:
        yield client


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(method=methods, path=paths, query=queries, headers=extra_headers, body=bodies, offered=offered_tokens)
def test_random_request_without_the_token_is_always_401(fuzz_client, method, path, query, headers, body, offered):
    assume(offered != TOKEN)
    if offered is not None:
        headers = {**headers, "x-auth-token": offered}

    response = fuzz_client.request(method, path, params=query, headers=headers, content=body)

    assert response.status_code == 401


@FUZZ
@given(method=methods, path=paths, query=queries, headers=extra_headers, body=bodies)
def test_random_request_with_the_token_never_gives_a_server_error(fuzz_client, method, path, query, headers, body):
    response = fuzz_client.request(method, path, params=query, headers={**headers, "x-auth-token": TOKEN}, content=body)

    assert response.status_code in ALLOWED_WITH_TOKEN
    assert "Traceback" not in response.text
    assert fuzz_client.get("/api/status", headers={"x-auth-token": TOKEN}).status_code == 200


@FUZZ
@given(garbage=st.binary(min_size=1, max_size=4096))
def test_garbage_bytes_on_the_socket_leave_the_server_serving(fuzz_collector, fuzz_client, garbage):
    host, port = fuzz_collector.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(garbage + b"\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass

    assert b" 500 " not in answer.split(b"\r\n", 1)[0]
    assert b" 200 " not in answer.split(b"\r\n", 1)[0]
    assert fuzz_client.get("/api/status", headers={"x-auth-token": TOKEN}).status_code == 200
