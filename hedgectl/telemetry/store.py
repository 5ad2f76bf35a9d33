"""The collector's memory: each bot's latest heartbeat, held as the JSON it is served as, within fixed bounds.

Each entry keeps its part of the `/api/status` document already encoded, so an answer is a join of bytes plus two
fields per bot (online, age) and costs no serialisation of payloads, at any size of the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hedgectl.telemetry.protocol import offline_after_ms

# Bounds memory when something posts under ever new names; prune or restart to make room.
DEFAULT_MAX_BOTS = 10_000
# All stored payloads together (each is at most ingest.MAX_PAYLOAD_BYTES); 10,000 realistic heartbeats take ~3 MiB.
DEFAULT_MAX_TOTAL_BYTES = 16 * 1024 * 1024

Clock = Callable[[], float]


def _wall_clock_ms() -> float:
    return time.time() * 1000.0


@dataclass(frozen=True)
class _Entry:
    head: bytes  # {"name":"...","online":
    tail: bytes  # ,"payload":{...}}
    received_ms: float
    offline_after_ms: float

    @property
    def size(self) -> int:
        return len(self.head) + len(self.tail)


class StoreFull(Exception):
    """The store is at its bot or byte bound; the message says which. Pruning makes room."""


class HeartbeatStore:
    """Latest heartbeat per bot name, with the online rule of the old collector (younger than 2 x its interval).

    At most `max_bots` bots and `max_total_bytes` of stored JSON; `stored_bytes` says how much is held now.
    """

    def __init__(
        self,
        *,
        clock_ms: Clock = _wall_clock_ms,
        max_bots: int = DEFAULT_MAX_BOTS,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    ) -> None:
        self._clock_ms = clock_ms
        self._max_bots = max_bots
        self._max_total_bytes = max_total_bytes
        self._bots: dict[str, _Entry] = {}
        self._stored_bytes = 0

    def __len__(self) -> int:
        return len(self._bots)

    @property
    def stored_bytes(self) -> int:
        """Bytes of encoded entries held (names and payloads)."""
        return self._stored_bytes

    def put(self, name: str, payload: dict[str, Any], encoded: bytes) -> None:
        """Store `payload` (already checked; `encoded` is its compact JSON) as the latest heartbeat of `name`.

        Raises StoreFull when `name` is new and the store holds `max_bots`, or the bytes would exceed the bound.
        """
        previous = self._bots.get(name)
        if previous is None and len(self._bots) >= self._max_bots:
            raise StoreFull(f"collector holds {self._max_bots} bots; prune first")
        entry = _Entry(
            head=b'{"name":' + json.dumps(name).encode("ascii") + b',"online":',
            tail=b',"payload":' + encoded + b"}",
            received_ms=self._clock_ms(),
            offline_after_ms=offline_after_ms(payload),
        )
        total = self._stored_bytes - (previous.size if previous is not None else 0) + entry.size
        if total > self._max_total_bytes:
            raise StoreFull(f"collector holds {self._max_total_bytes} bytes of heartbeats; prune first")
        self._bots[name] = entry
        self._stored_bytes = total

    def status_chunks(self, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
        """The /api/status document, encoded, in pieces of about `chunk_bytes`:
        `{"now", "bots": [{"name", "online", "last_update_ms_ago", "payload"}]}`.

        The bots and the time are those of the call, so heartbeats stored while the pieces are sent do not change
        the document; sending it in pieces never holds a second copy of a large store in memory.
        """
        now = self._clock_ms()
        entries = list(self._bots.values())
        return self._chunks(now, entries, chunk_bytes)

    @staticmethod
    def _chunks(now: float, entries: list[_Entry], chunk_bytes: int) -> Iterator[bytes]:
        parts = [b'{"now":', str(round(now)).encode("ascii"), b',"bots":[']
        size = 0
        for index, entry in enumerate(entries):
            age = now - entry.received_ms
            if index:
                parts.append(b",")
            parts += (
                entry.head,
                b"true" if age < entry.offline_after_ms else b"false",
                b',"last_update_ms_ago":',
                str(max(0, round(age))).encode("ascii"),
                entry.tail,
            )
            size += entry.size + 40
            if size >= chunk_bytes:
                yield b"".join(parts)
                parts, size = [], 0
        parts.append(b"]}")
        yield b"".join(parts)

    def status_json(self) -> bytes:
        """The whole /api/status document, encoded."""
        return b"".join(self.status_chunks())

    def status(self) -> dict[str, Any]:
        """The /api/status document, decoded."""
        return json.loads(self.status_json())

    def prune(self, older_ms: float | None = None) -> list[str]:
        """Forget bots silent for more than `older_ms` (default: the offline ones); returns their names."""
        now = self._clock_ms()
        removed = [
            name
            for name, entry in self._bots.items()
            if now - entry.received_ms >= (entry.offline_after_ms if older_ms is None else older_ms)
        ]
        for name in removed:
            self._stored_bytes -= self._bots.pop(name).size
        if removed:
            # A dict keeps its table at its largest size; a copy gives the memory of the removed slots back.
            self._bots = dict(self._bots)
        return removed
