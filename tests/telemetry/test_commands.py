"""The telemetry and notify commands, and a whole paper hedge reporting to Telegram and a collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hedgectl.config.starter import paper_document, write_config
from hedgectl.telemetry.collector import ThreadedCollector

TOKEN = "collector-token-for-tests-0123456789"


@pytest.fixture
def collector():
    with ThreadedCollector(port=0, token=TOKEN) as server:
        yield server


@pytest.fixture
def paper_config_file(paper_venues_factory, tmp_path, collector):
    """A config for fresh paper venues with telemetry on (fast heartbeats) and Telegram on the paper sink."""
    venues = paper_venues_factory()
    document, secrets = paper_document(venues.accounts_document())
    document["telemetry"] = {
        "enabled": True,
        "base_url": collector.url,
        "group": "paper-a",
        "interval_secs": 0.2,
        "bots": {"BP": "bp-a", "L1": "l1-a", "L2": "l2-a"},
    }
    secrets["HEDGECTL_TELEMETRY_TOKEN"] = TOKEN
    path = tmp_path / "conf" / "hedgectl.toml"
    write_config(path, document, secrets)
    return venues, path


def status_of(collector) -> dict:
    return httpx.get(f"{collector.url}/api/status", headers={"x-auth-token": TOKEN}).json()


def test_push_posts_one_heartbeat_per_role_from_live_reads(cli, paper_config_file, collector):
    venues, path = paper_config_file
    result = cli("--config", str(path), "telemetry", "push", "--json")
    assert result.exit_code == 0, result.output
    assert all(role["ok"] for role in json.loads(result.stdout)["results"])
    bots = {bot["name"]: bot for bot in status_of(collector)["bots"]}
    assert set(bots) == {"bp-a", "l1-a", "l2-a"}
    assert all(bot["online"] for bot in bots.values())
    assert bots["l1-a"]["payload"]["role"] == "L1" and bots["l1-a"]["payload"]["group"] == "paper-a"
    assert bots["bp-a"]["payload"]["position_base"] == "0"


def test_push_without_json_prints_a_table_of_what_was_sent_and_exits_0(cli, paper_config_file, collector):
    venues, path = paper_config_file
    result = cli("--config", str(path), "telemetry", "push")
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    for bot_name in ("bp-a", "l1-a", "l2-a"):
        line = next(line for line in result.stdout.splitlines() if bot_name in line)
        assert "sent" in line
    assert {bot["name"] for bot in status_of(collector)["bots"]} == {"bp-a", "l1-a", "l2-a"}


def test_push_without_json_names_the_failed_venue_in_its_table(cli, paper_config_file, collector):
    venues, path = paper_config_file
    venues.arm("lighter", "error", status=503, count=50)
    result = cli("--config", str(path), "telemetry", "push")
    assert result.exit_code == 1
    assert "internal error" not in result.output
    assert "venue failed" in next(line for line in result.stdout.splitlines() if "l1-a" in line)
    assert "sent" in next(line for line in result.stdout.splitlines() if "bp-a" in line)


def test_push_says_which_venue_failed_and_exits_1(cli, paper_config_file, collector):
    venues, path = paper_config_file
    venues.arm("lighter", "error", status=503, count=50)
    result = cli("--config", str(path), "telemetry", "push", "--json")
    assert result.exit_code == 1
    failures = {r["role"]: r for r in json.loads(result.stdout)["results"] if not r["ok"]}
    assert set(failures) == {"L1", "L2"}
    assert all(r["failure"] == "venue" for r in failures.values())
    assert {bot["name"] for bot in status_of(collector)["bots"]} == {"bp-a"}  # unknown is never posted as zero


def test_push_to_a_collector_that_is_down_exits_1(cli, paper_config_file, collector):
    venues, path = paper_config_file
    collector.stop()
    result = cli("--config", str(path), "telemetry", "push", "--json")
    assert result.exit_code == 1
    assert {r["failure"] for r in json.loads(result.stdout)["results"]} == {"collector"}


def test_watch_once_and_json_show_the_bots(cli, paper_config_file, collector):
    venues, path = paper_config_file
    cli("--config", str(path), "telemetry", "push")
    frame = cli("--config", str(path), "telemetry", "watch", "--once")
    assert frame.exit_code == 0
    for needle in ("paper-a", "bp-a", "l1-a", "l2-a"):
        assert needle in frame.stdout
    document = json.loads(cli("--config", str(path), "telemetry", "watch", "--json").stdout)
    assert len(document["bots"]) == 3


def test_watch_without_a_url_is_a_usage_error(cli):
    result = cli("telemetry", "watch", "--once")
    assert result.exit_code == 2
    assert "collector URL" in result.stderr


def test_serve_runs_until_sigterm_and_never_prints_its_token(tmp_path):
    import signal
    import time

    env = {**os.environ, "HEDGECTL_TELEMETRY_TOKEN": TOKEN, "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "telemetry", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    line = process.stdout.readline()
    url = line.split("listening on ")[1].split()[0]
    assert httpx.get(f"{url}/api/status").status_code == 401
    assert httpx.get(f"{url}/api/status", headers={"x-auth-token": TOKEN}).status_code == 200
    time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert TOKEN not in line + out + err


def test_notify_test_reaches_the_paper_sink(cli):
    result = cli("notify", "test", "--paper", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_notify_test_without_telegram_settings_is_a_usage_error(cli, tmp_path):
    path = tmp_path / "x.toml"
    cli("config", "init", str(path))
    result = cli("--config", str(path), "notify", "test")
    assert result.exit_code == 2
    assert "HEDGECTL_TELEGRAM_BOT_TOKEN" in result.stderr


def test_a_paper_hedge_sends_start_and_finish_messages_and_heartbeats(cli, paper_config_file, collector):
    venues, path = paper_config_file
    result = cli("--config", str(path), "hedge", "run", "--json", "--size", "0.5", "--wait-min", "0.5",
                 "--wait-max", "0.6", "--timeout", "1.0", "--poll-interval", "0.2")
    assert result.exit_code == 0, result.stderr[-2000:]
    texts = [m["text"] for m in httpx.get(f"{venues.url('telegram')}/_sim/messages").json()["messages"]]
    assert any("Hedge started" in t for t in texts)
    assert any("Hedge finished" in t and "completed" in t for t in texts)
    bots = {bot["name"]: bot for bot in status_of(collector)["bots"]}
    assert set(bots) == {"bp-a", "l1-a", "l2-a"}
    assert {bot["payload"]["role"] for bot in bots.values()} == {"BP", "L1", "L2"}
    assert bots["l2-a"]["payload"]["direction"] == "long"


def test_an_emergency_exit_is_announced_with_what_was_flattened(cli, paper_config_file):
    venues, path = paper_config_file
    venues.arm("lighter", "reject", account="lighter1", count=20)
    result = cli("--config", str(path), "hedge", "run", "--json", "--size", "0.5", "--timeout", "1.0")
    assert result.exit_code == 3, result.stderr[-2000:]
    texts = [m["text"] for m in httpx.get(f"{venues.url('telegram')}/_sim/messages").json()["messages"]]
    emergency = [t for t in texts if "EMERGENCY EXIT" in t]
    assert emergency and "Flattened" in emergency[0] and "BP" in emergency[0]
    assert "Nothing is left open" in emergency[0]
