"""Property tests of the collector's HTTP surface: random requests never give a 5xx and never pass without the token,
and after any sequence of accepted heartbeats /api/status answers 200 and the board renders it as plain text."""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rich.console import Console

from hedgectl.cli.board_view import render_board
from hedgectl.telemetry.collector import HeartbeatStore, ThreadedCollector
from tests.telemetry.conftest import TOKEN, ManualClock

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


# --- heartbeat sequences: whatever was accepted can always be served and drawn --------------------------------------

hostile_strings = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["[/]", "[link=https://x.invalid]x[/link]", "[bold red]x", "\x1b[2J", "\x1b]0;t\x07", "\x9b1m",
                     "\ud800", "\u202e", "a" * 300]),
)
numbers = st.one_of(
    st.integers(),
    st.floats(),
    st.sampled_from([1e308, -1e308, 2**53, 10**400, 0, -0.0, 1e-320]),
)
decimal_strings = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str), st.sampled_from(["1e999", "-0", ".5", "1E+99"])
)
field_values = st.one_of(st.none(), st.booleans(), numbers, hostile_strings, decimal_strings, json_values)
heartbeat_payloads = st.fixed_dictionaries(
    {},
    optional={
        name: field_values
        for name in (
            "telemetry_interval_secs", "timestamp", "group", "role", "symbol", "direction", "position_base",
            "balance_total", "latency", "extra",
        )
    },
)


def _encode(payload: dict) -> bytes:
    return json.dumps(payload).encode()  # NaN and Infinity go out as such: the collector must refuse them


heartbeat_bodies = st.one_of(
    heartbeat_payloads.map(_encode),
    st.integers(min_value=1, max_value=3000).map(lambda depth: b'{"a":' + b"[" * depth + b"]" * depth + b"}"),
)
steps = st.lists(
    st.tuples(st.sampled_from(["bp", "l1", "l2", "x.y", "Z-9"]), heartbeat_bodies, st.integers(0, 120_000)),
    min_size=1,
    max_size=6,
)
# Rich's own colour codes are the only escape sequences the board may write.
_RICH_STYLE = re.compile(r"\x1b\[[0-9;]*m")
_UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e]")


@pytest.fixture(scope="module")
def sequence_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def sequence_collector(sequence_clock) -> Iterator[ThreadedCollector]:
    with ThreadedCollector(port=0, token=TOKEN, store=HeartbeatStore(clock_ms=sequence_clock)) as server:
        yield server


SEQUENCES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SEQUENCES
@given(sequence=steps)
def test_after_any_accepted_heartbeats_status_answers_200_and_the_board_renders(
    sequence_collector, sequence_clock, sequence
):
    with httpx.Client(base_url=sequence_collector.url, headers={"x-auth-token": TOKEN}, timeout=10) as client:
        for name, body, advance_ms in sequence:
            answer = client.post(f"/ingest/{name}", content=body)
            assert answer.status_code in (200, 400, 413), answer.text
            sequence_clock.advance(advance_ms)

        status = client.get("/api/status")

    assert status.status_code == 200
    document = status.json()
    out = io.StringIO()
    Console(file=out, width=160, force_terminal=True, color_system="truecolor").print(render_board(document))
    drawn = _RICH_STYLE.sub("", out.getvalue())
    drawn.encode("utf-8")
    assert not _UNSAFE.search(drawn), repr(_UNSAFE.search(drawn))
