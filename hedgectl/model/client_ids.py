"""Client order index allocation, unique per venue account across processes and restarts.

How: an index is ``max(last + 1, clock_floor)``, where the clock floor is the time since 2025-01-01 in the venue's
unit times a fan-out (Lighter: milliseconds x 64 inside 1..2^48-1; Backpack: seconds x 16 inside uint32). A burst
borrows from the future, so the high-water mark is also kept in a small file per (venue, account) under the data
directory, updated under an exclusive ``flock``. Indexes are reserved in blocks so that no file I/O happens on the
order path; a new process starts above every block any earlier process reserved. Two processes never trade one
account at the same time (the hedge takes an account lock), but the file lock keeps them apart even if they did.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

EPOCH_2025 = 1_735_689_600  # 2025-01-01T00:00:00Z


@dataclass(frozen=True)
class ClientIdRange:
    """The legal client order indexes of a venue and how the clock maps into them."""

    low: int
    high: int
    units_per_second: int  # clock resolution
    fan_out: int  # indexes per clock unit before borrowing from the next one

    def clock_floor(self, now: float) -> int:
        units = int((now - EPOCH_2025) * self.units_per_second)
        floor = units * self.fan_out
        span = self.high - self.low + 1
        return self.low + (floor % span)

    def contains(self, index: int) -> bool:
        return self.low <= index <= self.high


BACKPACK_RANGE = ClientIdRange(low=1, high=2**32 - 1, units_per_second=1, fan_out=16)
LIGHTER_RANGE = ClientIdRange(low=1, high=2**48 - 1, units_per_second=1000, fan_out=64)


class ClientIdAllocator:
    """Hands out increasing client order indexes inside a venue's range.

    ``state_path`` (optional) persists the reserved high-water mark so that restarts and other processes never reuse
    an index; without it uniqueness rests on the clock alone.
    """

    def __init__(self, id_range: ClientIdRange, *, state_path: Path | None = None, block: int = 256):
        self.range = id_range
        self.state_path = state_path
        self.block = block
        self._lock = threading.Lock()
        self._next = 0
        self._reserved_until = -1  # last index this process may use without touching the file

    def next(self) -> int:
        with self._lock:
            if self._next > self._reserved_until:
                self._reserve(max(self._next, self.range.clock_floor(time.time())))
            index = self._next
            self._next += 1
            return index

    def _reserve(self, start: int) -> None:
        if self.state_path is None:
            self._next = start
            self._reserved_until = start + self.block - 1
            return
        from hedgectl.files import open_private

        fd = open_private(self.state_path)
        with os.fdopen(fd, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                raw = handle.read()
                stored = json.loads(raw).get("reserved_until", 0) if raw.strip() else 0
            except (ValueError, AttributeError):
                stored = 0
            first = max(start, stored + 1)
            if not self.range.contains(first) or not self.range.contains(first + self.block - 1):
                first = self.range.low  # wrapped around the range (decades away for both venues)
            self._next = first
            self._reserved_until = first + self.block - 1
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"reserved_until": self._reserved_until}))
            handle.flush()
            os.fsync(handle.fileno())
