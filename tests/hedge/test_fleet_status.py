"""``fleet status``: the table (and JSON) of every group a fleet wrote, live with ``--watch``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import tomli_w

from hedgectl.strategies.hedge.fleet import Fleet


def _config(tmp_path):
    data_dir = tmp_path / "data"
    path = tmp_path / "hedgectl.toml"
    path.write_text(tomli_w.dumps({"general": {"data_dir": str(data_dir)}}))
    return path, data_dir


def _written_fleet(data_dir) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    fleet = Fleet(["eth-a", "eth-b"], lambda name: [], data_dir=data_dir, now=lambda: now)
    a, b = fleet.groups["eth-a"], fleet.groups["eth-b"]
    a.apply({"event": "loop_cycle", "number": 1}, now)
    a.apply({"event": "loop_tally", "number": 1, "outcome": "completed", "pnl": "-1.25"}, now)
    a.apply({"event": "pause", "seconds": 30}, now)
    b.apply({"event": "loop", "stop_reason": "failed", "stop_detail": "[red]venue said[/red]"}, now)
    fleet._write_status(running=False)


def test_fleet_status_shows_each_groups_phase_cycles_pnl_today_outcome_and_stop_reason(cli, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path, data_dir = _config(tmp_path)
    _written_fleet(data_dir)
    data = json.loads(cli("--config", str(path), "fleet", "status", "--json").stdout)
    assert data["running"] is False
    rows = {g["name"]: g for g in data["groups"]}
    assert (rows["eth-a"]["phase"], rows["eth-a"]["cycles"], rows["eth-a"]["pnl_today"],
            rows["eth-a"]["last_outcome"]) == ("pause", 1, "-1.25", "completed")
    assert rows["eth-b"]["stop_reason"] == "failed"
    table = cli("--config", str(path), "fleet", "status").stdout
    assert "eth-a" in table and "-1.25" in table and "pause" in table
    # what came from a venue is drawn as text, never as markup
    assert "[red]venue said[/red]" in table


def test_fleet_status_without_a_fleet_says_so(cli, tmp_path):
    path, _ = _config(tmp_path)
    result = cli("--config", str(path), "fleet", "status")
    assert result.exit_code == 0
    assert "no fleet has run on this data directory" in result.stdout


def test_fleet_status_watch_json_prints_the_status_and_ends_on_ctrl_c(tmp_path):
    path, data_dir = _config(tmp_path)
    _written_fleet(data_dir)
    process = subprocess.Popen([sys.executable, "-m", "hedgectl", "--config", str(path), "fleet", "status",
                                "--watch", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "HOME": str(tmp_path)})
    try:
        first = json.loads(process.stdout.readline())
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert first["event"] == "fleet_status"
    assert [g["name"] for g in first["groups"]] == ["eth-a", "eth-b"]
    assert process.returncode == 0
