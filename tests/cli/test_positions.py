"""``hedgectl positions`` against paper venues: signs, the hedge net, failing venues, concurrency and --watch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from hedgectl.config.loader import load_config
from hedgectl.execution.snapshot import read_positions
from hedgectl.connectors.factory import ConnectorSet


def _rows(document, connector):
    return [row for row in document["positions"] if row["connector"] == connector]


def test_positions_read_by_another_client_carry_their_sign(desk):
    desk.trade("backpack", "sell", "0.05")
    desk.trade("lighter1", "buy", "0.03")
    desk.trade("lighter2", "buy", "0.02")

    code, document = desk.run_json("positions")

    assert code == 0
    assert document["errors"] == []
    (backpack,) = _rows(document, "backpack")
    (lighter1,) = _rows(document, "lighter1")
    (lighter2,) = _rows(document, "lighter2")
    assert (backpack["symbol"], backpack["signed_size"], backpack["role"]) == ("ETH_USDC_PERP", "-0.05", "BP")
    assert (lighter1["symbol"], lighter1["signed_size"], lighter1["role"]) == ("ETH", "0.03", "L1")
    assert lighter2["signed_size"] == "0.02"
    assert backpack["signed_size"] == str(desk.position("backpack"))
    for row in (backpack, lighter1, lighter2):
        assert row["entry_price"] is not None and row["mark_price"] is not None
        assert row["equity"] is not None and row["venue"] in ("backpack", "lighter")
    assert document["net"]["signed_size"] == "0"
    assert document["net"]["flat"] is True
    assert [leg["role"] for leg in document["net"]["legs"]] == ["BP", "L1", "L2"]


def test_a_hedge_that_is_not_flat_is_flagged_in_the_net(desk):
    desk.trade("backpack", "buy", "0.05")
    desk.trade("lighter1", "sell", "0.03")

    code, document = desk.run_json("positions")
    human = desk.run("positions")

    assert code == 0
    assert document["net"] == {
        **document["net"], "signed_size": "0.02", "flat": False, "status": "not flat",
    }
    assert "NOT FLAT" in human.stdout
    assert "0.02" in human.stdout
    assert "-0.03" in human.stdout


def test_flat_accounts_still_get_a_row_with_an_explicit_zero(desk):
    code, document = desk.run_json("positions", "lighter1")

    assert code == 0
    assert [(r["connector"], r["symbol"], r["signed_size"]) for r in document["positions"]] == [
        ("lighter1", "ETH", "0")
    ]
    # one leg of three read: no net can be stated
    assert document["net"] is None


def test_a_venue_that_is_down_shows_its_error_while_the_others_print(desk):
    desk.trade("backpack", "buy", "0.01")
    desk.venues.arm("lighter", "down", seconds=60)

    code, document = desk.run_json("positions")
    human = desk.run("positions")

    assert code == 1
    assert {r["connector"] for r in document["positions"]} == {"backpack", "grvt"}
    assert _rows(document, "backpack")[0]["signed_size"] == "0.01"
    assert sorted(e["connector"] for e in document["errors"]) == ["lighter1", "lighter2"]
    assert all(e["error"] for e in document["errors"])
    # an unreadable leg is unknown, never zero, and so is the net
    assert document["net"]["signed_size"] is None
    assert document["net"]["status"] == "unknown"
    assert [leg["signed_size"] for leg in document["net"]["legs"]] == ["0.01", None, None]
    assert human.exit_code == 1
    assert "backpack" in human.stdout and "unknown" in human.stdout
    assert "2 failed" in human.stdout


def test_a_failing_balance_read_is_an_error_but_keeps_the_positions(desk):
    desk.trade("backpack", "sell", "0.02")
    desk.venues.arm("backpack", "error", status=500, path="/api/v1/capital")

    code, document = desk.run_json("positions", "backpack")

    assert code == 1
    assert document["positions"][0]["signed_size"] == "-0.02"
    assert document["positions"][0]["equity"] is None
    assert "balance" in document["errors"][0]["error"]


def test_a_slow_venue_does_not_hold_back_the_others(desk):
    desk.venues.arm("backpack", "latency", ms=600)
    config = load_config(desk.config_path)
    arrivals: list[str] = []

    async def read():
        async with ConnectorSet(config) as connectors:
            return await read_positions(
                connectors, ["backpack", "lighter1", "lighter2"], on_reading=lambda r: arrivals.append(r.connector)
            )

    snapshot = asyncio.run(read())

    assert arrivals[-1] == "backpack"
    assert sorted(arrivals[:2]) == ["lighter1", "lighter2"]
    # the rows keep the order asked for, whatever the order of arrival
    assert [r.connector for r in snapshot.readings] == ["backpack", "lighter1", "lighter2"]
    assert snapshot.ok


def _watch(desk, *args: str, until, signum: int = signal.SIGINT) -> tuple[list[str], int, str]:
    """Run ``positions --watch ARGS`` as a process, read lines until ``until(lines)`` holds (at most 50), send
    ``signum`` (Ctrl-C by default), and wait for the exit."""
    env = {**os.environ, "HEDGECTL_CONFIG": str(desk.config_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "positions", "--watch", "--interval", "0.2", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    read: list[str] = []
    try:
        while len(read) < 50 and not until(read):
            read.append(process.stdout.readline())
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return read, process.returncode, stderr


def test_watch_streams_a_json_line_per_reading_and_ctrl_c_exits_0(desk):
    desk.trade("lighter1", "sell", "0.01")

    everyone = {"backpack", "lighter1", "lighter2", "grvt"}

    lines, code, stderr = _watch(desk, "--json", until=lambda read: everyone <= {
        json.loads(line)["connector"] for line in read
    })

    assert code == 0, stderr[-2000:]
    events = [json.loads(line) for line in lines]
    assert {event["event"] for event in events} == {"reading"}
    assert {event["connector"] for event in events} == everyone
    lighter1 = next(event for event in events if event["connector"] == "lighter1")
    assert lighter1["positions"][0]["signed_size"] == "-0.01"
    assert lighter1["error"] is None
    assert "Traceback" not in stderr


def test_watch_without_a_terminal_prints_a_line_per_reading(desk):
    desk.trade("backpack", "buy", "0.02")

    lines, code, _ = _watch(desk, "backpack", until=lambda read: len(read) == 2)

    assert code == 0
    assert all("backpack: ETH_USDC_PERP 0.02" in line for line in lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
                         ids=["SIGTERM", "SIGHUP", "SIGQUIT"])
def test_watch_stops_cleanly_on_every_stop_signal(desk, signum):
    lines, code, stderr = _watch(desk, "lighter1", until=lambda read: len(read) == 2, signum=signum)

    assert code == 0, stderr[-2000:]
    assert all("lighter1: ETH" in line for line in lines), lines
    assert f"{signal.Signals(signum).name} received" in stderr and "Traceback" not in stderr


def test_watch_exits_1_when_a_venue_was_failing_when_it_stopped(desk):
    desk.venues.arm("backpack", "error", status=503, count=1000)

    lines, code, stderr = _watch(desk, "backpack", "lighter1", "--json", until=lambda read: {
        json.loads(line)["connector"] for line in read} == {"backpack", "lighter1"}, signum=signal.SIGTERM)

    assert code == 1, stderr[-2000:]
    events = [json.loads(line) for line in lines]
    assert next(event for event in events if event["connector"] == "backpack")["error"]
    assert stderr.strip().splitlines()[-1].startswith("error: stopped; the last reading failed at backpack:")
    assert "lighter1" not in stderr.strip().splitlines()[-1] and "Traceback" not in stderr


def test_bad_interval_is_a_usage_error(desk):
    result = desk.run("positions", "--watch", "--interval", "0")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--interval" in result.stderr


def test_a_positions_read_loads_neither_the_lighter_sdk_nor_aiohttp(desk):
    # cron runs this command often: it must start fast, and the Lighter SDK alone costs most of a second
    probe = (
        "import sys; from hedgectl.cli import main; code = main(['positions', '--json']); "
        "print(code, sorted(m for m in ('lighter', 'eth_account', 'aiohttp') if m in sys.modules), file=sys.stderr)"
    )
    env = {**os.environ, "HEDGECTL_CONFIG": str(desk.config_path)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)

    assert result.stderr.splitlines()[-1] == "0 []", result.stderr[-2000:]
    assert {"backpack", "lighter1", "lighter2"} <= {row["connector"] for row in json.loads(result.stdout)["positions"]}


def test_watch_reads_again_when_the_account_stream_pushes_a_change_not_at_the_next_interval(desk):
    # the interval (600 s) is beyond the test timeout: only the push can bring the reading with the new position
    env = {**os.environ, "HEDGECTL_CONFIG": str(desk.config_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "positions", "--watch", "--interval", "600", "--json", "lighter1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    sizes: list[str] = []
    try:
        while len(sizes) < 10 and "0.04" not in sizes:
            reading = json.loads(process.stdout.readline())
            sizes.append(reading["positions"][0]["signed_size"] if reading["positions"] else "0")
            if len(sizes) == 1:
                desk.trade("lighter1", "buy", "0.04")
                venue = desk.venues.venues.venue("lighter")
                desk.venues.call_sync(venue.streams.publish)  # the venue pushes its account's fill
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert sizes[0] == "0" and sizes[-1] == "0.04", sizes
    assert process.returncode == 0, stderr[-2000:]
