"""The fault framework at the HTTP level: arming, listing, clearing, scoping and each request-level kind."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest

from hedgectl.sim.faults import Fault, FaultBoard, FaultError, FaultKind
from hedgectl.sim.runner import ThreadedPaperVenues


@pytest.fixture
def telegram(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["telegram"])


def _send(venues: ThreadedPaperVenues, client: httpx.Client | None = None) -> httpx.Response:
    section = venues.accounts_document()["telegram"]
    poster = client or httpx
    return poster.post(f"{section['url']}/bot{section['bot_token']}/sendMessage",
                       json={"chat_id": section["chat_id"], "text": "ping"})


def test_faults_are_armed_listed_and_cleared_over_http(telegram: ThreadedPaperVenues) -> None:
    url = telegram.url("telegram")
    armed = httpx.post(f"{url}/_sim/faults", json={"kind": "error", "status": 502, "count": 2})
    assert armed.status_code == 200 and armed.json()["fault"]["kind"] == "error"
    listed = httpx.get(f"{url}/_sim/faults").json()["faults"]
    assert [(fault["kind"], fault["status"], fault["count"]) for fault in listed] == [("error", 502, 2)]
    assert httpx.delete(f"{url}/_sim/faults").json() == {"cleared": 1}
    assert httpx.get(f"{url}/_sim/faults").json()["faults"] == []
    assert _send(telegram).status_code == 200


@pytest.mark.parametrize(
    "description",
    [{"kind": "meteor"}, {"kind": "error", "status": 404}, {"kind": "partial_fill", "fraction": 2},
     {"kind": "liquidate"}, {"kind": "latency", "ms": "soon"}, {"kind": "error", "colour": "red"}, [1, 2]],
)
def test_bad_fault_descriptions_are_refused_with_400(telegram: ThreadedPaperVenues, description: Any) -> None:
    answer = httpx.post(f"{telegram.url('telegram')}/_sim/faults", json=description)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_error_fault_answers_5xx_count_times_then_stops(telegram: ThreadedPaperVenues) -> None:
    telegram.arm("telegram", "error", status=503, count=2)
    statuses = [_send(telegram).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_fault_scoped_to_another_account_does_not_apply(telegram: ThreadedPaperVenues) -> None:
    telegram.arm("telegram", "error", account="someone-else")
    assert _send(telegram).status_code == 200
    telegram.arm("telegram", "error", account="telegram", count=1)
    assert _send(telegram).status_code == 500


def test_fault_scoped_to_a_path_only_hits_that_path(telegram: ThreadedPaperVenues) -> None:
    section = telegram.accounts_document()["telegram"]
    telegram.arm("telegram", "error", path=f"/bot{section['bot_token']}/getMe")
    assert _send(telegram).status_code == 200
    assert httpx.get(f"{section['url']}/bot{section['bot_token']}/getMe").status_code == 500


def test_sim_routes_are_never_faulted(telegram: ThreadedPaperVenues) -> None:
    telegram.arm("telegram", "error")
    assert httpx.get(f"{telegram.url('telegram')}/_sim/state").status_code == 200


def test_latency_fault_delays_each_matching_request_at_least_its_fixed_ms(telegram: ThreadedPaperVenues) -> None:
    telegram.arm("telegram", "latency", ms=150, jitter_ms=20, count=1)
    started = time.perf_counter()
    assert _send(telegram).status_code == 200
    assert time.perf_counter() - started >= 0.14
    assert telegram.state("telegram")["faults"] == []


def test_down_fault_refuses_connections_then_reopens_the_same_port(telegram: ThreadedPaperVenues) -> None:
    venue = telegram.venues.venue("telegram")
    with httpx.Client() as client:
        assert _send(telegram, client).status_code == 200
        armed = client.post(f"{venue.url}/_sim/faults", json={"kind": "down", "seconds": 0.5})
        assert armed.status_code == 200
        with pytest.raises(httpx.TransportError):
            _send(telegram, client)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((venue.host, venue.port), timeout=1).close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and venue.is_down:
        time.sleep(0.02)
    assert not venue.is_down
    assert _send(telegram).status_code == 200


def test_board_take_uses_counts_and_scopes() -> None:
    board = FaultBoard("backpack")
    board.faults.append(Fault(FaultKind.REJECT, account="lighter2", count=2))
    assert board.take(FaultKind.REJECT, "lighter1") is None
    assert board.take(FaultKind.REJECT, "lighter2") is not None
    assert board.take(FaultKind.REJECT, "lighter2") is not None
    assert board.take(FaultKind.REJECT, "lighter2") is None


def test_immediate_kind_without_a_registered_action_is_refused() -> None:
    board = FaultBoard("telegram")
    with pytest.raises(FaultError):
        board.admit(Fault(FaultKind.NONCE_SKEW))
