"""The recipes (shell scripts and cron lines) run as cron would run them, against paper venues."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
HEDGECTL = Path(sys.executable).with_name("hedgectl")


def recipe(desk, script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "HEDGECTL": str(HEDGECTL),
        "PYTHON": sys.executable,
        "HEDGECTL_CONFIG": str(desk.config_path),
        **env,
    }
    return subprocess.run(
        [str(RECIPES / script), *args], capture_output=True, text=True, env=environment, timeout=180
    )


def test_positions_snapshot_appends_one_json_line_per_run(desk, tmp_path):
    target = tmp_path / "positions.jsonl"
    desk.trade("backpack", "sell", "0.03")
    first = recipe(desk, "positions-snapshot.sh", str(target))
    desk.trade("lighter1", "buy", "0.03")
    second = recipe(desk, "positions-snapshot.sh", str(target))

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 2
    sizes = [{row["connector"]: row["signed_size"] for row in record["positions"]} for record in records]
    assert sizes[0] == {**sizes[0], "backpack": "-0.03", "lighter1": "0", "lighter2": "0"}
    assert sizes[1] == {**sizes[1], "backpack": "-0.03", "lighter1": "0.03", "lighter2": "0"}
    assert records[1]["net"]["flat"] is True
    assert all(record["exit_code"] == 0 and record["taken_at"] for record in records)


def test_positions_snapshot_to_csv_records_a_venue_that_is_down(desk, tmp_path):
    target = tmp_path / "positions.csv"
    desk.trade("backpack", "buy", "0.01")
    assert recipe(desk, "positions-snapshot.sh", str(target)).returncode == 0
    desk.venues.arm("lighter", "down", seconds=60)

    result = recipe(desk, "positions-snapshot.sh", str(target))

    assert result.returncode == 1
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first, latest = ({row["connector"]: row for row in rows if row["taken_at"] == taken}
                     for taken in dict.fromkeys(row["taken_at"] for row in rows))
    assert {name: first[name]["signed_size"] for name in ("backpack", "lighter1", "lighter2")} == {
        "backpack": "0.01", "lighter1": "0", "lighter2": "0",
    }
    assert {name: latest[name]["signed_size"] for name in ("backpack", "lighter1", "lighter2")} == {
        "backpack": "0.01", "lighter1": "", "lighter2": "",
    }
    assert latest["lighter1"]["error"] and latest["lighter2"]["error"]
    assert latest["backpack"]["net"] == ""  # the net of a hedge with an unknown leg is unknown


def test_positions_snapshot_with_a_bad_connector_appends_nothing(desk, tmp_path):
    target = tmp_path / "positions.jsonl"

    result = recipe(desk, "positions-snapshot.sh", str(target), "nosuch")

    assert result.returncode == 2
    assert "unknown connector" in result.stderr
    assert not target.exists()


def test_nonce_check_finds_a_nonce_out_of_step_and_fix_adopts_the_venues(desk):
    for name in ("lighter1", "lighter2"):
        assert desk.run("order", "market", name, "--side", "buy", "--size", "0.01", "--yes").exit_code == 0
    in_step = recipe(desk, "nonce-check.sh", "lighter1", "lighter2")
    desk.venues.arm("lighter", "nonce_skew", account="lighter2", amount=2)

    drifted = recipe(desk, "nonce-check.sh", "lighter1", "lighter2")
    fixed = recipe(desk, "nonce-check.sh", "--fix", "lighter2")
    after = recipe(desk, "nonce-check.sh", "lighter1", "lighter2")

    assert in_step.returncode == 0
    assert "lighter1: nonce in step" in in_step.stdout and "lighter2: nonce in step" in in_step.stdout
    assert drifted.returncode == 1
    assert "lighter1: nonce in step" in drifted.stdout
    assert "lighter2: nonce out of step" in drifted.stderr
    assert fixed.returncode == 0 and "refreshed" in fixed.stdout
    assert after.returncode == 0


def test_nonce_check_of_a_backpack_connector_is_a_usage_error(desk):
    result = recipe(desk, "nonce-check.sh", "backpack")

    assert result.returncode == 2
    assert "only Lighter connectors" in result.stderr


def test_daily_smoke_test_logs_a_report_per_connector_and_leaves_nothing_open(desk_factory, tmp_path):
    desk = desk_factory(tick_seconds=0.05, volatility_scale=Decimal("4"))
    log = tmp_path / "smoke.jsonl"

    result = recipe(desk, "daily-smoke-test.sh", str(log), "backpack", "lighter2", SMOKE_TIMEOUT="60")

    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["connector"], r["ok"], r["exit_code"]) for r in reports] == [
        ("backpack", True, 0), ("lighter2", True, 0),
    ]
    assert desk.position("backpack") == 0 and desk.position("lighter2") == 0


def test_daily_smoke_test_exits_with_the_worst_code(desk, tmp_path):
    log = tmp_path / "smoke.jsonl"
    # frozen prices: the limit order is never crossed and the test times out with nothing open

    result = recipe(desk, "daily-smoke-test.sh", str(log), "lighter1", SMOKE_TIMEOUT="0.3")

    assert result.returncode == 1
    (report,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert report["ok"] is False and report["left_open"] == []


def test_every_cron_line_runs_a_recipe_that_exists(desk):
    lines = [line for line in (RECIPES / "crontab").read_text().splitlines() if re.match(r"^[\d*/,-]+\s", line)]

    assert len(lines) == 3
    for line in lines:
        script = re.search(r"\$RECIPES/(\S+)", line).group(1)
        assert os.access(RECIPES / script, os.X_OK), script
