"""Hedge groups in one config: the check that refuses two groups on one account, and ``--group`` on the commands
that read or trade a group, against paper venues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hedgectl.journal import journal_path
from hedgectl.config.starter import write_config
from hedgectl.journal import Journal
from hedgectl.rehearsal.fleet import PAPER_GROUPS, paper_fleet_document, write_paper_fleet_config
from tests.conftest import _register_paper_secrets

#: a cycle of about two seconds
SHORT_HEDGE = {"size": "0.5", "wait_min_secs": 0.2, "wait_max_secs": 0.3, "monitor_timeout_secs": 1.0,
               "poll_interval_secs": 0.2}


class GroupWorld:
    """Paper venues with the accounts of two groups, a config naming both groups, and hedgectl processes."""

    def __init__(self, venues, home: Path):
        self.venues = venues
        self.home = home
        self.data_dir = home / "data"
        self.config = write_paper_fleet_config(venues, home / "conf", data_dir=self.data_dir, **SHORT_HEDGE)
        _register_paper_secrets(venues.accounts_document())
        self.env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "xdg"),
                    "XDG_CONFIG_HOME": str(home / "cfg")}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hedgectl", "--config", str(self.config), *args]

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=self.home)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), capture_output=True, text=True, env=self.env, cwd=self.home,
                              timeout=180)

    def positions(self) -> dict[str, object]:
        from decimal import Decimal

        sizes = {}
        for kind in ("backpack", "lighter"):
            for name, account in self.venues.state(kind)["accounts"].items():
                sizes[name] = sum((Decimal(str(p.get("signed_size", 0))) for p in account["positions"]), Decimal(0))
        return sizes

    def flat(self) -> bool:
        return all(size == 0 for size in self.positions().values())

    def open_orders(self) -> int:
        return sum(len(self.venues.state(kind)["open_orders"]) for kind in ("backpack", "lighter"))

    def orders_by_account(self) -> dict[str, list[dict]]:
        orders: dict[str, list[dict]] = {}
        for kind in ("backpack", "lighter"):
            for order in self.venues.state(kind)["orders"]:
                orders.setdefault(order.get("account"), []).append(order)
        return orders

    def cycles(self, group: str) -> list:
        journal = Journal(journal_path(self.data_dir, group))
        try:
            return journal.history(limit=1000)
        finally:
            journal.close()


@pytest.fixture
def groups_world(paper_venues_factory, tmp_path):
    return GroupWorld(paper_venues_factory(kinds=["backpack", "lighter", "telegram"]), tmp_path)


# --- the config check ----------------------------------------------------------------------------------------


def _connectors_document() -> tuple[dict, dict]:
    accounts = {
        "backpack": {"url": "http://127.0.0.1:9", "accounts": [
            {"name": "backpack", "api_key": "a" * 43 + "=", "api_secret": "b" * 43 + "="},
            {"name": "backpack2", "api_key": "c" * 43 + "=", "api_secret": "d" * 43 + "="}]},
        "lighter": {"url": "http://127.0.0.1:8", "accounts": [
            {"name": f"lighter{i}", "account_index": 100 + i, "api_key_index": 3, "api_private_key": "e" * 80}
            for i in range(1, 5)]},
    }
    return paper_fleet_document(accounts)


def _write(tmp_path: Path, document: dict, secrets: dict) -> Path:
    path = tmp_path / "groups.toml"
    write_config(path, document, secrets, force=True)
    return path


def test_a_config_with_two_groups_of_their_own_accounts_checks_clean(cli, tmp_path):
    document, secrets = _connectors_document()
    result = cli("--config", str(_write(tmp_path, document, secrets)), "config", "check", "--json")
    problems = json.loads(result.stdout)["problems"]
    assert not any("group" in problem for problem in problems), problems


def test_config_check_refuses_two_groups_on_one_connector(cli, tmp_path):
    document, secrets = _connectors_document()
    document["groups"]["paper2"]["roles"]["L1"] = "lighter1"
    result = cli("--config", str(_write(tmp_path, document, secrets)), "config", "check")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "groups.paper2.roles.L1" in line]
    assert len(lines) == 1, result.output
    assert "connector 'lighter1'" in lines[0] and "group 'paper1'" in lines[0]


def test_config_check_refuses_two_connector_names_for_one_lighter_account(cli, tmp_path):
    document, secrets = _connectors_document()
    document["connectors"]["lighter4"]["account_index"] = document["connectors"]["lighter2"]["account_index"]
    result = cli("--config", str(_write(tmp_path, document, secrets)), "config", "check")
    assert result.exit_code == 2
    assert "groups.paper2.roles.L2: connector 'lighter4' is the same venue account as 'lighter2'" in result.output


def test_config_check_refuses_two_connector_names_for_one_backpack_api_key(cli, tmp_path, monkeypatch):
    document, secrets = _connectors_document()
    secrets["HEDGECTL_BACKPACK2_API_KEY"] = secrets["HEDGECTL_BACKPACK_API_KEY"]
    result = cli("--config", str(_write(tmp_path, document, secrets)), "config", "check")
    assert result.exit_code == 2
    assert "groups.paper2.roles.BP: connector 'backpack2' is the same venue account as 'backpack'" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_group_is_a_usage_error(cli, tmp_path):
    document, secrets = _connectors_document()
    path = _write(tmp_path, document, secrets)
    for args in (["history", "--group", "nosuch"], ["hedge", "status", "--group", "nosuch"],
                 ["positions", "--group", "nosuch"], ["hedge", "run", "--group", "nosuch", "--dry-run"]):
        result = cli("--config", str(path), *args)
        assert result.exit_code == 2, (args, result.output)
        assert "unknown group 'nosuch' (configured: paper1, paper2)" in result.output


def test_hedge_run_in_a_config_with_groups_asks_which_group(cli, tmp_path):
    document, secrets = _connectors_document()
    result = cli("--config", str(_write(tmp_path, document, secrets)), "hedge", "run", "--dry-run")
    assert result.exit_code == 2
    assert "pass --group NAME" in result.output


# --- --group on the commands ---------------------------------------------------------------------------------


def test_group_option_scopes_run_status_history_stats_and_positions(groups_world):
    world = groups_world
    ran = world.run("hedge", "run", "--group", "paper2", "--repeat", "1", "--pause", "2..2", "--json")
    assert ran.returncode == 0, ran.stderr[-2000:]
    loop = json.loads(ran.stdout.splitlines()[-1])
    assert loop["event"] == "loop" and loop["group"] == "paper2"
    cycle_id = loop["cycles"][0]["cycle_id"]
    # the cycle traded the group's own accounts only, and is in the group's own journal only
    traded = {account for account, orders in world.orders_by_account().items() if orders}
    assert traded == set(PAPER_GROUPS["paper2"].values())
    assert [c.id for c in world.cycles("paper2")] == [cycle_id]
    assert world.cycles("paper1") == []
    assert world.flat() and world.open_orders() == 0

    status = json.loads(world.run("hedge", "status", "--group", "paper2", "--json").stdout)
    assert status["cycle"]["id"] == cycle_id
    assert json.loads(world.run("hedge", "status", "--group", "paper1", "--json").stdout)["cycle"] is None

    history = json.loads(world.run("history", "--group", "paper2", "--json").stdout)
    assert [row["id"] for row in history["cycles"]] == [cycle_id]
    assert json.loads(world.run("history", "--group", "paper1", "--json").stdout)["cycles"] == []

    stats = json.loads(world.run("history", "--stats", "--group", "paper2", "--json").stdout)
    assert stats["total"]["cycles"] == 1
    accounts = {row["connector"] for row in stats["total"]["accounts"]}
    assert accounts == set(PAPER_GROUPS["paper2"].values())

    positions = json.loads(world.run("positions", "--group", "paper2", "--json").stdout)
    assert {row["connector"] for row in positions["positions"]} <= set(PAPER_GROUPS["paper2"].values())
    assert positions["net"]["group"] == "paper2"
    assert [leg["connector"] for leg in positions["net"]["legs"]] == list(PAPER_GROUPS["paper2"].values())
    # without a group, a config of groups has no net of its own to show: the [hedge] table is no group
    everything = json.loads(world.run("positions", "--all", "--json").stdout)
    assert everything["net"] is None
    assert {row["connector"] for row in everything["positions"]} >= set(PAPER_GROUPS["paper2"].values())


def test_hedge_stop_with_a_group_stops_only_that_groups_loop(groups_world):
    world = groups_world
    # paper1 runs a loop; a stop for paper2 finds nothing and leaves it alone
    process = world.start("hedge", "run", "--group", "paper1", "--forever", "--pause", "600..600", "--json")
    try:
        for line in process.stdout:
            if json.loads(line)["event"] == "pause":
                break
        other = json.loads(world.run("hedge", "stop", "--group", "paper2", "--json").stdout)
        assert other["running"] is False and other["stopped"] == []
        assert process.poll() is None
        mine = json.loads(world.run("hedge", "stop", "--json").stdout)
        assert mine["stopped"] == ["paper1"]
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    loop = json.loads(out.splitlines()[-1])
    assert process.returncode == 0, err[-2000:]
    assert loop["stop_reason"] == "stop_requested" and loop["group"] == "paper1"
    assert world.flat()


def test_two_groups_loops_space_their_orders_that_may_wait_on_each_shared_venue(groups_world):
    world = groups_world
    runs = [world.start("hedge", "run", "--group", name, "--repeat", "2", "--pause", "2..2", "--json")
            for name in ("paper1", "paper2")]
    for process in runs:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
    assert world.flat() and world.open_orders() == 0
    venue_of = {"BP": "backpack", "L1": "lighter", "L2": "lighter"}
    # the orders that may wait: BP's entry (a cycle's start), L2's entry, and the close of a cycle that ended as
    # planned; the L1 hedge, rebalances and emergency exits never wait
    spaced: dict[str, list[tuple[float, str]]] = {}
    for group in ("paper1", "paper2"):
        cycles = world.cycles(group)
        assert len(cycles) == 2 and all(cycle.outcome == "completed" for cycle in cycles)
        for cycle in cycles:
            firsts: dict[tuple[str, str], float] = {}
            for order in cycle.orders:
                if order.purpose == "entry" or order.purpose == "flatten":
                    key = (order.role, order.purpose)
                    firsts[key] = min(firsts.get(key, order.created_at), order.created_at)
            closes = [at for (role, purpose), at in firsts.items() if purpose == "flatten"]
            for (role, purpose), at in firsts.items():
                if purpose == "entry":
                    spaced.setdefault(venue_of[role], []).append((at, group))
            if closes:
                for venue in set(venue_of.values()):
                    spaced.setdefault(venue, []).append((min(closes), group))
    for venue, moments in spaced.items():
        moments.sort()
        for (first, a), (second, b) in zip(moments, moments[1:]):
            if a != b:
                # each took the venue's slot right before sending, a second after the other's at the least (less
                # the moment between taking the slot and journaling the order)
                assert second - first >= 0.8, (venue, moments)
