"""Orders that may wait, spaced per venue across every process of one data directory: two loops (two groups of a
fleet) never send a cycle's opening orders (after its preflight), L2's entry or a planned close on the same venue
within ``VENUE_SPACING_SECS`` of each other. Orders that must not wait (the L1 hedge, a rebalance, an emergency
exit) take no slot.

Each venue (kind and base URL) has a small file under ``locks/``: under its ``flock`` an order that may wait reads
when the last such order there was due, waits out the rest of the spacing, and writes its own moment. The kernel
drops the lock with a dead process, so a crash never blocks the others.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from hedgectl.config.model import ConnectorConfig
from hedgectl.files import open_private

#: The least time between two cycle starts on one venue (its opening orders go out right after the start).
VENUE_SPACING_SECS = 1.0
#: How often a waiting cycle tries a venue's lock again.
POLL_SECS = 0.05


def venue_key(connector: ConnectorConfig) -> str:
    """One venue as the slots know it: its kind and base URL (two accounts on one venue share it)."""
    return f"{connector.venue} {connector.base_url}"


def _slot_file(data_dir: Path, venue: str) -> Path:
    digest = hashlib.sha256(venue.encode()).hexdigest()[:16]
    return data_dir / "locks" / f"venue-slot-{digest}.lock"


async def take_venue_slots(data_dir: Path, venues: Iterable[str], *, spacing_secs: float = VENUE_SPACING_SECS
                           ) -> float:
    """Wait until no other cycle started on any of ``venues`` within ``spacing_secs``, then mark this start on
    each; returns the seconds waited. Venues are taken one at a time, in a fixed order (no deadlock)."""
    waited = 0.0
    for venue in sorted(set(venues)):
        waited += await _take(_slot_file(data_dir, venue), spacing_secs)
    return waited


async def _take(path: Path, spacing_secs: float) -> float:
    began = time.monotonic()
    handle = os.fdopen(open_private(path), "r+")
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(POLL_SECS)
                continue
            handle.seek(0)
            try:
                last = float(handle.read().strip() or 0)
            except ValueError:
                last = 0.0
            rest = last + spacing_secs - time.time()
            if rest <= 0:
                handle.seek(0)
                handle.truncate()
                handle.write(f"{time.time():.6f}")
                handle.flush()
                return time.monotonic() - began
            # release while waiting, so a process that crashes meanwhile blocks nobody
            fcntl.flock(handle, fcntl.LOCK_UN)
            await asyncio.sleep(min(rest, spacing_secs))
    finally:
        handle.close()
