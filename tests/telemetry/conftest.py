"""Fixtures for telemetry tests: a real collector on an ephemeral loopback port, with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hedgectl.telemetry.collector import HeartbeatStore, ThreadedCollector

TOKEN = "collector-token-7f3a9c"


class ManualClock:
    """Milliseconds that advance only when the test says so."""

    def __init__(self, start_ms: float = 1_700_000_000_000.0) -> None:
        self.now_ms = start_ms

    def __call__(self) -> float:
        return self.now_ms

    def advance(self, ms: float) -> None:
        self.now_ms += ms


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def collector(clock: ManualClock) -> Iterator[ThreadedCollector]:
    with ThreadedCollector(port=0, token=TOKEN, store=HeartbeatStore(clock_ms=clock), access_log=True) as server:
        yield server


@pytest.fixture
def http(collector: ThreadedCollector) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=collector.url, headers={"x-auth-token": TOKEN}, timeout=10) as client:
        yield client
