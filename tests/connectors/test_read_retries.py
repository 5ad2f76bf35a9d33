"""Reads retry one way: bounded attempts with backoff, and a venue's Retry-After waited for when it is short enough,
on an injected sleep and clock rather than real time."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from aiohttp import web

from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.errors import AuthError, RateLimited, VenueUnavailable
from hedgectl.retry import RetryPolicy, retry

from .conftest import ETH, PaperBackpack
from .loopback import serve


class FakeTime:
    """A clock that moves only when slept on, recording every pause."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limited_read_on_the_paper_venue_is_retried_after_a_short_backoff(paper_backpack: PaperBackpack) -> None:
    # paper Backpack, like Backpack, answers 429 without Retry-After: the read backs off and tries again
    paper_backpack.arm("rate_limit", count=2, path="/api/v1/capital")
    fake = FakeTime()

    async def scenario(connector: BackpackConnector):
        connector.retry_sleep = fake.sleep
        return await connector.balance()

    balance = paper_backpack.run(scenario, read_retries=3)

    assert balance.equity == Decimal("10000")
    assert len(fake.sleeps) == 2
    assert all(0 <= pause <= connector_policy_ceiling(n) for n, pause in enumerate(fake.sleeps, start=1))


def connector_policy_ceiling(failures: int) -> float:
    return BackpackConnector.read_retry_policy.backoff_secs(failures)


async def scripted_depth(retry_after: str) -> tuple[web.AppRunner, str, list[str]]:
    """A Backpack-shaped depth endpoint that answers 429 with ``retry_after`` once, then the book."""
    calls: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        calls.append(request.path)
        if len(calls) == 1:
            return web.json_response({"code": "TOO_MANY_REQUESTS", "message": "slow down"}, status=429,
                                     headers={"Retry-After": retry_after})
        return web.json_response({"bids": [["1999", "1"]], "asks": [["2001", "2"]]})

    runner, url = await serve(handle)
    return runner, url, calls


def backpack_at(paper_backpack: PaperBackpack, url: str) -> BackpackConnector:
    return BackpackConnector(paper_backpack.config(base_url=url, read_retries=3))


def test_read_waits_the_retry_after_the_venue_sent_then_succeeds(paper_backpack: PaperBackpack) -> None:
    fake = FakeTime()

    async def scenario():
        runner, url, calls = await scripted_depth("3")
        try:
            async with backpack_at(paper_backpack, url) as connector:
                connector.retry_sleep = fake.sleep
                return await connector.top_of_book(ETH), calls
        finally:
            await runner.cleanup()

    book, calls = asyncio.run(scenario())

    assert fake.sleeps == [3.0]
    assert len(calls) == 2
    assert (book.bid, book.ask) == (Decimal("1999"), Decimal("2001"))


def test_read_asked_to_wait_beyond_the_bound_raises_rate_limited_at_once(paper_backpack: PaperBackpack) -> None:
    fake = FakeTime()

    async def scenario():
        runner, url, calls = await scripted_depth("600")
        try:
            async with backpack_at(paper_backpack, url) as connector:
                connector.retry_sleep = fake.sleep
                with pytest.raises(RateLimited) as caught:
                    await connector.top_of_book(ETH)
                return caught.value, calls
        finally:
            await runner.cleanup()

    error, calls = asyncio.run(scenario())

    assert error.retry_after == 600.0
    assert fake.sleeps == [] and len(calls) == 1


def failing(errors: list[Exception]):
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        if errors:
            raise errors.pop(0)
        return "read"

    return call


def transient(error: BaseException) -> bool:
    return isinstance(error, (VenueUnavailable, RateLimited))


def test_retry_doubles_its_backoff_up_to_the_ceiling_without_jitter() -> None:
    fake = FakeTime()
    policy = RetryPolicy(attempts=5, first_delay_secs=0.25, max_delay_secs=1.0, jitter=False)
    call = failing([VenueUnavailable("down") for _ in range(4)])

    result = asyncio.run(retry(call, policy=policy, retry_on=transient, what="read", sleep=fake.sleep,
                               clock=fake.clock))

    assert result == "read"
    assert fake.sleeps == [0.25, 0.5, 1.0, 1.0]


def test_retry_gives_up_after_its_attempts_with_the_last_error() -> None:
    fake = FakeTime()
    policy = RetryPolicy(attempts=2, jitter=False)
    call = failing([VenueUnavailable("first"), VenueUnavailable("second"), VenueUnavailable("third")])

    with pytest.raises(VenueUnavailable, match="second"):
        asyncio.run(retry(call, policy=policy, retry_on=transient, what="read", sleep=fake.sleep, clock=fake.clock))
    assert len(fake.sleeps) == 1


def test_retry_keeps_trying_past_its_attempts_while_patience_lasts() -> None:
    fake = FakeTime()
    policy = RetryPolicy(attempts=1, first_delay_secs=1.0, max_delay_secs=1.0, jitter=False, patience_secs=3.0)
    call = failing([VenueUnavailable("down") for _ in range(10)])

    with pytest.raises(VenueUnavailable):
        asyncio.run(retry(call, policy=policy, retry_on=transient, what="read", sleep=fake.sleep, clock=fake.clock))
    assert fake.sleeps == [1.0, 1.0, 1.0]


def test_retry_does_not_retry_an_error_it_is_not_told_to() -> None:
    fake = FakeTime()
    call = failing([AuthError("bad key")])

    with pytest.raises(AuthError):
        asyncio.run(retry(call, policy=RetryPolicy(), retry_on=transient, what="read", sleep=fake.sleep,
                          clock=fake.clock))
    assert fake.sleeps == []


def test_retry_after_within_the_bound_replaces_the_backoff_but_never_undercuts_it() -> None:
    fake = FakeTime()
    policy = RetryPolicy(attempts=3, first_delay_secs=0.25, max_retry_after_secs=5.0, jitter=False)
    call = failing([RateLimited("slow", retry_after=4.5), RateLimited("slow", retry_after=0.0)])

    assert asyncio.run(retry(call, policy=policy, retry_on=transient, what="read", sleep=fake.sleep,
                             clock=fake.clock)) == "read"
    assert fake.sleeps == [4.5, 0.5]  # "Retry-After: 0" after two refusals waits the backoff of the second


def test_a_venue_that_keeps_saying_retry_after_0_is_not_asked_again_at_once_while_patience_lasts() -> None:
    fake = FakeTime()
    policy = RetryPolicy(attempts=1, first_delay_secs=0.5, max_delay_secs=1.0, jitter=False, patience_secs=3.0)
    call = failing([RateLimited("slow", retry_after=0.0) for _ in range(1000)])

    with pytest.raises(RateLimited):
        asyncio.run(retry(call, policy=policy, retry_on=transient, what="read", sleep=fake.sleep, clock=fake.clock))
    assert fake.sleeps == [0.5, 1.0, 1.0, 1.0]
