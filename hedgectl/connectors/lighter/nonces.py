"""Nonces of Lighter api keys as this process sees them, and the small file that remembers the last one used.

A nonce is strictly sequential per (account, api key). Every connector of the process that signs with the same key
shares one ``NonceSlot``, and sends under its lock, so the process never races itself for a nonce. What another
process does with the same key shows up as error 21104, which the connector recovers from by asking the venue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hedgectl.config.secrets import write_private_file

logger = logging.getLogger(__name__)

SlotKey = tuple[str, int, int]


@dataclass
class NonceSlot:
    """The next nonce of one (venue URL, account, api key) in this process; None until asked from the venue."""

    key: SlotKey
    next_nonce: int | None = None
    last_used: int | None = None
    _locks: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, repr=False)

    def lock(self) -> asyncio.Lock:
        """The lock of this key in the running event loop (asyncio locks cannot cross loops)."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def used(self, nonce: int) -> None:
        """The venue accepted a transaction with ``nonce``."""
        self.last_used = nonce
        self.next_nonce = nonce + 1

    def invalidate(self) -> None:
        """The local value can no longer be trusted; the next send asks the venue first."""
        self.next_nonce = None


_slots: dict[SlotKey, NonceSlot] = {}
_slots_lock = threading.Lock()


def nonce_slot(base_url: str, account_index: int, api_key_index: int) -> NonceSlot:
    """The process-wide slot of one api key."""
    key = (base_url.rstrip("/"), account_index, api_key_index)
    with _slots_lock:
        slot = _slots.get(key)
        if slot is None:
            slot = _slots[key] = NonceSlot(key)
        return slot


class NonceFile:
    """``<data dir>/lighter/nonces/<account>-<api key>.json``: the last nonce known used with a key (by this
    machine, or by anyone as of the last ``nonce refresh``).

    It only informs ``nonce show``; the venue's next nonce is always the truth.
    """

    def __init__(self, data_dir: Path, account_key: str, api_key_index: int):
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in account_key)
        self.path = data_dir / "lighter" / "nonces" / f"{safe}-{api_key_index}.json"

    def read(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def last_used(self) -> int | None:
        document = self.read() or {}
        value = document.get("last_used")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def write(self, last_used: int) -> None:
        try:
            write_private_file(self.path, json.dumps({"last_used": last_used, "updated_at": time.time()}) + "\n")
        except OSError as exc:
            logger.warning("cannot record the last nonce in %s: %s", self.path, exc)
