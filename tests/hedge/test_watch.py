"""``hedge status --watch``: another process's cycle, followed from the journal, as an operator back over SSH sees it."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from tests.hedge.test_hedge_cli import PaperWorld, read_events_until


@pytest.fixture
def world(paper_venues_factory, tmp_path):
    return PaperWorld(paper_venues_factory(), tmp_path)


def test_watching_a_running_cycle_follows_it_until_resolved_then_prints_its_summary(world):
    run = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "3", "--wait-max", "3",
                      "--timeout", "1", "--poll-interval", "0.3")
    started = read_events_until(run, lambda e: e["event"] == "cycle")
    cycle_id = started[-1]["cycle_id"]
    watcher = world.start("hedge", "status", "--watch", "--json", "--interval", "0.2")
    out, err = watcher.communicate(timeout=120)
    run_out, run_err = run.communicate(timeout=120)
    assert run.returncode == 0, run_err[-2000:]
    assert watcher.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in out.splitlines()]
    assert {line["cycle"]["id"] for line in lines} == {cycle_id}
    updates = [line["cycle"] for line in lines if line["event"] == "status"]
    # it saw the cycle while it ran, with the legs the journal's fills open
    waiting = [u for u in updates if u["phase"] == "wait"]
    assert waiting and waiting[-1]["running"] is True
    assert waiting[-1]["legs"]["BP"]["position_by_journal"] == "0.5"
    assert waiting[-1]["legs"]["L1"]["position_by_journal"] == "-0.5"
    summary = lines[-1]
    assert summary["event"] == "summary"
    assert summary["cycle"]["resolved"] is True and summary["cycle"]["outcome"] == "completed"
    assert all(size == 0 for size in world.positions().values())


def test_ctrl_c_stops_the_watch_and_leaves_the_cycle_running(world):
    run = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "30", "--wait-max", "30")
    read_events_until(run, lambda e: e["event"] == "countdown")
    watcher = world.start("hedge", "status", "--watch", "--interval", "0.2")
    first = watcher.stdout.readline()
    assert "phase wait" in first, first
    watcher.send_signal(signal.SIGINT)
    _, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 130
    assert "stopped watching" in err and "Traceback" not in err
    assert run.poll() is None  # the cycle goes on
    assert world.positions()["backpack"] == Decimal("0.5")
    run.send_signal(signal.SIGINT)
    run.communicate(timeout=60)
    assert run.returncode == 3
    assert all(size == 0 for size in world.positions().values())


def test_watching_a_cycle_whose_process_died_unresolved_exits_4(world):
    world.venues.arm("lighter", "latency", ms=1500, path="/api/v1/sendTx", count=1)
    run = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "1", "--wait-max", "1.5")
    read_events_until(run, lambda e: e["event"] == "intent" and e["role"] == "L1")
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    world.venues.clear("lighter")
    watched = world.run("hedge", "status", "--watch", "--json")
    assert watched.returncode == 4, watched.stderr[-2000:]
    summary = json.loads(watched.stdout.splitlines()[-1])
    assert summary["event"] == "summary" and summary["cycle"]["resolved"] is False
    assert world.run("hedge", "recover", "--yes", "--json").returncode == 0
    assert all(size == 0 for size in world.positions().values())


def test_status_shows_average_prices_to_the_markets_tick(world):
    assert world.run("hedge", "run", "--json", "--size", "0.5", "--wait-min", "0", "--wait-max", "0",
                     "--timeout", "0.5").returncode == 0
    cycle = json.loads(world.run("hedge", "status", "--json").stdout)["cycle"]
    prices = [o["average_price"] for leg in cycle["legs"].values() for o in leg["orders"] if o["average_price"]]
    assert prices
    for leg in cycle["legs"].values():
        tick = Decimal(leg["tick_size"])
        for order in leg["orders"]:
            if order["average_price"]:
                assert Decimal(order["average_price"]) % tick == 0, order
    table = world.run("hedge", "status").stdout
    assert prices[0] in table
    assert not any(len(token.split(".")[-1]) > 6 for token in table.split() if token.replace(".", "").isdigit())


def test_watching_in_a_terminal_draws_the_live_view_from_the_journal(world):
    run = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "3", "--wait-max", "3",
                      "--timeout", "1", "--poll-interval", "0.3")
    read_events_until(run, lambda e: e["event"] == "countdown")
    master, slave = os.openpty()
    env = {**world.env, "COLUMNS": "150", "LINES": "40", "TERM": "xterm-256color"}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "--config", str(world.config), "hedge", "status", "--watch"],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=world.home, close_fds=True,
    )
    os.close(slave)
    chunks = []
    deadline = time.time() + 90
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif watcher.poll() is not None:
            break
    watcher.wait(timeout=30)
    os.close(master)
    run.communicate(timeout=60)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", b"".join(chunks).decode("utf-8", "replace"))
    assert watcher.returncode == 0, screen[-3000:]
    for needle in ("tri-venue hedge", "phase wait", "L2 enters in", "0.5 (journal)", "-0.5 (journal)",
                   "(resolved)"):
        assert needle in screen, needle
