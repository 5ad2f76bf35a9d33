"""Exclusive per-account locks, so two hedgectl processes never trade one venue account (or api key) at once.

A lock is an ``flock`` on a file (0600, in a 0700 directory) under the data directory; the kernel drops it when the process dies, even by
``kill -9``, so a crash never leaves a stale lock behind. The holder's pid is written into the file for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hedgectl.errors import LockHeld
from hedgectl.files import open_private


class AccountLock:
    """One held lock; release with ``release()`` or by leaving the ``with`` block."""

    def __init__(self, path: Path, handle):
        self.path = path
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> AccountLock:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)


def acquire(data_dir: Path, key: str, *, purpose: str = "trading") -> AccountLock:
    """Take the lock for account ``key`` or raise LockHeld naming the process that holds it."""
    path = data_dir / "locks" / f"{_safe(key)}.lock"
    handle = os.fdopen(open_private(path), "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise LockHeld(f"account {key} is in use by {holder}; wait for it to finish or stop it first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} ({purpose})")
    handle.flush()
    return AccountLock(path, handle)


def acquire_all(data_dir: Path, keys: list[str], *, purpose: str = "trading") -> list[AccountLock]:
    """Take every lock in a fixed order (so two processes cannot deadlock), or none of them."""
    held: list[AccountLock] = []
    try:
        for key in sorted(set(keys)):
            held.append(acquire(data_dir, key, purpose=purpose))
    except LockHeld:
        for lock in held:
            lock.release()
        raise
    return held
