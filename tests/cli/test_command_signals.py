"""Commands that trade outside a hedge cycle (smoke test, minimum-order probe, a manual order) meet every stop signal
on the one path: real processes, real signals, and the paper venue's own books to judge what was left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from hedgectl.config.starter import paper_document, write_config


class Desk:
    """Paper venues in this process (prices still unless a test moves them) and a config for them; the commands
    trade on Backpack."""

    def __init__(self, venues, home: Path):
        self.venues = venues
        self.home = home
        self.config = home / "conf" / "hedgectl.toml"
        document, secrets = paper_document(venues.accounts_document())
        document["general"]["data_dir"] = str(home / "data")
        write_config(self.config, document, secrets)
        self.env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "xdg"),
                    "XDG_CONFIG_HOME": str(home / "cfg")}

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "hedgectl", "--config", str(self.config), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.home,
        )

    def position(self, account: str = "backpack", kind: str = "backpack") -> Decimal:
        positions = self.venues.state(kind)["accounts"][account]["positions"]
        return sum((Decimal(str(p.get("signed_size", 0))) for p in positions), Decimal(0))

    def orders_sent(self, kind: str = "backpack") -> int:
        return len(self.venues.state(kind)["orders"])

    def open_orders(self, kind: str = "backpack") -> int:
        return len(self.venues.state(kind)["open_orders"])


@pytest.fixture
def desk(paper_venues_factory, tmp_path):
    return Desk(paper_venues_factory(kinds=["backpack", "lighter"]), tmp_path)


def _stderr_until(process: subprocess.Popen, text: str, timeout: float = 60) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} not logged; stderr so far: {''.join(seen)[-2000:]}")


def _until(predicate, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"the command ended first (exit {process.returncode}): {process.stderr.read()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError("the venue never showed what was awaited")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_any_stop_signal_during_the_smoke_tests_chase_cancels_its_order_and_exits_130(desk, signum):
    # prices do not move here, so the post-only order rests until the signal
    process = desk.start("smoke-test", "backpack", "--timeout", "120")
    _stderr_until(process, "chasing")
    _until(lambda: desk.open_orders() == 1, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "nothing of it is left open" in stderr
    assert "Traceback" not in stderr
    assert desk.open_orders() == 0
    assert desk.position() == 0


def test_a_second_signal_aborts_the_smoke_test_and_says_what_may_be_left_with_exit_4(desk):
    process = desk.start("smoke-test", "backpack", "--timeout", "60")
    _stderr_until(process, "chasing")
    _until(lambda: desk.open_orders() == 1, process)
    # the clean-up's cancel is held at the venue, so the second signal lands while it is under way
    desk.venues.arm("backpack", "latency", ms=5000, path="/api/v1/order", count=5)
    process.send_signal(signal.SIGTERM)
    _stderr_until(process, "SIGTERM received")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 4, stderr
    assert "hedgectl flatten backpack" in stderr
    assert "Traceback" not in stderr


def test_a_stop_signal_during_the_minimum_order_probe_lets_it_put_the_position_back(desk):
    # the probe's orders are held at the venue for a while, so the signal lands while the probe trades
    desk.venues.arm("backpack", "latency", ms=1500, path="/api/v1/order", count=2)
    process = desk.start("min-order", "probe", "--target", "backpack:long", "--yes")
    _until(lambda: desk.orders_sent() >= 1, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "SIGTERM received: finishing the minimum-order probe" in stderr
    assert desk.position() == 0, stderr
    assert desk.open_orders() == 0


@pytest.mark.parametrize("connector, kind, path", [
    ("backpack", "backpack", "/api/v1/order"),
    ("lighter1", "lighter", "/api/v1/sendTx"),
])
def test_an_order_still_on_its_way_when_the_smoke_test_stops_is_cancelled_once_it_lands(desk, connector, kind, path):
    # the chase's first order is held at the venue, so the stop cuts its request off before the answer; the order
    # then lands and rests, and a second look after the venue's landing horizon finds and cancels it
    arrivals = desk.venues.venues.venue(kind).record_arrivals()
    desk.venues.arm(kind, "latency", ms=2500, path=path, count=1)
    process = desk.start("smoke-test", connector, "--timeout", "120")
    _until(lambda: any(method == "POST" and seen == path for _, method, seen in list(arrivals)), process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while desk.orders_sent(kind) == 0 and time.monotonic() < deadline:  # the held order reaches the venue's book
        time.sleep(0.05)

    assert desk.orders_sent(kind) == 1
    assert desk.open_orders(kind) == 0, stderr
    assert desk.position(connector, kind) == 0
    assert process.returncode == 130, stderr
    assert "looking again" in stderr
