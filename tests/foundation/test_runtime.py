"""The runtime: strategies stop safely on signals, and their errors are never swallowed."""

import asyncio
import os
import signal

import pytest

from hedgectl.runtime import run_strategy


class WaitsForStop:
    name = "waits-for-stop"

    def __init__(self):
        self.stopped_safely = False

    async def run(self, stop: asyncio.Event):
        await stop.wait()
        self.stopped_safely = True
        return "done"


class Fails:
    name = "fails"

    async def run(self, stop: asyncio.Event):
        await asyncio.sleep(0)
        raise ValueError("strategy broke")


class IgnoresStop:
    name = "ignores-stop"

    async def run(self, stop: asyncio.Event):
        await asyncio.sleep(3600)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_first_signal_asks_the_strategy_to_stop_safely(signum, monkeypatch):
    # a hangup takes the terminal's descriptors away: not those of the terminal running the tests
    monkeypatch.setattr("hedgectl.runtime._leave_terminal", lambda fds: None)
    strategy = WaitsForStop()

    async def scenario():
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signum)
        return await run_strategy(strategy)

    assert asyncio.run(scenario()) == "done"
    assert strategy.stopped_safely


def test_second_signal_cancels_a_strategy_that_does_not_stop():
    async def scenario():
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
        loop.call_later(0.10, os.kill, os.getpid(), signal.SIGINT)
        return await run_strategy(IgnoresStop())

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())


def test_a_strategy_error_is_raised_not_swallowed():
    with pytest.raises(ValueError, match="strategy broke"):
        asyncio.run(run_strategy(Fails()))


def test_signal_handlers_are_removed_afterwards():
    before = signal.getsignal(signal.SIGINT)

    async def scenario():
        stop = asyncio.Event()
        stop.set()
        return await run_strategy(WaitsForStop(), stop=stop)

    asyncio.run(scenario())
    assert signal.getsignal(signal.SIGINT) == before


class LeavesARestingOrder:
    name = "leaves-a-resting-order"

    def __init__(self, connectors):
        self.connectors = connectors

    async def run(self, stop):
        from decimal import Decimal

        from hedgectl.model.orders import Side

        backpack = await self.connectors.get("backpack")
        await backpack.submit_limit_order("ETH_USDC_PERP", Side.BUY, Decimal("0.01"), Decimal("1000"))
        return "left one resting"


def test_open_orders_are_cancelled_on_the_way_out_when_asked(paper_venues):
    from hedgectl.config.starter import paper_config
    from hedgectl.connectors.factory import ConnectorSet

    config = paper_config(paper_venues.accounts_document())

    async def scenario(cancel: bool):
        connectors = ConnectorSet(config)
        return await run_strategy(LeavesARestingOrder(connectors), connectors, cancel_orders_on_exit=cancel)

    asyncio.run(scenario(False))
    assert len(paper_venues.state("backpack")["open_orders"]) == 1
    asyncio.run(scenario(True))
    assert paper_venues.state("backpack")["open_orders"] == []


def test_signals_after_the_work_ended_are_ignored_until_the_command_ends():
    from hedgectl.runtime import StopSignals

    async def scenario(signals):
        stop = asyncio.Event()
        stop.set()
        result = await run_strategy(WaitsForStop(), stop=stop, signals=signals)
        for signum in (signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            os.kill(os.getpid(), signum)
            await asyncio.sleep(0.01)  # let the loop run the handler between two signals
        return result

    with StopSignals() as signals:
        assert asyncio.run(scenario(signals)) == "done"
        os.kill(os.getpid(), signal.SIGINT)  # between the end of the loop and the end of the command
    assert [s.name for s in signals.received] == ["SIGINT", "SIGINT", "SIGTERM", "SIGQUIT", "SIGINT"]


def test_a_third_signal_does_not_interrupt_what_the_abort_still_does():
    from hedgectl.runtime import StopSignals

    cleaned_up = []

    class CleansUpSlowly:
        name = "cleans-up-slowly"

        async def run(self, stop):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                os.kill(os.getpid(), signal.SIGINT)  # the third, during the clean-up of the abort
                await asyncio.sleep(0.05)
                cleaned_up.append(True)
                raise

    async def scenario(signals):
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
        loop.call_later(0.10, os.kill, os.getpid(), signal.SIGINT)
        return await run_strategy(CleansUpSlowly(), signals=signals)

    with StopSignals() as signals, pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario(signals))
    assert cleaned_up == [True]
    assert len(signals.received) == 3


def test_closing_work_is_let_finish_on_the_first_signal_and_aborted_on_the_second():
    from hedgectl.runtime import StopSignals

    async def closing(signals, count):
        signals.attach(asyncio.current_task(), closing=True)
        for _ in range(count):
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
        return "closed"

    with StopSignals() as signals:
        assert asyncio.run(closing(signals, 1)) == "closed"
    with StopSignals() as signals, pytest.raises(asyncio.CancelledError):
        asyncio.run(closing(signals, 2))


def test_a_hangup_can_be_ignored_to_carry_on_detached(monkeypatch):
    from hedgectl.runtime import StopSignals

    left: list[list[int]] = []
    # a hangup takes the terminal's descriptors away: not those of the terminal running the tests
    monkeypatch.setattr("hedgectl.runtime._leave_terminal", left.append)

    async def scenario(signals):
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGHUP)
        loop.call_later(0.30, os.kill, os.getpid(), signal.SIGTERM)
        return await run_strategy(WaitsForStop(), signals=signals)

    with StopSignals(on_hangup="continue") as signals:
        assert asyncio.run(scenario(signals)) == "done"
    assert signals.hung_up and [s.name for s in signals.received] == ["SIGTERM"]
    assert len(left) == 1
