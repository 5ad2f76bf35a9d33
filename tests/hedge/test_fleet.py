"""``fleet run``: every group's loop at once in its own process; stop signals and ``hedge stop`` end every group's
current cycle safe. Real fleet processes against paper venues in this test process; flatness is read at the
venues, every cycle's end from the groups' journals."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from hedgectl.rehearsal.fleet import PAPER_GROUPS
from tests.hedge.test_groups import GroupWorld, groups_world  # noqa: F401  (the fixture)


def fleet_events(process: subprocess.Popen, predicate, seen: list[dict], timeout_lines: int = 100000) -> None:
    for _ in range(timeout_lines):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"fleet ended early: {[e['event'] for e in seen][-10:]}; "
                                 f"{process.stderr.read()[-2000:]}")
        event = json.loads(line)
        seen.append(event)
        if predicate(event, seen):
            return


def finish(process: subprocess.Popen, seen: list[dict]) -> tuple[int, list[dict], str]:
    out, err = process.communicate(timeout=180)
    return process.returncode, seen + [json.loads(line) for line in out.splitlines() if line.strip()], err


def assert_all_resolved_and_flat(world: GroupWorld) -> dict[str, int]:
    assert world.flat(), world.positions()
    assert world.open_orders() == 0
    counts = {}
    for group in PAPER_GROUPS:
        cycles = world.cycles(group)
        assert all(cycle.resolved for cycle in cycles), [(c.id, c.phase) for c in cycles]
        counts[group] = len(cycles)
    return counts


def assert_accounts_kept_apart(world: GroupWorld) -> None:
    """No account traded by a group other than its own, and no venue refused a nonce or a duplicate id."""
    for group, roles in PAPER_GROUPS.items():
        for cycle in world.cycles(group):
            legs = cycle.params["legs"]
            assert {leg["connector"] for leg in legs.values()} == set(roles.values()), (group, legs)
    orders = world.orders_by_account()
    for roles in PAPER_GROUPS.values():
        assert all(orders.get(account) for account in roles.values())
    ledger = world.venues.venues.venue("lighter").ledger
    used = world.venues.call_sync(lambda: [(r.tx.account_index, r.tx.api_key_index, r.tx.nonce)
                                           for r in ledger.txs.values()])
    assert used and len(used) == len(set(used))


def test_two_groups_run_at_once_on_their_own_accounts(groups_world):
    world = groups_world
    result = world.run("fleet", "run", "--repeat", "2", "--pause", "2..2.5", "--stagger", "1", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    fleet = events[-1]
    assert fleet["event"] == "fleet"
    assert [(g["name"], g["cycles"], g["stop_reason"]) for g in fleet["groups"]] == [
        ("paper1", 2, "done"), ("paper2", 2, "done")]
    # the groups ran at the same time: the second group started before the first had ended its loop
    first_start = {e["group"]: e["ts"] for e in reversed(events) if e["event"] == "loop_cycle"}
    last_end = {e["group"]: e["ts"] for e in events if e["event"] == "loop_tally"}
    assert first_start["paper2"] < last_end["paper1"]
    assert assert_all_resolved_and_flat(world) == {"paper1": 2, "paper2": 2}
    assert_accounts_kept_apart(world)
    ids = [e["cycle_id"] for e in events if e["event"] == "summary"]
    assert len(ids) == len(set(ids)) == 4
    status = json.loads(world.run("fleet", "status", "--json").stdout)
    assert status["running"] is False
    assert [(g["name"], g["cycles"], g["last_outcome"]) for g in status["groups"]] == [
        ("paper1", 2, "completed"), ("paper2", 2, "completed")]


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.parametrize("signum", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_to_the_fleet_ends_every_groups_cycle_safe(groups_world, signum):
    world = groups_world
    world_config = world.config.read_text().replace("monitor_timeout_secs = 1.0", "monitor_timeout_secs = 60.0")
    world.config.write_text(world_config)
    process = world.start("fleet", "run", "--forever", "--pause", "2..2.5", "--stagger", "1", "--json")
    seen: list[dict] = []

    def both_monitoring(event, seen):
        return {e["group"] for e in seen if e["event"] == "phase" and e.get("phase") == "monitor"} == set(PAPER_GROUPS)

    try:
        fleet_events(process, both_monitoring, seen)
        running = json.loads(world.run("fleet", "status", "--json").stdout)
        assert running["running"] is True
        assert {g["name"]: g["phase"] for g in running["groups"]} == {"paper1": "monitor", "paper2": "monitor"}
        process.send_signal(signum)
        code, events, err = finish(process, seen)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in err
    fleet = events[-1]
    assert fleet["event"] == "fleet"
    assert [g["stop_reason"] for g in fleet["groups"]] == ["signal", "signal"]
    assert code == 3  # each group's cycle ended by an emergency exit, every venue flat
    loops = [e for e in events if e["event"] == "loop"]
    assert {loop["group"] for loop in loops} == set(PAPER_GROUPS)
    assert all(signum.name in loop["stop_detail"] for loop in loops)
    assert assert_all_resolved_and_flat(world) == {"paper1": 1, "paper2": 1}


def test_hedge_stop_stops_the_whole_fleet(groups_world):
    world = groups_world
    process = world.start("fleet", "run", "--forever", "--pause", "600..600", "--stagger", "1", "--json")
    seen: list[dict] = []
    try:
        fleet_events(process, lambda e, s: sum(1 for x in s if x["event"] == "pause") == 2, seen)
        stopped = json.loads(world.run("hedge", "stop", "--json").stdout)
        assert sorted(stopped["stopped"]) == ["paper1", "paper2"]
        code, events, err = finish(process, seen)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, err[-2000:]
    assert [g["stop_reason"] for g in events[-1]["groups"]] == ["stop_requested", "stop_requested"]
    assert assert_all_resolved_and_flat(world) == {"paper1": 1, "paper2": 1}


def test_a_paper_fleet_needs_no_config(cli_subprocess, tmp_path):
    result = cli_subprocess("fleet", "run", "--paper", "--repeat", "1", "--stagger", "1", "--json",
                            env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}, cwd=tmp_path,
                            timeout=300)
    assert result.exit_code == 0, result.stderr[-2000:]
    fleet = json.loads(result.stdout.splitlines()[-1])
    assert [(g["name"], g["cycles"], g["last_outcome"]) for g in fleet["groups"]] == [
        ("paper1", 1, "completed"), ("paper2", 1, "completed")]


def test_the_fleet_service_recipe_runs_a_fleet_and_treats_a_signal_stop_as_clean(cli_subprocess, tmp_path):
    import shlex
    from pathlib import Path

    unit = (Path(__file__).parents[2] / "recipes" / "systemd" / "hedgectl-fleet.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    # systemd signals the fleet alone (KillMode=mixed); the fleet passes it on to each group once
    assert settings["KillMode"] == "mixed" and settings["KillSignal"] == "SIGTERM"
    assert {"3", "130"} <= set(settings["SuccessExitStatus"].split())
    command = shlex.split(settings["ExecStart"])
    assert command[1:3] == ["fleet", "run"]
    # the unit's own options, with one cycle per group on paper venues instead of forever
    args = [arg for arg in command[3:] if arg != "--forever"]
    result = cli_subprocess("fleet", "run", *args, "--repeat", "1", "--paper", "--stagger", "1", "--json",
                            env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}, cwd=tmp_path,
                            timeout=300)
    assert result.exit_code == 0, result.stderr[-2000:]
    assert [g["stop_reason"] for g in json.loads(result.stdout.splitlines()[-1])["groups"]] == ["done", "done"]


def test_the_fleet_rehearsal_runs_two_groups_under_faults_and_judges_them_by_the_venues(cli_subprocess, tmp_path):
    result = cli_subprocess("sim", "chaos", "--fleet", "--duration", "20", "--seed", "5", "--json",
                            env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}, cwd=tmp_path,
                            timeout=400)
    report = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 0, (report, result.stderr[-2000:])
    assert report["ok"] is True and report["seed"] == 5
    assert report["faults_total"] >= 1
    assert sum(report["cycles"].values()) >= 1
    for key in ("unresolved", "unsafe", "duplicates", "shared_accounts", "nonce_collisions"):
        assert report[key] == []


def test_chaos_duration_without_fleet_is_a_usage_error(cli):
    result = cli("sim", "chaos", "--duration", "30")
    assert result.exit_code == 2
    assert "--fleet and --duration SECS go together" in result.output


def test_hedge_stop_paper_stops_a_paper_fleet(tmp_path):
    import os
    import sys

    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    command = [sys.executable, "-m", "hedgectl"]
    process = subprocess.Popen([*command, "fleet", "run", "--paper", "--forever", "--pause", "600..600",
                                "--stagger", "1", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=tmp_path)
    seen: list[dict] = []
    try:
        fleet_events(process, lambda e, s: sum(1 for x in s if x["event"] == "pause") == 2, seen)
        stopped = subprocess.run([*command, "hedge", "stop", "--paper", "--json"], capture_output=True, text=True,
                                 env=env, cwd=tmp_path, timeout=120)
        assert sorted(json.loads(stopped.stdout)["stopped"]) == ["paper1", "paper2"]
        code, events, err = finish(process, seen)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, err[-2000:]
    assert [g["stop_reason"] for g in events[-1]["groups"]] == ["stop_requested", "stop_requested"]
