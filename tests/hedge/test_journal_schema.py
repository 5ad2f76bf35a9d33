"""The journal carries a schema version: older journals are brought up to it in one transaction (and recovered as
before), a journal newer than the code is refused in one line with exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from hedgectl.config.datadir import data_dir_path
from hedgectl.config.loader import load_config
from hedgectl.config.starter import paper_document, write_config
from hedgectl.errors import JournalUnavailable
from hedgectl.journal import Journal, journal_path
from hedgectl.journal.schema import SCHEMA_VERSION, migrate
from hedgectl.connectors.factory import build_connector
from hedgectl.sim.exchange.records import Side

#: The journal's tables exactly as hedgectl wrote them before the journal had a schema version (version 0): data,
#: frozen here, so that a change to the current schema can never quietly change what this test opens.
UNVERSIONED_SCHEMA = """
CREATE TABLE cycles (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL, phase TEXT NOT NULL, outcome TEXT,
    resolved INTEGER NOT NULL DEFAULT 0, direction TEXT NOT NULL, accounts TEXT NOT NULL, params TEXT NOT NULL,
    result TEXT, pid INTEGER
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cycle_id TEXT NOT NULL REFERENCES cycles(id), role TEXT NOT NULL,
    purpose TEXT NOT NULL, connector TEXT NOT NULL, venue TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    size TEXT NOT NULL, order_type TEXT NOT NULL, client_order_index TEXT NOT NULL, reduce_only INTEGER NOT NULL,
    price TEXT, state TEXT NOT NULL, filled_size TEXT NOT NULL, average_price TEXT, fee TEXT, venue_order_id TEXT,
    reason TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX orders_by_cycle ON orders(cycle_id);
CREATE TABLE transitions (
    order_id INTEGER NOT NULL REFERENCES orders(id), at REAL NOT NULL, event TEXT NOT NULL, from_state TEXT NOT NULL,
    to_state TEXT NOT NULL, filled_size TEXT NOT NULL, reason TEXT
);
CREATE TABLE events (cycle_id TEXT NOT NULL REFERENCES cycles(id), at REAL NOT NULL, kind TEXT NOT NULL,
                     data TEXT NOT NULL);
CREATE INDEX events_by_cycle ON events(cycle_id);
"""

ROLES = {"BP": ("backpack", "ETH_USDC_PERP"), "L1": ("lighter1", "ETH"), "L2": ("lighter2", "ETH")}
CYCLE_ID = "20261201-101500-abc123"


def account_keys(config) -> dict[str, str]:
    async def keys() -> dict[str, str]:
        found = {}
        for role, (name, _) in ROLES.items():
            async with build_connector(config.connectors[name]) as connector:
                found[role] = connector.account_id()
        return found

    return asyncio.run(keys())


def write_unversioned_journal(path: Path, accounts: dict[str, str], bp_filled: Decimal) -> None:
    """A journal as a hedge process killed right after its BP entry filled leaves it: phase l1_hedge, unresolved."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(UNVERSIONED_SCHEMA)
    params = {"legs": {role: {"connector": name, "symbol": symbol} for role, (name, symbol) in ROLES.items()},
              "baseline": {role: "0" for role in ROLES}}
    db.execute(
        "INSERT INTO cycles (id, created_at, updated_at, phase, outcome, resolved, direction, accounts, params, pid)"
        " VALUES (?, 1764584100, 1764584101, 'l1_hedge', NULL, 0, 'long', ?, ?, 999999)",
        (CYCLE_ID, json.dumps(accounts), json.dumps(params)),
    )
    db.execute(
        "INSERT INTO orders (cycle_id, role, purpose, connector, venue, symbol, side, size, order_type,"
        " client_order_index, reduce_only, price, state, filled_size, average_price, venue_order_id,"
        " created_at, updated_at) VALUES (?, 'BP', 'entry', 'backpack', 'backpack', 'ETH_USDC_PERP', 'buy', ?,"
        " 'market', '1764584100123', 0, NULL, 'filled', ?, '3000', 'bp-1', 1764584100, 1764584101)",
        (CYCLE_ID, str(bp_filled), str(bp_filled)),
    )
    db.execute("INSERT INTO events (cycle_id, at, kind, data) VALUES (?, 1764584101, 'phase:l1_hedge', '{}')",
               (CYCLE_ID,))
    db.commit()
    db.close()


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def run_cli(config: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HEDGECTL_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "cfg"))
    return subprocess.run([sys.executable, "-m", "hedgectl", "--config", str(config), *args], capture_output=True,
                          text=True, env=env, cwd=home, timeout=180)


def test_an_unversioned_journal_with_an_unresolved_cycle_is_migrated_and_recovered_flat(paper_venues, tmp_path):
    document, secrets = paper_document(paper_venues.accounts_document())
    document["general"]["data_dir"] = str(tmp_path / "data")
    config_path = tmp_path / "hedgectl.toml"
    write_config(config_path, document, secrets)
    config = load_config(config_path)
    exchange = paper_venues.venues.venue("backpack").exchange
    paper_venues.call_sync(lambda: exchange.submit_order("backpack", "ETH_USDC_PERP", Side.BUY, Decimal("0.5")))
    path = journal_path(data_dir_path(config, paper=config.paper))
    write_unversioned_journal(path, account_keys(config), Decimal("0.5"))
    assert user_version(path) == 0

    recovered = run_cli(config_path, "hedge", "recover", "--yes", "--json", home=tmp_path)

    assert recovered.returncode == 0, recovered.stderr[-2000:]
    report = json.loads(recovered.stdout)["recovered"][0]
    assert report["cycle_id"] == CYCLE_ID and report["resolved"] is True
    assert report["before"]["BP"] == "0.5"
    assert all(Decimal(size) == 0 for size in report["after"].values())
    assert user_version(path) == SCHEMA_VERSION
    journal = Journal(path)
    try:
        assert journal.unresolved_cycles() == []
        assert journal.cycle(CYCLE_ID).orders_for("BP")[0].filled_size == Decimal("0.5")  # history kept as written
    finally:
        journal.close()
    state = paper_venues.state("backpack")["accounts"]["backpack"]["positions"]
    assert all(Decimal(str(p["signed_size"])) == 0 for p in state)


def test_a_journal_newer_than_the_code_is_refused_in_one_line_with_exit_2(tmp_path):
    config_path = tmp_path / "hedgectl.toml"
    data = tmp_path / "data"
    config_path.write_text(f'[general]\ndata_dir = "{data}"\n')
    path = journal_path(data)
    data.mkdir(mode=0o700)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    path.chmod(0o600)  # private, as hedgectl keeps it: the only line on stderr is the refusal

    result = run_cli(config_path, "history", "--json", home=tmp_path)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"schema version {SCHEMA_VERSION + 1}" in result.stderr and "upgrade hedgectl" in result.stderr
    assert user_version(path) == SCHEMA_VERSION + 1  # left as found


def test_a_failing_step_leaves_the_journal_at_its_old_version(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        steps = (("CREATE TABLE a (x)",), ("CREATE TABLE b (x)", "INSERT INTO nowhere VALUES (1)"))
        with pytest.raises(sqlite3.OperationalError):
            migrate(db, path, steps)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == set()  # step 1 was rolled back with step 2: all pending steps are one transaction
        assert migrate(db, path, steps[:1]) == 0
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert migrate(db, path, steps[:1]) == 1  # up to date: nothing to do
    finally:
        db.close()


def test_a_new_journal_is_written_at_the_current_version(tmp_path):
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    assert user_version(path) == SCHEMA_VERSION


def test_opening_a_newer_journal_in_the_library_raises_journal_unavailable(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(JournalUnavailable, match="newer than this hedgectl reads"):
        Journal(path)
