"""The collector's HTTP protocol, auth, limits and pruning, over real loopback HTTP."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from hedgectl.telemetry.collector import HeartbeatStore, ThreadedCollector
from tests.telemetry.conftest import TOKEN

HEARTBEAT = {
    "timestamp": 1_700_000_000.5,
    "telemetry_interval_secs": 5,
    "group": "g1",
    "role": "BP",
    "symbol": "ETH_USDC_PERP",
    "direction": "long",
    "position_base": "0.0036",
    "balance_total": "120.5",
    "latency": 41.2,
}


def bots_by_name(http: httpx.Client) -> dict[str, dict]:
    response = http.get("/api/status")
    assert response.status_code == 200
    return {bot["name"]: bot for bot in response.json()["bots"]}


def test_ingested_heartbeat_is_reported_online_with_its_payload_verbatim(http, clock):
    assert http.post("/ingest/bp-1", json=HEARTBEAT).json() == {"status": "ok"}
    clock.advance(1234)

    status = http.get("/api/status")

    assert status.headers["cache-control"] == "no-store"
    document = status.json()
    assert document["now"] == round(clock.now_ms)
    assert document["bots"] == [{"name": "bp-1", "online": True, "last_update_ms_ago": 1234, "payload": HEARTBEAT}]


def test_later_heartbeat_replaces_the_earlier_one(http, clock):
    http.post("/ingest/bp-1", json=HEARTBEAT)
    clock.advance(3000)
    http.post("/ingest/bp-1", json={**HEARTBEAT, "position_base": "0"})

    bot = bots_by_name(http)["bp-1"]

    assert bot["payload"]["position_base"] == "0"
    assert bot["last_update_ms_ago"] == 0


def test_bot_goes_offline_after_twice_its_announced_interval(http, clock):
    http.post("/ingest/bp-1", json=HEARTBEAT)

    clock.advance(9_999)
    assert bots_by_name(http)["bp-1"]["online"] is True
    clock.advance(1)
    assert bots_by_name(http)["bp-1"]["online"] is False


def test_missing_interval_falls_back_to_ten_seconds(http, clock):
    http.post("/ingest/l1", json={"role": "L1"})

    clock.advance(19_999)
    assert bots_by_name(http)["l1"]["online"] is True
    clock.advance(1)
    assert bots_by_name(http)["l1"]["online"] is False


@pytest.mark.parametrize("interval", ["soon", 0, -3, True, 3601, 1e308, [5], {"s": 5}])
def test_unusable_interval_is_refused_with_400_and_a_reason(http, collector, interval):
    response = http.post("/ingest/l1", json={"role": "L1", "telemetry_interval_secs": interval})

    assert response.status_code == 400
    assert "telemetry_interval_secs" in response.json()["error"]
    assert len(collector.store) == 0


ROUTES = [
    ("POST", "/ingest/bp-1"),
    ("GET", "/api/status"),
    ("POST", "/admin/prune"),
    ("POST", "/admin/prune?older_ms=0"),
    ("GET", "/ingest/bp-1"),
    ("GET", "/"),
    ("DELETE", "/api/status"),
    ("GET", "/no/such/route"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("offered", [None, "", "wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper()])
def test_every_route_answers_401_without_the_right_token(collector, method, path, offered):
    headers = {} if offered is None else {"x-auth-token": offered}
    with httpx.Client(base_url=collector.url) as client:
        response = client.request(method, path, json=HEARTBEAT, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"status": "unauthorized"}
    assert len(collector.store) == 0


def test_collector_without_token_accepts_requests_without_header():
    with ThreadedCollector(port=0) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/ingest/bp-1", json=HEARTBEAT).status_code == 200
        assert [bot["name"] for bot in client.get("/api/status").json()["bots"]] == ["bp-1"]


def test_body_over_the_limit_is_refused_with_413(http, collector):
    response = http.post("/ingest/bp-1", content=b'{"pad":"' + b"x" * 20_000 + b'"}')

    assert response.status_code == 413
    assert len(collector.store) == 0


def test_chunked_body_over_the_limit_is_refused_with_413(http, collector):
    def chunks():
        yield b'{"pad":"'
        for _ in range(10):
            yield b"x" * 4096
        yield b'"}'

    response = http.post("/ingest/bp-1", content=chunks())

    assert response.status_code == 413
    assert len(collector.store) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"42",
        b"null",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b"\xff\xfe{}",
        b'{"telemetry_interval_secs": ' + b"9" * 400 + b"}",
        b'{"a": ' + b"1" * 5000 + b"}",
    ],
)
def test_body_that_is_not_a_json_object_is_refused_with_400(http, collector, body):
    response = http.post("/ingest/bp-1", content=body)

    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert len(collector.store) == 0


def test_deeply_nested_json_is_refused_without_crashing(http, collector):
    response = http.post("/ingest/bp-1", content=b"[" * 15_000 + b"]" * 15_000)

    assert response.status_code in (400, 413)
    assert http.get("/api/status").status_code == 200


@pytest.mark.parametrize("name", ["-lead", ".hidden", "a" * 65, "bp%201", "b%2Fp", "b%00p", "%C3%A9t%C3%A9", "a:b"])
def test_bad_bot_name_is_refused_with_400(http, collector, name):
    response = http.post(f"/ingest/{name}", json=HEARTBEAT)

    assert response.status_code == 400
    assert "bot name" in response.json()["error"]
    assert len(collector.store) == 0


@pytest.mark.parametrize("name", ["a", "BP", "triad-l1", "group_7.bp", "9" * 64])
def test_good_bot_names_are_accepted(http, name):
    assert http.post(f"/ingest/{name}", json=HEARTBEAT).status_code == 200
    assert name in bots_by_name(http)


def test_prune_with_older_ms_removes_only_bots_silent_that_long(http, clock):
    http.post("/ingest/old", json=HEARTBEAT)
    clock.advance(5_000)
    http.post("/ingest/recent", json=HEARTBEAT)
    clock.advance(1_000)

    response = http.post("/admin/prune", params={"older_ms": 3_000})

    assert response.json() == {"status": "ok", "removed": ["old"], "remaining": 1}
    assert list(bots_by_name(http)) == ["recent"]


def test_prune_without_older_ms_removes_exactly_the_offline_bots(http, clock):
    http.post("/ingest/slow", json={**HEARTBEAT, "telemetry_interval_secs": 60})
    http.post("/ingest/fast", json={**HEARTBEAT, "telemetry_interval_secs": 1})
    clock.advance(2_500)
    online = {name for name, bot in bots_by_name(http).items() if bot["online"]}

    response = http.post("/admin/prune")

    assert online == {"slow"}
    assert response.json()["removed"] == ["fast"]
    assert list(bots_by_name(http)) == ["slow"]


@pytest.mark.parametrize("older_ms", ["-1", "abc", "1.5", "", "1e3", "９"])
def test_prune_with_a_bad_older_ms_is_refused_and_removes_nothing(http, older_ms):
    http.post("/ingest/bp-1", json=HEARTBEAT)

    response = http.post("/admin/prune", params={"older_ms": older_ms})

    assert response.status_code == 400
    assert list(bots_by_name(http)) == ["bp-1"]


def test_full_collector_refuses_new_bots_but_keeps_updating_known_ones(clock):
    store = HeartbeatStore(clock_ms=clock, max_bots=2)
    with ThreadedCollector(port=0, store=store) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/ingest/a", json=HEARTBEAT).status_code == 200
        assert client.post("/ingest/b", json=HEARTBEAT).status_code == 200

        assert client.post("/ingest/c", json=HEARTBEAT).status_code == 507
        assert client.post("/ingest/a", json=HEARTBEAT).status_code == 200
        assert len(store) == 2


def test_collector_binds_loopback_by_default_and_frees_its_port_when_stopped():
    server = ThreadedCollector(port=0)
    url = server.start()
    port = int(url.rsplit(":", 1)[1])
    try:
        assert url.startswith("http://127.0.0.1:")
    finally:
        server.stop()

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_collector_never_logs_the_token(collector, caplog):
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=collector.url) as client:
        client.post("/ingest/bp-1", json=HEARTBEAT, headers={"x-auth-token": TOKEN})
        client.post("/ingest/bp-1", json=HEARTBEAT, headers={"x-auth-token": TOKEN + "-guess"})
        client.get("/api/status", headers={"x-auth-token": TOKEN})
        client.post("/admin/prune?older_ms=0", headers={"x-auth-token": TOKEN})

    assert any(record.name == "aiohttp.access" for record in caplog.records)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(collector)


def test_offline_bots_remain_listed_until_pruned(http, clock):
    http.post("/ingest/bp-1", json=HEARTBEAT)
    clock.advance(60_000)

    assert bots_by_name(http)["bp-1"]["online"] is False
    assert http.post("/admin/prune").json()["removed"] == ["bp-1"]
    assert bots_by_name(http) == {}


def test_serve_process_answers_and_stops_cleanly_on_sigterm():
    script = (
        "import asyncio, sys\n"
        "from hedgectl.telemetry.collector import serve\n"
        "asyncio.run(serve(port=0, on_ready=lambda url: print(url, flush=True)))\n"
        "print('stopped', flush=True)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert httpx.get(f"{url}/api/status").json()["bots"] == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stdout.read().strip() == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()



def test_a_head_request_for_the_status_gets_headers_only_and_the_connection_stays_usable(collector):
    host, port = collector.url.removeprefix("http://").rsplit(":", 1)
    request = "{} /api/status HTTP/1.1\r\nHost: x\r\nx-auth-token: " + TOKEN + "\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((request.format("HEAD") + request.format("GET")).encode())
        answer = b""
        while not (answer.count(b"HTTP/1.1 ") >= 2 and answer.endswith(b"0\r\n\r\n")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert rest.startswith(b"HTTP/1.1 200"), rest[:200]  # nothing between the HEAD answer and the GET's
