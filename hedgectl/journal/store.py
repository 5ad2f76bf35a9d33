"""The journal: every cycle, every order intent (written before the order is sent) and every outcome.

SQLite in WAL mode, one file per data directory (paper runs use their own data directory, hence their own journal).
Nothing of a cycle lives only in memory: after a crash, ``hedge recover`` reads the journal and asks the venues
about every order whose outcome the journal does not know.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgectl.config.groups import DEFAULT_GROUP
from hedgectl.decimals import plain
from hedgectl.errors import JournalUnavailable, OrderStateError
from hedgectl.model.orders import (
    ORDER_STATE_TABLE,
    TERMINAL_STATES,
    OrderEvent,
    OrderIntent,
    OrderSnapshot,
    OrderState,
    OrderType,
    Side,
    Transition,
)
from hedgectl.files import open_private, warn_if_shared
from hedgectl.journal.schema import migrate

if TYPE_CHECKING:
    from hedgectl.connectors.lost_answer import LostAnswerTransition

logger = logging.getLogger(__name__)

def journal_path(data_dir: Path, group: str | None = None) -> Path:
    """A hedge group's journal: each group keeps its own, so its status and history never show another group's
    cycles; the default group's keeps its historic name."""
    if group in (None, DEFAULT_GROUP):
        return data_dir / "journal.sqlite3"
    return data_dir / f"journal-{group}.sqlite3"


def _companion(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


@dataclass(frozen=True)
class OrderRecord:
    id: int
    cycle_id: str
    role: str
    purpose: str
    intent: OrderIntent
    state: OrderState
    filled_size: Decimal
    average_price: Decimal | None
    fee: Decimal | None
    venue_order_id: str | None
    reason: str | None
    created_at: float
    updated_at: float

    @property
    def is_final(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def signed_filled(self) -> Decimal:
        return self.filled_size * self.intent.side.sign


@dataclass(frozen=True)
class CycleRecord:
    id: str
    created_at: float
    updated_at: float
    phase: str
    outcome: str | None
    resolved: bool
    direction: str
    accounts: dict[str, str]  # role -> connector account key
    params: dict[str, Any]
    result: dict[str, Any] | None
    pid: int | None
    orders: list[OrderRecord] = field(default_factory=list)

    def orders_for(self, role: str) -> list[OrderRecord]:
        return [order for order in self.orders if order.role == role]

    def position_by_journal(self, role: str) -> Decimal:
        """A leg's signed position as the journal knows it: its baseline before the cycle plus every order's fills."""
        baseline = Decimal(self.params.get("baseline", {}).get(role, "0"))
        return baseline + sum((order.signed_filled for order in self.orders_for(role)), Decimal(0))


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class Journal:
    """A handle on one journal file; safe to share between the event loop and helper threads of one process."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            # SQLite gives the -wal and -shm files the mode of the database file: creating it 0600 first keeps all
            # three private whatever the umask
            os.close(open_private(path))
            for companion in (_companion(path, "-wal"), _companion(path, "-shm")):
                warn_if_shared(companion)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            self._db.row_factory = sqlite3.Row
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a crash or kill -9 of this process (not a power loss) without an fsync
                # per write, which keeps the intent write between one leg's fill and the next leg's send to
                # microseconds
                self._db.execute("PRAGMA synchronous=NORMAL")
                migrate(self._db, path)
        except (OSError, ValueError, sqlite3.Error, JournalUnavailable) as exc:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(exc, JournalUnavailable):
                raise
            reason = getattr(exc, "strerror", None) or str(exc)
            raise JournalUnavailable(f"cannot open the journal {path}: {reason} (see general.data_dir)") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any error so one failed write never wedges the journal."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    # --- cycles ----------------------------------------------------------------------------------------------

    def start_cycle(self, *, direction: str, accounts: dict[str, str], params: dict[str, Any], pid: int) -> str:
        cycle_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
        now = time.time()
        self._write(
            "INSERT INTO cycles (id, created_at, updated_at, phase, direction, accounts, params, pid)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cycle_id, now, now, "preflight", direction, json.dumps(accounts), json.dumps(params), pid),
        )
        return cycle_id

    def set_phase(self, cycle_id: str, phase: str, **data: Any) -> None:
        now = time.time()
        with self._transaction():
            self._db.execute("UPDATE cycles SET phase = ?, updated_at = ? WHERE id = ?", (phase, now, cycle_id))
            self._db.execute(
                "INSERT INTO events (cycle_id, at, kind, data) VALUES (?, ?, ?, ?)",
                (cycle_id, now, f"phase:{phase}", json.dumps(data, default=_json_default)),
            )

    def record_event(self, cycle_id: str, kind: str, **data: Any) -> None:
        self._write(
            "INSERT INTO events (cycle_id, at, kind, data) VALUES (?, ?, ?, ?)",
            (cycle_id, time.time(), kind, json.dumps(data, default=_json_default)),
        )

    def finish_cycle(self, cycle_id: str, *, outcome: str, result: dict[str, Any], resolved: bool) -> None:
        self._write(
            "UPDATE cycles SET outcome = ?, result = ?, resolved = ?, updated_at = ?, phase = ? WHERE id = ?",
            (outcome, json.dumps(result, default=_json_default), int(resolved), time.time(), "done", cycle_id),
        )

    def events(self, cycle_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, kind, data FROM events WHERE cycle_id = ? ORDER BY rowid", (cycle_id,)
            ).fetchall()
        return [{"at": row["at"], "kind": row["kind"], **json.loads(row["data"])} for row in rows]

    # --- orders ----------------------------------------------------------------------------------------------

    def record_intent(self, cycle_id: str, *, role: str, purpose: str, intent: OrderIntent) -> int:
        """Write the order before it is sent; returns the row id its listener updates."""
        now = time.time()
        cursor = self._write(
            "INSERT INTO orders (cycle_id, role, purpose, connector, venue, symbol, side, size, order_type,"
            " client_order_index, reduce_only, price, state, filled_size, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cycle_id,
                role,
                purpose,
                intent.connector,
                intent.venue,
                intent.symbol,
                intent.side.value,
                plain(intent.size),
                intent.order_type.value,
                str(intent.client_order_index),
                int(intent.reduce_only),
                None if intent.price is None else plain(intent.price),
                OrderState.NEW.value,
                "0",
                now,
                now,
            ),
        )
        return int(cursor.lastrowid)

    def order_listener(self, order_id: int) -> _OrderListener:
        """A tracker listener that writes every transition of the order to the journal, and every transition of the
        resolution of its lost answer (as an event of its cycle, kind "lost_answer")."""
        return _OrderListener(self, order_id)

    def record_lost_answer(self, order_id: int, transition: LostAnswerTransition) -> None:
        with self._transaction():
            row = self._db.execute("SELECT cycle_id FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                raise sqlite3.IntegrityError(f"no order {order_id}")
            data = {
                "order_id": order_id,
                "client_order_index": transition.client_order_index,
                "event": transition.event.value,
                "from_state": transition.from_state.value,
                "to_state": transition.to_state.value,
                "reason": transition.reason,
            }
            self._db.execute("INSERT INTO events (cycle_id, at, kind, data) VALUES (?, ?, ?, ?)",
                             (row["cycle_id"], transition.at, "lost_answer", json.dumps(data)))

    def record_transition(self, order_id: int, snapshot: OrderSnapshot, transition: Transition) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE orders SET state = ?, filled_size = ?, average_price = ?, fee = ?, venue_order_id = ?,"
                " reason = ?, updated_at = ? WHERE id = ?",
                (
                    snapshot.state.value,
                    plain(snapshot.filled_size),
                    None if snapshot.average_price is None else plain(snapshot.average_price),
                    plain(snapshot.fee),
                    snapshot.venue_order_id,
                    snapshot.reason,
                    transition.at,
                    order_id,
                ),
            )
            self._db.execute(
                "INSERT INTO transitions (order_id, at, event, from_state, to_state, filled_size, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    transition.at,
                    transition.event.value,
                    transition.from_state.value,
                    transition.to_state.value,
                    plain(transition.filled_size),
                    transition.reason,
                ),
            )

    def resolve_order(
        self,
        order_id: int,
        *,
        state: OrderState,
        filled_size: Decimal,
        average_price: Decimal | None,
        reason: str,
    ) -> bool:
        """Record what recovery learnt from the venue about an order whose outcome was unknown, through the order
        state table: an order the journal holds as sent (or only as an intent, the send may have gone out before a
        crash) moves by the event that leads to ``state``; a transition the table forbids raises OrderStateError.

        Returns False, writing nothing, when the order has become final meanwhile (its own confirmation, still
        running in this process, settled it from the venue while recovery asked)."""
        now = time.time()
        with self._transaction():
            previous = OrderState(self._db.execute("SELECT state FROM orders WHERE id = ?",
                                                   (order_id,)).fetchone()["state"])
            if previous in TERMINAL_STATES:
                return False
            steps = reconcile_steps(previous, state)
            self._db.execute(
                "UPDATE orders SET state = ?, filled_size = ?, average_price = ?, reason = ?, updated_at = ?"
                " WHERE id = ?",
                (
                    state.value,
                    plain(filled_size),
                    None if average_price is None else plain(average_price),
                    reason,
                    now,
                    order_id,
                ),
            )
            for event, from_state, to_state in steps:
                self._db.execute(
                    "INSERT INTO transitions (order_id, at, event, from_state, to_state, filled_size, reason)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (order_id, now, event.value, from_state.value, to_state.value, plain(filled_size),
                     f"reconcile: {reason}"),
                )
        return True

    # --- queries ---------------------------------------------------------------------------------------------

    def cycle(self, cycle_id: str) -> CycleRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM cycles WHERE id = ?", (cycle_id,)).fetchone()
            orders = self._db.execute("SELECT * FROM orders WHERE cycle_id = ? ORDER BY id", (cycle_id,)).fetchall()
        return None if row is None else _cycle(row, [_order(o) for o in orders])

    def last_cycle(self) -> CycleRecord | None:
        with self._lock:
            row = self._db.execute("SELECT id FROM cycles ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
        return None if row is None else self.cycle(row["id"])

    def unresolved_cycles(self) -> list[CycleRecord]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM cycles WHERE resolved = 0 ORDER BY created_at").fetchall()
        return [cycle for cycle in (self.cycle(row["id"]) for row in rows) if cycle is not None]

    def history(self, limit: int = 50) -> list[CycleRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM cycles ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [cycle for cycle in (self.cycle(row["id"]) for row in rows) if cycle is not None]

    def cycles_since(self, since: float | None = None) -> list[CycleRecord]:
        """Every cycle started at or after the Unix time ``since`` (all of them when None), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM cycles WHERE created_at >= ? ORDER BY created_at, rowid",
                (float("-inf") if since is None else since,),
            ).fetchall()
        return [cycle for cycle in (self.cycle(row["id"]) for row in rows) if cycle is not None]

    def mark_resolved(self, cycle_id: str, *, outcome: str, result: dict[str, Any]) -> None:
        self.finish_cycle(cycle_id, outcome=outcome, result=result, resolved=True)


#: The event by which recovery moves an order to the state the venue reports.
_RECONCILE_EVENTS = {
    OrderState.OPEN: OrderEvent.ACCEPT,
    OrderState.PARTIALLY_FILLED: OrderEvent.PARTIAL_FILL,
    OrderState.FILLED: OrderEvent.FILL,
    OrderState.CANCELLED: OrderEvent.CANCEL,
    OrderState.FAILED: OrderEvent.REJECT,
}


def reconcile_steps(previous: OrderState, target: OrderState) -> list[tuple[OrderEvent, OrderState, OrderState]]:
    """The order-table transitions that take a journaled order from ``previous`` to ``target`` (what the venue
    reported): none when it is already there, one event, or, for an order journaled only as an intent, its send
    first. OrderStateError when the table allows no such path (a final order never moves)."""
    if previous is target and target in (OrderState.OPEN, OrderState.PARTIALLY_FILLED):
        return []  # still resting as the journal has it
    event = _RECONCILE_EVENTS.get(target)
    path = [previous]
    if event is not None and (previous, event) not in ORDER_STATE_TABLE and previous is OrderState.NEW:
        path.append(ORDER_STATE_TABLE[(OrderState.NEW, OrderEvent.SUBMIT)])
    if event is None or (path[-1], event) not in ORDER_STATE_TABLE or ORDER_STATE_TABLE[(path[-1], event)] is not target:
        raise OrderStateError(f"an order cannot move from {previous.value} to {target.value}")
    path.append(target)
    events = ([OrderEvent.SUBMIT] if len(path) == 3 else []) + [event]
    return [(event, a, b) for event, a, b in zip(events, path, path[1:])]


class _OrderListener:
    """The journal's listener of one order: its transitions, and those of the resolution of its lost answer."""

    def __init__(self, journal: Journal, order_id: int):
        self._journal = journal
        self._order_id = order_id

    def __call__(self, snapshot: OrderSnapshot, transition: Transition) -> None:
        try:
            self._journal.record_transition(self._order_id, snapshot, transition)
        except sqlite3.Error as exc:
            # the order's state lives on in its tracker; a journal write must not break its confirmation
            logger.error("journal: transition of order %s not recorded: %s", self._order_id, exc)

    def lost_answer(self, transition: LostAnswerTransition) -> None:
        try:
            self._journal.record_lost_answer(self._order_id, transition)
        except sqlite3.Error as exc:
            logger.error("journal: lost-answer transition of order %s not recorded: %s", self._order_id, exc)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if hasattr(value, "value"):
        return value.value
    return str(value)


def _cycle(row: sqlite3.Row, orders: list[OrderRecord]) -> CycleRecord:
    return CycleRecord(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        phase=row["phase"],
        outcome=row["outcome"],
        resolved=bool(row["resolved"]),
        direction=row["direction"],
        accounts=json.loads(row["accounts"]),
        params=json.loads(row["params"]),
        result=json.loads(row["result"]) if row["result"] else None,
        pid=row["pid"],
        orders=orders,
    )


def _order(row: sqlite3.Row) -> OrderRecord:
    intent = OrderIntent(
        connector=row["connector"],
        venue=row["venue"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        size=Decimal(row["size"]),
        order_type=OrderType(row["order_type"]),
        client_order_index=int(row["client_order_index"]),
        price=_dec(row["price"]),
        reduce_only=bool(row["reduce_only"]),
    )
    return OrderRecord(
        id=row["id"],
        cycle_id=row["cycle_id"],
        role=row["role"],
        purpose=row["purpose"],
        intent=intent,
        state=OrderState(row["state"]),
        filled_size=Decimal(row["filled_size"]),
        average_price=_dec(row["average_price"]),
        fee=_dec(row["fee"]),
        venue_order_id=row["venue_order_id"],
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
