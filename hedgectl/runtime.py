"""Running a strategy: start it with its connectors, stop on completion, SIGINT or SIGTERM, then clean up.

The first SIGINT/SIGTERM sets the strategy's ``stop`` event so it can end safely (the hedge flattens); a second one
cancels the strategy outright. A strategy's error is never swallowed: it is raised after the clean-up.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, Protocol

from hedgectl.registry import ConnectorSet

logger = logging.getLogger(__name__)


class Strategy(Protocol):
    name: str

    async def run(self, stop: asyncio.Event) -> Any:
        """Do the work; return when done or soon after ``stop`` is set."""


async def run_strategy(
    strategy: Strategy,
    connectors: ConnectorSet | None = None,
    *,
    cancel_orders_on_exit: bool = False,
    stop: asyncio.Event | None = None,
) -> Any:
    """Run ``strategy`` to completion under signal handling; close ``connectors`` afterwards."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    task = asyncio.create_task(strategy.run(stop), name=f"strategy:{strategy.name}")
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            logger.warning("%s received: stopping %s safely (send it again to abort at once)", name, strategy.name)
            stop.set()
        else:
            logger.error("%s received again: aborting %s now", name, strategy.name)
            task.cancel()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signal support
            pass
    try:
        return await task
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        if connectors is not None:
            if cancel_orders_on_exit:
                await _cancel_everything(connectors)
            await connectors.close()


async def _cancel_everything(connectors: ConnectorSet) -> None:
    for name, connector in connectors.built().items():
        try:
            await connector.cancel_all()
        except Exception as exc:  # clean-up must reach every connector; the error is reported, not raised
            logger.error("%s: cancelling open orders on exit failed: %s", name, exc)
