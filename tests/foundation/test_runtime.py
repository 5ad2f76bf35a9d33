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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_asks_the_strategy_to_stop_safely(signum):
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

        from hedgectl.execution.orders import Side

        backpack = await self.connectors.get("backpack")
        await backpack.submit_limit_order("ETH_USDC_PERP", Side.BUY, Decimal("0.01"), Decimal("1000"))
        return "left one resting"


def test_open_orders_are_cancelled_on_the_way_out_when_asked(paper_venues):
    from hedgectl.config.starter import paper_config
    from hedgectl.registry import ConnectorSet

    config = paper_config(paper_venues.accounts_document())

    async def scenario(cancel: bool):
        connectors = ConnectorSet(config)
        return await run_strategy(LeavesARestingOrder(connectors), connectors, cancel_orders_on_exit=cancel)

    asyncio.run(scenario(False))
    assert len(paper_venues.state("backpack")["open_orders"]) == 1
    asyncio.run(scenario(True))
    assert paper_venues.state("backpack")["open_orders"] == []
