"""What the collector stores: every heartbeat checked whole at ingestion, so no stored one can break a later answer."""

from __future__ import annotations

import json
import logging
import tracemalloc

import pytest

from hedgectl.telemetry.collector import ThreadedCollector
from hedgectl.telemetry.ingest import (
    MAX_CONTAINER_ITEMS,
    MAX_DEPTH,
    MAX_PAYLOAD_BYTES,
    MAX_STRING_CHARS,
    HeartbeatRejected,
    check_heartbeat,
)
from hedgectl.telemetry.store import HeartbeatStore, StoreFull
from tests.telemetry.test_collector import HEARTBEAT, bots_by_name


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_the_deeply_nested_heartbeat_with_a_huge_interval_is_refused_and_status_keeps_answering(http, collector):
    body = '{"telemetry_interval_secs": 1e308, "a": ' + nested(966) + "}"

    response = http.post("/ingest/bp-1", content=body.encode())

    assert response.status_code == 400
    assert len(collector.store) == 0
    assert http.get("/api/status").status_code == 200


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"a": json.loads(nested(MAX_DEPTH))}, "nests deeper"),
        ({"a": 2**53}, "out of range"),
        ({"a": -1e308}, "out of range"),
        ({"a": "x" * (MAX_STRING_CHARS + 1)}, "longer than"),
        ({"k" * 65: 1}, "longer than"),
        ({"a": list(range(MAX_CONTAINER_ITEMS + 1))}, "more than"),
        ({"a": [list(range(60))] * 5}, "more than 256 values"),
        ({"group": ["g"]}, "group must be a string"),
        ({"symbol": 7}, "symbol must be a string"),
        ({"role": "B" * 65}, "role longer than"),
        ({"position_base": "1e999"}, "position_base must be"),
        ({"position_base": "[bold]1"}, "position_base must be"),
        ({"balance_total": {"v": 1}}, "balance_total must be"),
        ({"latency": -1}, "latency must be"),
        ({"latency": "fast"}, "latency must be"),
        ({"timestamp": True}, "timestamp must be"),
    ],
)
def test_a_heartbeat_out_of_bounds_is_refused_with_400_and_a_short_reason(http, collector, extra, reason):
    response = http.post("/ingest/bp-1", json={**HEARTBEAT, **extra})

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert len(response.json()["error"]) < 120
    assert len(collector.store) == 0


def test_a_lone_surrogate_is_refused(http, collector):
    response = http.post("/ingest/bp-1", content=b'{"group": "g\\ud800"}')

    assert response.status_code == 400
    assert "unicode" in response.json()["error"]
    assert len(collector.store) == 0


def test_a_payload_too_large_to_store_is_refused_with_413(http, collector):
    extra = {f"field{i}": "x" * 200 for i in range(MAX_PAYLOAD_BYTES // 200)}

    response = http.post("/ingest/bp-1", json={**HEARTBEAT, **extra})

    assert response.status_code == 413
    assert len(collector.store) == 0


def test_a_payload_at_the_bounds_is_stored_and_served(http):
    payload = {**HEARTBEAT, "a": json.loads(nested(MAX_DEPTH - 1)), "n": 2**53 - 1, "s": "\x1b[2J[/]" * 10}

    assert http.post("/ingest/bp-1", json=payload).status_code == 200

    assert bots_by_name(http)["bp-1"]["payload"] == payload


def test_refused_heartbeats_leave_no_traceback_in_the_log(http, caplog):
    caplog.set_level(logging.DEBUG)
    for body in (nested(5000).encode(), b'{"a": ' + b"9" * 5000 + b"}", b'{"telemetry_interval_secs": 1e308}'):
        http.post("/ingest/bp-1", content=body)

    assert http.get("/api/status").status_code == 200
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_the_store_refuses_new_bytes_beyond_its_total_bound_and_prune_gives_them_back(clock):
    _payload, encoded = check_heartbeat(json.dumps(HEARTBEAT).encode())
    store = HeartbeatStore(clock_ms=clock, max_total_bytes=3 * (len(encoded) + 60))
    with ThreadedCollector(port=0, store=store) as server:
        import httpx

        with httpx.Client(base_url=server.url) as client:
            assert [client.post(f"/ingest/b{i}", json=HEARTBEAT).status_code for i in range(4)] == [200, 200, 200, 507]
            assert "prune" in client.post("/ingest/b4", json=HEARTBEAT).json()["error"]
            clock.advance(60_000)
            assert len(client.post("/admin/prune").json()["removed"]) == 3
            assert store.stored_bytes == 0
            assert client.post("/ingest/b4", json=HEARTBEAT).status_code == 200


def test_storing_a_bot_costs_about_its_payload_and_pruning_frees_it(clock):
    store = HeartbeatStore(clock_ms=clock)
    body = json.dumps({**HEARTBEAT, "pad": ["x" * 250] * 14}).encode()
    payload, encoded = check_heartbeat(body)
    bots = 500

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(bots):
            store.put(f"bot-{index}", payload, encoded)
        held = tracemalloc.get_traced_memory()[0] - before
        clock.advance(60_000)
        store.prune()
        after_prune = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert len(encoded) <= MAX_PAYLOAD_BYTES
    assert held < bots * (len(encoded) + 1024)
    assert after_prune < held / 10
    assert store.stored_bytes == 0


def test_the_store_refuses_a_new_bot_beyond_its_bot_bound(clock):
    store = HeartbeatStore(clock_ms=clock, max_bots=1)
    payload, encoded = check_heartbeat(b"{}")
    store.put("a", payload, encoded)

    with pytest.raises(StoreFull):
        store.put("b", payload, encoded)
    store.put("a", payload, encoded)


@pytest.mark.parametrize("body", [b"[]", b'{"a": NaN}', b"{" * 20_000])
def test_check_heartbeat_raises_heartbeat_rejected_never_anything_else(body):
    with pytest.raises(HeartbeatRejected):
        check_heartbeat(body)
