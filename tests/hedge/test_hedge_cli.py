"""``hedgectl hedge`` as operators run it: a process, JSON events, signals, a crash, and recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from hedgectl.config.starter import paper_document, write_config

FAST_ARGS = ["--size", "0.5", "--wait-min", "0.5", "--wait-max", "0.8", "--timeout", "1.5", "--poll-interval", "0.3"]


def test_paper_run_needs_no_config_and_ends_completed_and_flat(cli_subprocess, tmp_path):
    result = cli_subprocess("hedge", "run", "--paper", "--direction", "short", "--json", *FAST_ARGS, cwd=tmp_path)
    assert result.exit_code == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all("event" in e and "ts" in e for e in events)
    summary = events[-1]
    assert summary["event"] == "summary"
    assert summary["outcome"] == "completed"
    assert summary["positions"] == {"BP": "0", "L1": "0", "L2": "0"}
    assert set(summary["pnl"]) == {"BP", "L1", "L2", "total"}


def test_paper_run_with_grvt_as_the_bridge_ends_flat(cli, tmp_path):
    result = cli("hedge", "run", "--paper", "--role", "BP=grvt", "--json", *FAST_ARGS)
    assert result.exit_code == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["outcome"] == "completed"
    assert summary["positions"] == {"BP": "0", "L1": "0", "L2": "0"}


def test_dry_run_prints_the_plan_and_trades_nothing(cli, tmp_path):
    result = cli("hedge", "run", "--paper", "--dry-run", "--json", "--size", "0.3")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # one JSON object
    assert summary["outcome"] == "aborted" and summary["dry_run"] is True
    assert summary["plan"]["size"] == "0.3"
    assert summary["cycle_id"] is None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--direction", "sideways"], "--direction"),
        (["--size", "0"], "--size"),
        (["--size", "-1"], "--size"),
        (["--size", "abc"], "--size"),
        (["--wait-min", "5", "--wait-max", "1"], "wait"),
        (["--slippage", "lighter"], "--slippage"),
        (["--role", "BP=lighter1"], "same account"),
        (["--role", "BP=nope"], "unknown connector 'nope'"),
        (["--role", "X1=grvt"], "--role takes BP, L1 or L2"),
        (["--retries", "backpack=x"], "--retries"),
        (["--retries", "backpack=-3"], "--retries"),
        (["--net-tolerance", "-1"], "--net-tolerance"),
        (["--slippage", "backpack=5"], "--slippage"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(cli, args, needle):
    result = cli("hedge", "run", "--paper", *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert "Traceback" not in result.output


class PaperWorld:
    """Paper venues in this test process, and a config file pointing hedgectl processes at them."""

    def __init__(self, venues, home: Path):
        self.venues = venues
        self.home = home
        self.config = home / "conf" / "hedgectl.toml"
        document, secrets = paper_document(venues.accounts_document())
        write_config(self.config, document, secrets)
        self.env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
                    "XDG_CONFIG_HOME": str(home / "cfg")}

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "hedgectl", "--config", str(self.config), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.home,
        )

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hedgectl", "--config", str(self.config), *args],
            capture_output=True, text=True, env=self.env, cwd=self.home, timeout=timeout,
        )

    def positions(self) -> dict[str, Decimal]:
        sizes = {}
        for kind in ("backpack", "lighter"):
            for name, account in self.venues.state(kind)["accounts"].items():
                sizes[name] = sum((Decimal(str(p.get("signed_size", 0))) for p in account["positions"]), Decimal(0))
        return sizes

    def open_orders(self) -> int:
        return sum(len(self.venues.state(kind)["open_orders"]) for kind in ("backpack", "lighter"))


def read_events_until(process: subprocess.Popen, predicate, timeout: float = 60) -> list[dict]:
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        seen.append(event)
        if predicate(event):
            return seen
    raise AssertionError(f"event not seen; got {[e['event'] for e in seen]}; stderr: {process.stderr.read()[-2000:]}")


@pytest.fixture
def world(paper_venues_factory, tmp_path):
    return PaperWorld(paper_venues_factory(), tmp_path)


def test_sigint_during_the_wait_exits_3_after_flattening(world):
    process = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "20", "--wait-max", "20")
    read_events_until(process, lambda e: e["event"] == "countdown")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 3, err[-2000:]
    summary = json.loads(out.splitlines()[-1])
    assert summary["outcome"] == "emergency_exit"
    assert all(size == 0 for size in world.positions().values())


def test_sigint_while_monitoring_exits_3_after_flattening(world):
    process = world.start("hedge", "run", "--json", *FAST_ARGS[:6], "--timeout", "60", "--poll-interval", "0.3")
    read_events_until(process, lambda e: e["event"] == "phase" and e["phase"] == "monitor")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 3
    assert all(size == 0 for size in world.positions().values())


KILL_POINTS = {
    # name: (faults armed before the run, the event after which the process is killed)
    "after the BP intent": (
        [("backpack", "latency", {"ms": 1500, "path": "/api/v1/order", "count": 1})],
        lambda e: e["event"] == "intent" and e["role"] == "BP",
    ),
    "after the BP fill": (
        [("lighter", "latency", {"ms": 1500, "path": "/api/v1/sendTx", "count": 1})],
        lambda e: e["event"] == "fill" and e["role"] == "BP",
    ),
    "after the L1 send": (
        [("lighter", "latency", {"ms": 1500, "path": "/api/v1/sendTx", "count": 1})],
        lambda e: e["event"] == "intent" and e["role"] == "L1",
    ),
    "during the wait": ([], lambda e: e["event"] == "countdown"),
    "during the rebalance": ([], lambda e: e["event"] == "intent" and e["purpose"] == "rebalance"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_at_each_phase_is_recovered_flat_with_a_consistent_journal(world, point):
    faults, moment = KILL_POINTS[point]
    for venue, kind, options in faults:
        world.venues.arm(venue, kind, **options)
    process = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "1", "--wait-max", "1.5",
                          "--timeout", "30")
    if point == "during the rebalance":
        # the next Backpack order after the wait is the rebalance: slow it down so the kill lands while it is out
        read_events_until(process, lambda e: e["event"] == "countdown")
        world.venues.arm("backpack", "latency", ms=1500, path="/api/v1/order", count=1)
    read_events_until(process, moment)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    world.venues.clear("backpack")
    world.venues.clear("lighter")

    status = world.run("hedge", "status", "--json")
    before = json.loads(status.stdout)["cycle"]
    assert before["resolved"] is False and before["running"] is False
    assert status.returncode == 4

    second = world.run("hedge", "run", "--json", "--size", "0.5")
    assert second.returncode == 2 and "hedge recover" in second.stderr

    recovered = world.run("hedge", "recover", "--yes", "--json")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    report = json.loads(recovered.stdout)["recovered"][0]
    assert report["resolved"] is True
    assert all(size == 0 for size in world.positions().values())
    assert world.open_orders() == 0
    assert world.venues.exchange_audit() == []

    after = json.loads(world.run("hedge", "status", "--json").stdout)["cycle"]
    assert after["resolved"] is True
    for role, leg in after["legs"].items():
        assert leg["position_by_journal"] == "0", (role, leg)
        assert all(order["state"] in ("filled", "cancelled", "failed") for order in leg["orders"])


def test_history_lists_past_paper_cycles_newest_first_with_outcome_and_pnl(cli):
    for direction in ("long", "short"):
        assert cli("hedge", "run", "--paper", "--direction", direction, "--json", *FAST_ARGS).exit_code == 0
    result = cli("history", "--paper", "--json")
    assert result.exit_code == 0
    cycles = json.loads(result.stdout)["cycles"]
    assert [c["direction"] for c in cycles] == ["short", "long"]
    assert all(c["outcome"] == "completed" and c["pnl"] is not None and c["size"] == "0.5" for c in cycles)
    table = cli("history", "--paper")
    assert "hedge history" in table.stdout and cycles[0]["id"] in table.stdout
    assert json.loads(cli("history", "--json").stdout)["cycles"] == []  # live and paper journals are apart


def test_recover_can_hedge_what_is_open_instead_of_flattening(world):
    world.venues.arm("lighter", "latency", ms=3000, path="/api/v1/sendTx", count=1)
    process = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "1", "--wait-max", "1.5")
    read_events_until(process, lambda e: e["event"] == "intent" and e["role"] == "L1")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    world.venues.clear("lighter")

    recovered = world.run("hedge", "recover", "--action", "hedge", "--yes", "--json")
    assert recovered.returncode == 4, recovered.stderr[-2000:]  # hedged, but open: an operator's to flatten
    assert "hedged but open" in recovered.stderr
    report = json.loads(recovered.stdout)["recovered"][0]
    assert report["resolved"] is True and report["action"] == "hedge"
    sizes = world.positions()
    assert sizes["backpack"] == Decimal("0.5")
    assert sizes["lighter1"] + sizes["lighter2"] == Decimal("-0.5")  # hedged, not flattened
    assert json.loads(world.run("hedge", "status", "--json").stdout)["cycle"]["resolved"] is True
    flattened = world.run("flatten", "--all", "--yes", "--json")
    assert flattened.returncode == 0, flattened.stderr[-2000:]
    assert all(size == 0 for size in world.positions().values())


def test_manual_trading_is_refused_on_an_account_a_hedge_is_trading(world):
    process = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "30", "--wait-max", "30")
    read_events_until(process, lambda e: e["event"] == "countdown")
    refused = world.run("order", "market", "lighter1", "--side", "buy", "--size", "0.01", "--yes")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "in use by" in refused.stderr and "hedge run" in refused.stderr
    assert process.returncode == 3
    assert all(size == 0 for size in world.positions().values())
