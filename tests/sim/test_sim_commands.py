"""``hedgectl sim serve / fault / state`` as an operator uses them, against a real ``sim serve`` process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


@pytest.fixture
def served(tmp_path: Path):
    """A ``hedgectl sim serve`` process with its accounts file and config; stopped with SIGINT afterwards."""
    accounts = tmp_path / "accounts.json"
    config = tmp_path / "conf" / "hedgectl.toml"
    env = {**os.environ, "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "sim", "serve", "--seed", "3", "--accounts-out", str(accounts),
         "--write-config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    deadline = time.time() + 30
    # the accounts file is written once the venues accept connections, the config right after it
    while not (accounts.exists() and (config.parent / ".env").exists()) and time.time() < deadline:
        time.sleep(0.05)
    assert accounts.exists(), process.stderr.read() if process.poll() is not None else "no accounts file"
    yield process, accounts, config, env
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 0


def hedgectl(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    from tests.secret_scan import record_output

    done = subprocess.run([sys.executable, "-m", "hedgectl", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)
    record_output(done.stdout, done.stderr)
    return done


def test_serve_writes_a_config_and_a_private_dotenv_that_other_commands_use(served, tmp_path):
    process, accounts, config, env = served
    dotenv = config.parent / ".env"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert stat.S_IMODE(accounts.stat().st_mode) == 0o600
    assert "SECRET" not in config.read_text() and "PRIVATE_KEY" not in config.read_text()
    checked = hedgectl("--config", str(config), "config", "check", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_fault_is_armed_listed_in_state_and_fires(served, tmp_path):
    process, accounts, config, env = served
    armed = hedgectl("sim", "fault", "backpack", "error", "--status", "503", "--count", "1",
                     "--accounts", str(accounts), "--json", env=env, cwd=tmp_path)
    assert armed.returncode == 0, armed.stderr
    state = json.loads(hedgectl("sim", "state", "backpack", "--accounts", str(accounts), "--json",
                                env=env, cwd=tmp_path).stdout)
    assert [f["kind"] for f in state["faults"]] == ["error"]
    url = json.loads(accounts.read_text())["backpack"]["url"]
    assert httpx.get(f"{url}/api/v1/markets").status_code == 503
    assert httpx.get(f"{url}/api/v1/markets").status_code == 200  # count 1: fired once, then gone


def test_fault_url_can_come_from_the_config_and_faults_can_be_cleared(served, tmp_path):
    process, accounts, config, env = served
    hedgectl("--config", str(config), "sim", "fault", "lighter", "latency", "--ms", "5", env=env, cwd=tmp_path)
    cleared = hedgectl("--config", str(config), "sim", "fault", "lighter", "--clear", "--json", env=env, cwd=tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    state = json.loads(hedgectl("--config", str(config), "sim", "state", "lighter", "--json",
                                env=env, cwd=tmp_path).stdout)
    assert state["faults"] == []


def test_an_order_under_a_lag_fault_armed_from_the_command_line_is_confirmed_once_its_records_show(served, tmp_path):
    process, accounts, config, env = served
    armed = hedgectl("--config", str(config), "sim", "fault", "lighter", "lag", "--ms", "1500", "--account",
                     "lighter1", env=env, cwd=tmp_path)
    assert armed.returncode == 0, armed.stderr
    state = json.loads(hedgectl("--config", str(config), "sim", "state", "lighter", "--json",
                                env=env, cwd=tmp_path).stdout)
    assert [(f["kind"], f["ms"], f["account"]) for f in state["faults"]] == [("lag", 1500, "lighter1")]
    started = time.monotonic()
    order = hedgectl("--config", str(config), "order", "market", "lighter1", "--side", "buy", "--size", "0.05",
                     "--yes", "--json", env=env, cwd=tmp_path)
    assert order.returncode == 0, order.stderr
    assert (json.loads(order.stdout)["state"], json.loads(order.stdout)["filled_size"]) == ("filled", "0.05")
    assert time.monotonic() - started >= 1.5  # confirmed from the records, once they showed
    refused = hedgectl("--config", str(config), "sim", "fault", "telegram", "lag", "--ms", "5", env=env,
                       cwd=tmp_path)
    assert refused.returncode == 2 and "does not support fault kind lag" in refused.stderr


def test_state_in_human_form_lists_accounts(served, tmp_path):
    process, accounts, config, env = served
    shown = hedgectl("sim", "state", "lighter", "--accounts", str(accounts), env=env, cwd=tmp_path)
    assert shown.returncode == 0
    assert "lighter1" in shown.stdout and "lighter2" in shown.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["sim", "fault", "kraken", "error"], "unknown paper venue"),
        (["sim", "fault", "backpack", "meteor"], "unknown fault kind"),
        (["sim", "fault", "backpack", "error", "--status", "200", "--url", "{url}"], "5xx"),
        (["sim", "state", "backpack", "--url", "http://127.0.0.1:1"], "cannot reach"),
    ],
)
def test_bad_sim_arguments_are_one_line_and_exit_2(cli, paper_venues, args, needle):
    args = [a.replace("{url}", paper_venues.url("backpack")) for a in args]
    result = cli(*args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
