"""An order task that outlives its caller ends quietly: its error is collected where the task is made, never left
for asyncio to report as "Task exception was never retrieved"."""

from __future__ import annotations

import asyncio
import gc
from decimal import Decimal

from hedgectl.model.orders import Side

from .lighter_support import ETH, PaperLighter, paper_lighter  # noqa: F401


def test_an_order_task_whose_caller_stopped_waiting_leaves_no_unretrieved_exception(paper_lighter: PaperLighter):
    reported: list[str] = []

    async def scenario(connector):
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context["message"]))
        await connector.prepare(ETH)
        # the send is held up, then answered with server errors until the task gives up with an error
        paper_lighter.arm("latency", ms=500, path="/api/v1/sendTx", count=1)
        paper_lighter.arm("error", status=503, path="/api/v1/sendTx")
        submitted = asyncio.ensure_future(connector.submit_market_order(ETH, Side.BUY, Decimal("0.1")))
        await asyncio.wait({submitted}, timeout=0.1)
        submitted.cancel()  # the caller stops waiting; the order task carries on alone
        await asyncio.gather(submitted, return_exceptions=True)
        while connector._tasks:
            await asyncio.wait(set(connector._tasks))
        gc.collect()  # a task whose exception was never retrieved reports it when it is collected
        return [order["status"] for order in paper_lighter.orders()]

    venue_orders = paper_lighter.run(scenario)
    gc.collect()

    assert reported == []
    assert venue_orders == []  # every send was answered 503: nothing reached the book
