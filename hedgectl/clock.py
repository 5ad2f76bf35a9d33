"""Where hedgectl reads the time and waits: ``SYSTEM_CLOCK`` in production, ``SimulatedClock`` where a test wants
windows and horizons (lag, settle, landing) to pass without waiting for them.

Code that measures a latency keeps ``time.perf_counter()``: a latency is a fact about the machine, not a window.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time, monotonic time and waiting, from one source."""

    def now(self) -> float:
        """Seconds since the epoch (what timestamps and venue windows are measured in)."""

    def monotonic(self) -> float:
        """Seconds that never go backwards (what deadlines are measured in)."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait until ``event`` is set or ``timeout`` seconds have passed; whether it was set."""


class SystemClock:
    """The machine's clocks and the event loop's waits."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel on Python 3.11
                await event.wait()
        return event.is_set()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class SimulatedClock:
    """Time that moves only when someone waits or ``advance`` is called, shared safely between threads (the paper
    venues run in a thread of their own).

    A wait of ``seconds`` moves the clock to at least ``seconds`` after it began and then yields once to the event
    loop, so a polling loop runs through its window at the speed of its I/O; concurrent waits overlap, as they
    would in real time, rather than adding up. The clock never goes backwards.
    """

    def __init__(self, start: float | None = None):
        self._epoch = time.time() if start is None else start
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._epoch + self._elapsed

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._elapsed += seconds

    def _advance_to(self, target: float) -> None:
        with self._lock:
            self._elapsed = max(self._elapsed, target)

    async def sleep(self, seconds: float) -> None:
        target = self.monotonic() + max(seconds, 0.0)
        # the other tasks started at this moment take their own start time before the clock moves
        await asyncio.sleep(0)
        self._advance_to(target)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        target = self.monotonic() + max(timeout, 0.0)
        if not event.is_set():
            # a moment of real time, so that an answer already on its way can set the event first
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.001):
                    await event.wait()
        if not event.is_set():
            self._advance_to(target)
            await asyncio.sleep(0)
        return event.is_set()

    def __repr__(self) -> str:
        return f"SimulatedClock(now={self.now():.3f})"
