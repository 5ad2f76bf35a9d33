"""``history --stats``: the volume, fees and realised PnL per venue and account that real paper cycles leave, judged
against the paper venues' own fills."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from hedgectl.config.starter import paper_document, write_config
from hedgectl.journal import journal_path

CENT = Decimal("0.01")
RUN_ARGS = ["--size", "0.5", "--wait-min", "0.3", "--wait-max", "0.5", "--timeout", "1", "--poll-interval", "0.3"]


class StatsWorld:
    """Paper venues in this process, a config with its own data directory pointed at them, the CLI in-process."""

    def __init__(self, venues, home: Path, cli):
        self.venues = venues
        self.cli = cli
        self.config = home / "conf" / "hedgectl.toml"
        self.data_dir = home / "data"
        document, secrets = paper_document(venues.accounts_document())
        document["general"]["data_dir"] = str(self.data_dir)
        write_config(self.config, document, secrets)

    def run(self, *args: str):
        return self.cli("--config", str(self.config), *args)

    def venue_figures(self) -> dict[str, dict[str, Decimal | int]]:
        """Per account, from the venues' own fills: volume, fees, fill count, and the realised PnL of an account
        that starts and ends flat (what it received for what it sold, less what it paid, less fees)."""
        figures: dict[str, dict] = defaultdict(lambda: {"volume": Decimal(0), "fees": Decimal(0), "fills": 0,
                                                        "cash": Decimal(0), "position": Decimal(0)})
        for kind in ("backpack", "lighter"):
            for fill in self.venues.state(kind)["fills"]:
                account = figures[fill["account"]]
                quantity, price = Decimal(fill["quantity"]), Decimal(fill["price"])
                sign = 1 if fill["side"] in ("buy", "bid", "Bid") else -1
                account["volume"] += quantity * price
                account["fees"] += Decimal(fill["fee"])
                account["fills"] += 1
                account["cash"] -= sign * quantity * price
                account["position"] += sign * quantity
        for name, account in figures.items():
            assert account["position"] == 0, f"{name} is not flat: its realised PnL would be incomplete"
            account["pnl"] = account.pop("cash") - account["fees"]
        return dict(figures)


@pytest.fixture
def world(paper_venues_factory, tmp_path, cli, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "cfg"))
    return StatsWorld(paper_venues_factory(kinds=["backpack", "lighter"]), home, cli)


def run_cycles(world: StatsWorld, directions: list[str]) -> None:
    for direction in directions:
        result = world.run("hedge", "run", "--direction", direction, "--json", *RUN_ARGS)
        assert result.exit_code == 0, result.stderr[-2000:]
        assert json.loads(result.stdout.splitlines()[-1])["outcome"] == "completed"


def stats(world: StatsWorld, *args: str) -> dict:
    result = world.run("history", "--stats", "--json", *args)
    assert result.exit_code == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_stats_equal_the_paper_venues_own_fills_to_the_cent(world):
    run_cycles(world, ["long", "short", "long"])
    expected = world.venue_figures()
    figures = stats(world)

    assert figures["total"]["cycles"] == 3
    accounts = {row["connector"]: row for row in figures["total"]["accounts"]}
    assert set(accounts) == set(expected) == {"backpack", "lighter1", "lighter2"}
    for name, venue in expected.items():
        row = accounts[name]
        assert Decimal(row["volume"]).quantize(CENT) == venue["volume"].quantize(CENT), name
        assert Decimal(row["fees"]).quantize(CENT) == venue["fees"].quantize(CENT), name
        assert Decimal(row["realised_pnl"]).quantize(CENT) == venue["pnl"].quantize(CENT), name
        assert row["fills"] == venue["fills"], name
        assert Decimal(row["cost"]) == -Decimal(row["realised_pnl"])
        assert Decimal(row["cost_per_10k"]) == (Decimal(row["cost"]) / Decimal(row["volume"]) * 10000).quantize(
            Decimal("0.0001"))
        assert row["from_journal"] == 0
    # Backpack charges a taker fee on paper: the figures must carry it, not the fee-less order reports
    assert expected["backpack"]["fees"] > 0
    everything = figures["total"]["all"]
    assert Decimal(everything["volume"]).quantize(CENT) == sum(v["volume"] for v in expected.values()).quantize(CENT)
    assert Decimal(everything["realised_pnl"]).quantize(CENT) == sum(v["pnl"] for v in expected.values()).quantize(CENT)
    # one UTC day, so the day's figures are the total's
    assert [day["accounts"] for day in figures["days"]] == [figures["total"]["accounts"]]

    table = world.run("history", "--stats")
    assert table.exit_code == 0
    assert "cost per 10k" in table.stdout and "lighter2" in table.stdout and everything["volume"] in table.stdout


def test_since_counts_only_the_cycles_of_that_utc_day_onwards_and_days_are_apart(world):
    run_cycles(world, ["long", "short"])
    # the older cycle is moved two days back, as if it had run then
    db = sqlite3.connect(journal_path(world.data_dir))
    older_id, = db.execute("SELECT id FROM cycles ORDER BY created_at LIMIT 1").fetchone()
    with db:
        db.execute("UPDATE cycles SET created_at = created_at - 2 * 86400 WHERE id = ?", (older_id,))
    db.close()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    every = stats(world)
    recent = stats(world, "--since", today)

    assert every["total"]["cycles"] == 2 and len(every["days"]) == 2
    assert [day["cycles"] for day in every["days"]] == [1, 1]
    assert every["days"][1]["day"] == today
    assert recent["since"] == today
    assert recent["total"]["cycles"] == 1
    assert recent["days"] == [every["days"][1]]
    assert recent["total"]["accounts"] == every["days"][1]["accounts"]
    total_volume = sum(Decimal(day["all"]["volume"]) for day in every["days"])
    assert Decimal(every["total"]["all"]["volume"]) == total_volume > Decimal(recent["total"]["all"]["volume"]) > 0


@pytest.mark.parametrize("since", ["2026-02-30", "yesterday", "05/12/2026", "20261205"])
def test_a_bad_since_date_is_one_line_and_exit_2(world, since):
    result = world.run("history", "--stats", "--since", since)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--since" in lines[0] and "YYYY-MM-DD" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_cycle_without_recorded_venue_figures_is_counted_from_its_journaled_orders_and_marked(world):
    run_cycles(world, ["short", "long"])
    expected = world.venue_figures()
    # as a cycle that never reached its end has them: no venue figures in its result
    db = sqlite3.connect(journal_path(world.data_dir))
    with db:
        for cycle_id, result in db.execute("SELECT id, result FROM cycles").fetchall():
            document = json.loads(result)
            del document["traded"]
            db.execute("UPDATE cycles SET result = ? WHERE id = ?", (json.dumps(document), cycle_id))
    db.close()
    figures = stats(world)

    accounts = {row["connector"]: row for row in figures["total"]["accounts"]}
    assert figures["total"]["all"]["from_journal"] == 6
    for name, venue in expected.items():
        row = accounts[name]
        assert row["from_journal"] == 2
        assert Decimal(row["volume"]).quantize(CENT) == venue["volume"].quantize(CENT), name
        # the PnL before fees is the venue's; the fees are what the order reports carried
        pnl_before_fees = Decimal(row["realised_pnl"]) + Decimal(row["fees"])
        assert pnl_before_fees.quantize(CENT) == (venue["pnl"] + venue["fees"]).quantize(CENT), name
    table = world.run("history", "--stats")
    assert "6 cycle legs counted from the journal's orders" in " ".join(table.stdout.split())


def test_since_without_stats_is_refused(world):
    result = world.run("history", "--since", "2026-12-01")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --since needs --stats"
