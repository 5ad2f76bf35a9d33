"""The clocks: the system clock waits for real, the simulated one moves only when waited on or advanced."""

from __future__ import annotations

import asyncio

import pytest

from hedgectl.clock import SYSTEM_CLOCK, SimulatedClock


def test_a_simulated_sleep_moves_the_clock_by_the_time_slept():
    clock = SimulatedClock(start=1_000.0)

    asyncio.run(clock.sleep(30))

    assert clock.monotonic() == 30.0 and clock.now() == 1_030.0


def test_concurrent_simulated_sleeps_overlap_instead_of_adding_up():
    clock = SimulatedClock(start=0.0)

    async def main():
        await asyncio.gather(clock.sleep(5), clock.sleep(1), clock.sleep(3))

    asyncio.run(main())
    assert clock.monotonic() == 5.0


def test_a_simulated_clock_never_goes_backwards():
    clock = SimulatedClock(start=0.0)
    clock.advance(2)

    asyncio.run(clock.sleep(-1))

    assert clock.monotonic() == 2.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_a_simulated_wait_for_an_event_that_never_comes_times_out_on_simulated_time():
    clock = SimulatedClock(start=0.0)

    async def main():
        return await clock.wait(asyncio.Event(), 60)

    assert asyncio.run(main()) is False
    assert clock.monotonic() == 60.0


def test_a_simulated_wait_for_an_event_set_meanwhile_returns_at_once_without_moving_the_clock():
    clock = SimulatedClock(start=0.0)

    async def main():
        event = asyncio.Event()
        asyncio.get_running_loop().call_soon(event.set)
        return await clock.wait(event, 60)

    assert asyncio.run(main()) is True
    assert clock.monotonic() == 0.0


def test_the_system_clock_wait_returns_whether_the_event_was_set():
    async def main():
        event = asyncio.Event()
        event.set()
        return await SYSTEM_CLOCK.wait(event, 60), await SYSTEM_CLOCK.wait(asyncio.Event(), 0)

    assert asyncio.run(main()) == (True, False)
