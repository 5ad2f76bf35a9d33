"""The one way reads and notifications are retried: bounded attempts, jittered exponential backoff, and a venue's
Retry-After honoured when it is short enough to be worth waiting for."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one operation is tried."""

    #: tries in all, the first one included
    attempts: int = 3
    #: the backoff before the second try; it doubles with each further try
    first_delay_secs: float = 0.05
    max_delay_secs: float = 1.0
    #: a wait drawn uniformly below the backoff, so that many clients do not retry in step
    jitter: bool = True
    #: the longest Retry-After waited for; a longer one ends the retries at once, because retrying any sooner would
    #: only be refused again
    max_retry_after_secs: float = 5.0
    #: keep trying at least this long, even once the attempts are used up
    patience_secs: float = 0.0

    def backoff_secs(self, failures: int, rng: random.Random | None = None) -> float:
        """The pause after ``failures`` consecutive failures (1 or more), before jitter when ``rng`` is None."""
        ceiling = min(self.max_delay_secs, self.first_delay_secs * 2 ** max(0, failures - 1))
        if self.jitter and rng is not None:
            return rng.uniform(0.0, ceiling)
        return ceiling

    def wait_secs(self, failures: int, error: BaseException, rng: random.Random | None = None) -> float | None:
        """The pause before the next try after ``error``; None when the error asks for a longer wait than allowed."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.max_retry_after_secs:
                return None
            # never sooner than the backoff: a "Retry-After: 0" from a venue that keeps refusing is no reason to
            # ask it again at once, over and over until the patience runs out
            return max(float(retry_after), self.backoff_secs(failures))
        return self.backoff_secs(failures, rng)


_rng = random.Random()


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retry_on: Callable[[BaseException], bool],
    what: str,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: logging.Logger = logger,
) -> T:
    """Await ``call()`` until it succeeds, or re-raise its last error: one ``retry_on`` refuses, one asking for a
    Retry-After beyond the policy's bound, or the last once the attempts and the patience are both used up."""
    deadline = clock() + policy.patience_secs
    failures = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if not retry_on(exc):
                raise
            failures += 1
            if failures >= policy.attempts and clock() >= deadline:
                raise
            wait = policy.wait_secs(failures, exc, _rng)
            if wait is None:
                log.warning("%s: %s; the venue asks for a longer wait than %gs, giving up", what, exc,
                            policy.max_retry_after_secs)
                raise
            log.info("%s failed (%s); retrying after %.3gs (attempt %d)", what, exc, wait, failures + 1)
            await sleep(wait)
