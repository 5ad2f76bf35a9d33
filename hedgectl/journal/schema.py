"""The journal's schema version (SQLite's ``user_version``) and the steps that bring an older journal up to it.

Step ``n`` (counting from 1) turns a version ``n - 1`` journal into a version ``n`` one; steps are only ever
appended. Journals written before versioning have version 0 and the tables of step 1 (whose statements create only
what is missing, so they apply to both). All pending steps and the new version are written in one transaction: a
journal is either at its old version or at the new one. A journal newer than this code is refused, never touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from hedgectl.errors import JournalUnavailable

#: One tuple of SQL statements per version.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: cycles, their order intents and outcomes, order transitions, cycle events
        """CREATE TABLE IF NOT EXISTS cycles (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            phase TEXT NOT NULL,
            outcome TEXT,
            resolved INTEGER NOT NULL DEFAULT 0,
            direction TEXT NOT NULL,
            accounts TEXT NOT NULL,
            params TEXT NOT NULL,
            result TEXT,
            pid INTEGER
        )""",
        """CREATE TABLE IF NOT EXISTS orders (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            cycle_id TEXT NOT NULL REFERENCES cycles(id),
            role TEXT NOT NULL,
            purpose TEXT NOT NULL,
            connector TEXT NOT NULL,
            venue TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            size TEXT NOT NULL,
            order_type TEXT NOT NULL,
            client_order_index TEXT NOT NULL,  -- text: GRVT's ids reach 2^64, beyond SQLite's INTEGER
            reduce_only INTEGER NOT NULL,
            price TEXT,
            state TEXT NOT NULL,
            filled_size TEXT NOT NULL,
            average_price TEXT,
            fee TEXT,
            venue_order_id TEXT,
            reason TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS orders_by_cycle ON orders(cycle_id)",
        """CREATE TABLE IF NOT EXISTS transitions (
            order_id INTEGER NOT NULL REFERENCES orders(id),
            at REAL NOT NULL,
            event TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            filled_size TEXT NOT NULL,
            reason TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS events (
            cycle_id TEXT NOT NULL REFERENCES cycles(id),
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS events_by_cycle ON events(cycle_id)",
    ),
)

#: The version this code writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)


def version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection, path: Path, steps: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the journal open on ``db`` (autocommit mode) up to ``len(steps)``; returns the version it had.

    JournalUnavailable (exit 2) when the journal is newer than ``steps`` know.
    """
    found = version(db)
    _refuse_newer(found, len(steps), path)
    if found == len(steps):
        return found
    # IMMEDIATE takes the write lock first: two processes opening an old journal at once migrate it once
    db.execute("BEGIN IMMEDIATE")
    try:
        found = version(db)
        _refuse_newer(found, len(steps), path)
        for step in steps[found:]:
            for statement in step:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {len(steps):d}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return found


def _refuse_newer(found: int, known: int, path: Path) -> None:
    if found > known:
        raise JournalUnavailable(
            f"the journal {path} has schema version {found}, newer than this hedgectl reads ({known}):"
            " upgrade hedgectl to use it"
        )
