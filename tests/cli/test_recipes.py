"""The recipes (shell scripts and cron lines) run as cron would run them, against paper venues."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

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
    assert first.stdout + first.stderr + second.stdout + second.stderr == ""  # cron mails nothing
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
    assert len(result.stderr.splitlines()) == 1 and "lighter1" in result.stderr  # one line for the cron mail
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
    assert len(result.stderr.splitlines()) == 1
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
    assert in_step.stdout + in_step.stderr == ""  # silent when all is well
    assert drifted.returncode == 1
    assert drifted.stdout == ""
    assert len(drifted.stderr.splitlines()) == 1
    assert "lighter2: nonce out of step" in drifted.stderr and "lighter1" not in drifted.stderr
    assert fixed.returncode == 0 and "refreshed" in fixed.stdout and fixed.stderr == ""
    assert after.returncode == 0 and after.stdout + after.stderr == ""


def test_nonce_check_of_a_backpack_connector_is_a_usage_error(desk):
    result = recipe(desk, "nonce-check.sh", "backpack")

    assert result.returncode == 2
    assert "only Lighter connectors" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_daily_smoke_test_logs_a_report_per_connector_and_leaves_nothing_open(desk_factory, tmp_path):
    desk = desk_factory(tick_seconds=0.05, volatility_scale=Decimal("4"))
    log = tmp_path / "smoke.jsonl"

    result = recipe(desk, "daily-smoke-test.sh", str(log), "backpack", "lighter2", SMOKE_TIMEOUT="60")

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout + result.stderr == ""  # cron mails nothing on a good day
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
    assert len(result.stderr.splitlines()) == 1 and "lighter1" in result.stderr
    (report,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert report["ok"] is False and report["left_open"] == []


@pytest.mark.parametrize("script", ["positions-snapshot.sh", "daily-smoke-test.sh"])
def test_a_missing_log_directory_is_one_line_and_exit_2_with_nothing_traded(desk, tmp_path, script):
    missing = tmp_path / "var" / "log" / "hedgectl" / "out.jsonl"

    result = recipe(desk, script, str(missing), "backpack")

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "does not exist" in result.stderr and str(missing.parent) in result.stderr
    assert desk.orders("backpack") == []


@pytest.mark.parametrize("script", ["positions-snapshot.sh", "daily-smoke-test.sh"])
def test_a_log_that_cannot_be_written_is_one_line_and_non_zero(desk_factory, tmp_path, script):
    # a moving market, so that the smoke test's chased limit fills and a good report meets the unwritable log
    desk = desk_factory(tick_seconds=0.05, volatility_scale=Decimal("4"))
    unwritable = tmp_path / "taken.jsonl"
    unwritable.mkdir()  # a directory where the log file should be

    result = recipe(desk, script, str(unwritable), "backpack", SMOKE_TIMEOUT="60")

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert f"cannot write {unwritable}" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_cron_line_runs_a_recipe_that_exists(desk):
    lines = [line for line in (RECIPES / "crontab").read_text().splitlines() if re.match(r"^[\d*/,-]+\s", line)]

    assert len(lines) == 3
    for line in lines:
        script = re.search(r"\$RECIPES/(\S+)", line).group(1)
        assert os.access(RECIPES / script, os.X_OK), script


def wait_for_resolved_cycle(desk, *, timeout: float = 120) -> dict:
    """The journal's last cycle once it is resolved and no longer running (read as an operator would)."""
    deadline = time.monotonic() + timeout
    while True:
        code, document = desk.run_json("hedge", "status")
        cycle = (document or {}).get("cycle")
        if cycle and cycle["resolved"] and not cycle["running"]:
            return cycle
        assert time.monotonic() < deadline, f"no resolved cycle in the journal: {document}"
        time.sleep(0.2)


HEDGE_OPTIONS = ("--direction", "long", "--size", "0.1", "--wait-min", "0", "--wait-max", "0.2", "--timeout", "1")


@pytest.fixture
def tmux(tmp_path):
    """A tmux server of this test's own (its socket under tmp_path), killed afterwards."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for the tmux recipe's test")
    socket_dir = tmp_path / "tmux"
    socket_dir.mkdir()
    environment = {"TMUX_TMPDIR": str(socket_dir)}
    yield environment
    subprocess.run(["tmux", "kill-server"], env={**os.environ, **environment}, capture_output=True)


def test_hedge_run_in_tmux_outlives_its_launcher_and_leaves_its_summary_to_reattach_to(desk, tmux):
    started = recipe(desk, "hedge-run-detached.sh", "tmux", *HEDGE_OPTIONS, HEDGE_SESSION="hedge-t", **tmux)

    assert started.returncode == 0, started.stderr
    assert started.stderr == ""
    assert "tmux attach -t hedge-t" in started.stdout and "hedge status --watch" in started.stdout
    cycle = wait_for_resolved_cycle(desk)  # the launcher is gone; the run goes on in the tmux server
    assert cycle["outcome"] == "completed"
    assert desk.position("backpack") == desk.position("lighter1") == desk.position("lighter2") == 0
    # the journal resolves the cycle before the command prints its summary: wait for the summary, not a moment
    deadline = time.monotonic() + 60
    while True:
        pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", "hedge-t"], env={**os.environ, **tmux},
                              capture_output=True, text=True)
        if "hedge completed" in pane.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "hedge completed" in pane.stdout  # the pane stays for whoever reattaches


def test_a_second_tmux_run_under_the_same_name_is_refused_in_one_line(desk, tmux):
    first = recipe(desk, "hedge-run-detached.sh", "tmux", *HEDGE_OPTIONS, HEDGE_SESSION="hedge-t", **tmux)
    wait_for_resolved_cycle(desk)

    second = recipe(desk, "hedge-run-detached.sh", "tmux", *HEDGE_OPTIONS, HEDGE_SESSION="hedge-t", **tmux)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 2
    assert second.stdout == "" and len(second.stderr.splitlines()) == 1
    assert "hedge-t exists already" in second.stderr


#: Stands in for systemd-run where no user manager runs (containers, CI): records its arguments, then starts the
#: command after "--" in a session of its own and returns at once, as systemd-run does with a transient unit.
SYSTEMD_RUN_STAND_IN = """#!{python}
import json, subprocess, sys
arguments = sys.argv[1:]
if {refuse!r}:
    print("Failed to connect to bus: No medium found", file=sys.stderr)
    sys.exit(1)
with open({record!r}, "w") as out:
    json.dump(arguments, out)
command = arguments[arguments.index("--") + 1:]
with open({output!r}, "w") as output:
    subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True)
"""


def systemd_run(tmp_path, *, refuse: bool = False) -> tuple[Path, Path]:
    record, output = tmp_path / "systemd-run.json", tmp_path / "unit-output.log"
    stand_in = tmp_path / "systemd-run"
    stand_in.write_text(SYSTEMD_RUN_STAND_IN.format(python=sys.executable, refuse=refuse, record=str(record),
                                                    output=str(output)))
    stand_in.chmod(0o755)
    return stand_in, record


def test_hedge_run_as_a_transient_systemd_unit(desk, tmp_path):
    stand_in, record = systemd_run(tmp_path)

    started = recipe(desk, "hedge-run-detached.sh", "systemd", *HEDGE_OPTIONS, HEDGE_SESSION="hedge-u",
                     SYSTEMD_RUN=str(stand_in))

    assert started.returncode == 0, started.stderr
    assert "journalctl --user -u hedge-u" in started.stdout and "hedge status --watch" in started.stdout
    arguments = json.loads(record.read_text())
    options, command = arguments[:arguments.index("--")], arguments[arguments.index("--") + 1:]
    assert {"--user", "--unit=hedge-u", "--collect", "--same-dir"} <= set(options)
    assert command == [str(HEDGECTL.resolve()), "--config", str(desk.config_path.resolve()), "hedge", "run",
                       *HEDGE_OPTIONS]
    cycle = wait_for_resolved_cycle(desk)
    assert cycle["outcome"] == "completed"


def test_a_unit_that_cannot_be_started_is_one_line_and_exit_2(desk, tmp_path):
    stand_in, record = systemd_run(tmp_path, refuse=True)

    started = recipe(desk, "hedge-run-detached.sh", "systemd", *HEDGE_OPTIONS, SYSTEMD_RUN=str(stand_in))

    assert started.returncode == 2
    assert started.stdout == "" and len(started.stderr.splitlines()) == 1
    assert "Failed to connect to bus" in started.stderr
    assert desk.orders("backpack") == []
