"""Paper and live journals never mix, and ``hedge recover --abandon`` resolves an orphaned cycle without trading
only when its venue is gone (or flat), never while the venue shows a position the cycle opened."""

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

from hedgectl.config.starter import write_paper_config
from hedgectl.journal import Journal

FAST_ARGS = ("--size", "0.5", "--wait-min", "0.2", "--wait-max", "0.4", "--timeout", "1", "--poll-interval", "0.3")


class PaperDesk:
    """Paper venues in this test process and the config ``sim serve --write-config`` writes for them."""

    def __init__(self, venues, home: Path):
        self.venues = venues
        self.home = home
        self.config = home / "paper" / "hedgectl.toml"
        write_paper_config(self.config, venues.accounts_document())
        self.env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "xdg-data"),
                    "XDG_CONFIG_HOME": str(home / "xdg-config")}

    def run(self, *args: str, config: bool = True) -> subprocess.CompletedProcess:
        from tests.secret_scan import record_output

        prefix = ("--config", str(self.config)) if config else ()
        done = subprocess.run([sys.executable, "-m", "hedgectl", *prefix, *args], capture_output=True, text=True,
                              env=self.env, cwd=self.home, timeout=120)
        record_output(done.stdout, done.stderr)
        return done

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "hedgectl", "--config", str(self.config), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
                                cwd=self.home)

    def position(self, account: str) -> Decimal:
        kind = "backpack" if account == "backpack" else "lighter"
        return sum((Decimal(str(p["signed_size"])) for p in self.venues.state(kind)["accounts"][account]["positions"]),
                   Decimal(0))

    def orphan(self) -> str:
        """A cycle killed with -9 right after BP filled: BP holds 0.5 at the venue, the journal says unresolved."""
        process = self.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "20", "--wait-max", "20")
        deadline = time.monotonic() + 60
        cycle_id = None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            event = json.loads(line)
            cycle_id = event.get("cycle_id", cycle_id)
            if event["event"] == "fill" and event.get("role") == "BP":
                break
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        status = json.loads(self.run("hedge", "status", "--json").stdout)["cycle"]
        assert status["resolved"] is False and status["running"] is False
        assert self.position("backpack") == Decimal("0.5")
        return status["id"]


@pytest.fixture
def desk(paper_venues_factory, tmp_path):
    return PaperDesk(paper_venues_factory(), tmp_path)


def test_a_cycle_through_a_sim_serve_config_never_lands_in_the_live_journal(desk):
    done = desk.run("hedge", "run", "--json", *FAST_ARGS)
    assert done.returncode == 0, done.stderr[-2000:]
    paper = json.loads(desk.run("history", "--json").stdout)
    assert paper["journal"] == str(desk.config.parent / "hedgectl-data" / "journal.sqlite3")
    assert len(paper["cycles"]) == 1
    live = desk.run("history", "--json", config=False)  # no config: the user's data directory, the live journal
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout) == {"cycles": [], "journal": str(desk.home / "xdg-data" / "hedgectl" /
                                                                   "journal.sqlite3")}
    human = desk.run("history")
    assert f"journal: {paper['journal']}" in " ".join(human.stdout.split())


def test_a_paper_run_with_a_live_config_keeps_its_own_journal(cli, tmp_path):
    live_dir = tmp_path / "live-data"
    config = tmp_path / "hedgectl.toml"
    config.write_text(f'[general]\ndata_dir = "{live_dir}"\n')
    ran = cli("--config", str(config), "hedge", "run", "--paper", "--json", *FAST_ARGS)
    assert ran.exit_code == 0, ran.output[-2000:]
    live = json.loads(cli("--config", str(config), "history", "--json").stdout)
    paper = json.loads(cli("--config", str(config), "history", "--paper", "--json").stdout)
    assert live["cycles"] == [] and live["journal"] == str(live_dir / "journal.sqlite3")
    assert len(paper["cycles"]) == 1 and paper["journal"] == str(live_dir / "paper" / "journal.sqlite3")
    status = json.loads(cli("--config", str(config), "hedge", "status", "--paper", "--json").stdout)
    assert status["journal"] == paper["journal"] and status["cycle"]["id"] == paper["cycles"][0]["id"]


def test_an_orphaned_paper_cycle_whose_venue_is_gone_can_be_abandoned(desk):
    cycle_id = desk.orphan()
    desk.venues.stop()  # the paper venues are gone, and with them the accounts the cycle used

    stuck = desk.run("hedge", "recover", "--yes", "--json")
    assert stuck.returncode == 4  # a plain recovery cannot reach the venue: no way out but to abandon

    no_reason = desk.run("hedge", "recover", "--abandon", cycle_id, "--yes")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    unconfirmed = desk.run("hedge", "recover", "--abandon", cycle_id, "--reason", "paper venue gone")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr  # no terminal to type the id on

    done = desk.run("hedge", "recover", "--abandon", cycle_id, "--reason", "paper venue gone", "--yes", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)["abandoned"]
    assert report["abandoned"] is True and set(report["legs"]) >= {"BP"}
    after = json.loads(desk.run("hedge", "status", "--json").stdout)["cycle"]
    assert after["resolved"] is True and after["outcome"] == "abandoned"
    assert after["result"]["abandoned"]["reason"] == "paper venue gone"
    journal = Journal(desk.config.parent / "hedgectl-data" / "journal.sqlite3")
    try:
        events = [e for e in journal.events(cycle_id) if e["kind"] == "abandoned"]
    finally:
        journal.close()
    assert len(events) == 1 and events[0]["reason"] == "paper venue gone"
    again = desk.run("hedge", "recover", "--abandon", cycle_id, "--reason", "twice", "--yes")
    assert again.returncode == 2 and "already resolved" in again.stderr


def test_abandon_is_refused_while_the_venue_shows_the_position_the_cycle_opened(desk):
    cycle_id = desk.orphan()
    refused = desk.run("hedge", "recover", "--abandon", cycle_id, "--reason", "looks stuck", "--yes")
    assert refused.returncode == 4
    assert "holds 0.5" in refused.stderr and "hedge recover" in refused.stderr
    assert json.loads(desk.run("hedge", "status", "--json").stdout)["cycle"]["resolved"] is False
    assert desk.position("backpack") == Decimal("0.5")  # nothing was traded by the refusal

    recovered = desk.run("hedge", "recover", "--yes", "--json")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    assert desk.position("backpack") == 0


def test_an_unknown_cycle_cannot_be_abandoned(desk):
    done = desk.run("hedge", "recover", "--abandon", "20261205-000000-abcdef", "--reason", "typo", "--yes")
    assert done.returncode == 2 and "no cycle 20261205-000000-abcdef" in done.stderr


def test_abandon_is_refused_while_an_order_of_the_cycle_rests_at_the_venue(paper_venues_factory, tmp_path):
    """Flat now is not enough: a resting order of the cycle would open a position once the cycle is closed."""
    import asyncio

    from hedgectl.config.starter import paper_config
    from hedgectl.model.orders import OrderType, Side
    from hedgectl.journal import journal_path
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.strategies.hedge.recovery import abandon_cycle

    venues = paper_venues_factory(kinds=["backpack", "lighter"])
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    journal = Journal(journal_path(tmp_path))

    async def main():
        async with ConnectorSet(config, data_dir=tmp_path) as connectors:
            bp = await connectors.get("backpack")
            await bp.prepare("ETH_USDC_PERP")
            book = await bp.top_of_book("ETH_USDC_PERP")
            intent = await bp.build_intent("ETH_USDC_PERP", Side.BUY, Decimal("0.1"), order_type=OrderType.LIMIT,
                                           price=book.bid - 50)
            cycle_id = journal.start_cycle(
                direction="long", accounts={"BP": bp.account_id()}, pid=1,
                params={"legs": {"BP": {"connector": "backpack", "symbol": "ETH_USDC_PERP"}}})
            journal.record_intent(cycle_id, role="BP", purpose="entry", intent=intent)
            await bp.submit_order(intent)  # it rests: the price is far below the book
            refused = await abandon_cycle(journal, connectors, journal.cycle(cycle_id), reason="stuck",
                                          data_dir=tmp_path)
            await bp.cancel_order("ETH_USDC_PERP", intent.client_order_index)
            accepted = await abandon_cycle(journal, connectors, journal.cycle(cycle_id), reason="stuck",
                                           data_dir=tmp_path)
            return refused, accepted, journal.cycle(cycle_id)

    try:
        refused, accepted, cycle = asyncio.run(main())
    finally:
        journal.close()

    assert refused.abandoned is False and "rests at backpack" in refused.refused
    assert accepted.abandoned is True and cycle.resolved
