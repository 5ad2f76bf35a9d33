"""Lighter nonces and lost answers against paper Lighter: 21104 from a skewed nonce or another process on the same
api key, answers lost after the venue executed (or before it did), and ``nonce show`` / ``nonce refresh``.

Every test checks the venue's own records: each client order index executed at most once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import httpx
import pytest
from aiohttp import web

from hedgectl.errors import AmbiguousOutcome
from hedgectl.model.orders import OrderState, Side

from .lighter_support import ETH, LighterProxy, PaperLighter, paper_lighter  # noqa: F401


def states(handle) -> list[OrderState]:
    return [transition.to_state for transition in handle.tracker.transitions]


def test_skewed_nonce_is_recovered_without_a_duplicate(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm("nonce_skew", account="lighter1", amount=3)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        return handle, await handle.wait_final(5)

    nonce_before = paper_lighter.next_nonce()
    handle, snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FILLED
    assert snapshot.info["attempts"] == 2 and snapshot.info["nonce"] == nonce_before + 3
    assert OrderState.UNKNOWN not in states(handle)  # a 21104 is a refusal, not a lost answer
    assert len(paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)) == 1
    assert paper_lighter.signed_size() == Decimal("0.2")
    assert paper_lighter.audit() == []


def test_another_client_on_the_same_key_is_recovered_without_a_duplicate(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)  # our local nonce is now the venue's next one
        await paper_lighter.sdk_market_order("lighter1", is_ask=False, base_amount=1000, client_order_index=11,
                                             worst_price=400_000)  # ... and another client just used it
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)

    assert snapshot.state is OrderState.FILLED and snapshot.info["attempts"] == 2
    assert len(paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)) == 1
    assert paper_lighter.signed_size() == Decimal("0.3")
    assert paper_lighter.audit() == []


def test_two_processes_sharing_one_api_key_never_duplicate(paper_lighter: PaperLighter, tmp_path):
    """A second hedgectl process trades lighter1 with the same api key while this one does.

    Both use one data directory, as two processes on one machine do, so their client order indexes differ.
    """
    program = paper_lighter.child_config_source("lighter1", connector_name="other-process") + textwrap.dedent(
        f"""
        import asyncio, json
        from decimal import Decimal
        from pathlib import Path
        from hedgectl.connectors.lighter import LighterConnector
        from hedgectl.model.orders import Side

        async def main():
            async with LighterConnector(config, data_dir=Path({str(tmp_path)!r})) as connector:
                await connector.prepare("ETH")
                print("ready", flush=True)
                sys.stdin.readline()
                outcomes = []
                for _ in range(6):
                    handle = await connector.submit_market_order("ETH", Side.SELL, Decimal("0.01"))
                    snapshot = await handle.wait_final(10)
                    outcomes.append([snapshot.state.value, snapshot.info["attempts"]])
                    await asyncio.sleep(0.003)
                return outcomes

        print(json.dumps(asyncio.run(main())), flush=True)
        """
    )
    other = subprocess.Popen([sys.executable, "-c", program], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        other.stdin.write(paper_lighter.account("lighter1")["api_private_key"] + "\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "ready", other.stderr.read()

        async def scenario(connector):
            await connector.prepare(ETH)
            other.stdin.write("go\n")
            other.stdin.flush()
            snapshots = []
            for _ in range(6):
                handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.02"))
                snapshots.append(await handle.wait_final(10))
                await asyncio.sleep(0.003)
            return snapshots

        async def main():
            async with paper_lighter.connector("lighter1", data_dir=tmp_path) as connector:
                return await scenario(connector)

        ours = asyncio.run(main())
        theirs = json.loads(other.communicate(timeout=60)[0].strip().splitlines()[-1])
    finally:
        if other.poll() is None:
            other.kill()

    assert [snapshot.state for snapshot in ours] == [OrderState.FILLED] * 6
    assert [state for state, _ in theirs] == ["filled"] * 6
    # both started from the same next nonce, so at least one order met 21104 and was sent again
    assert max([snapshot.info["attempts"] for snapshot in ours] + [attempts for _, attempts in theirs]) > 1
    # both processes' orders reached the venue exactly once each, whatever 21104s happened on the way
    assert len(paper_lighter.orders()) == 12
    assert paper_lighter.signed_size() == Decimal("6") * Decimal("0.02") - Decimal("6") * Decimal("0.01")
    assert paper_lighter.audit() == []


def test_two_connectors_of_one_process_share_the_key_without_racing(paper_lighter: PaperLighter):
    async def main():
        async with paper_lighter.connector("lighter1") as first, \
                paper_lighter.connector("lighter1", connector_name="lighter1-copy") as second:
            await first.prepare(ETH)
            await second.prepare(ETH)
            handles = await asyncio.gather(*(
                connector.submit_market_order(ETH, Side.BUY, Decimal("0.01"))
                for _ in range(4) for connector in (first, second)
            ))
            return [await handle.wait_final(5) for handle in handles]

    snapshots = asyncio.run(main())

    assert all(snapshot.state is OrderState.FILLED for snapshot in snapshots)
    assert all(snapshot.info["attempts"] == 1 for snapshot in snapshots)  # not one 21104
    assert sorted(snapshot.info["nonce"] for snapshot in snapshots) == list(range(1, 9))
    assert paper_lighter.audit() == []


@pytest.mark.parametrize("mode", ["close", "504"])
def test_answer_lost_after_execution_is_resolved_without_a_duplicate(paper_lighter: PaperLighter, mode):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm("drop_after_execute", path="/api/v1/sendTx", mode=mode, delay_ms=50, count=1)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.7"))
        returned = handle.snapshot().state
        return handle, returned, await handle.wait_final(5)

    nonce_before = paper_lighter.next_nonce()
    handle, returned, snapshot = paper_lighter.run(scenario)

    assert returned is OrderState.UNKNOWN
    assert states(handle)[:3] == [OrderState.SUBMITTING, OrderState.UNKNOWN, OrderState.OPEN]
    assert snapshot.state is OrderState.FILLED and snapshot.filled_size == Decimal("0.7")
    assert snapshot.info["answer_lost"] is True
    assert len(paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)) == 1
    assert paper_lighter.next_nonce() == nonce_before + 1  # sent once, never again
    assert paper_lighter.signed_size() == Decimal("0.7")
    assert paper_lighter.audit() == []


@pytest.mark.parametrize("fault", [{"kind": "error", "status": 502}, {"kind": "rate_limit"}])
def test_send_refused_before_execution_is_sent_again_with_the_same_nonce(paper_lighter: PaperLighter, fault):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm(fault.pop("kind"), path="/api/v1/sendTx", count=1, **fault)
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.4"))
        return handle, await handle.wait_final(5)

    nonce_before = paper_lighter.next_nonce()
    handle, snapshot = paper_lighter.run(scenario)

    assert OrderState.UNKNOWN in states(handle)
    assert snapshot.state is OrderState.FILLED and snapshot.info["attempts"] == 2
    # the venue proved the first send had not run (its nonce was still the next), so the resend reused it
    assert snapshot.info["nonce"] == nonce_before
    assert len(paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)) == 1
    assert paper_lighter.signed_size() == Decimal("-0.4")
    assert paper_lighter.audit() == []


def test_send_that_times_out_and_executes_late_never_duplicates(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        # the venue runs the order 400 ms after receiving it; we give up waiting after 150 ms
        paper_lighter.arm("latency", path="/api/v1/sendTx", ms=400, count=1)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.3"))
        snapshot = await handle.wait_final(5)
        await asyncio.sleep(0.5)  # let the late request finish at the venue before its records are checked
        return handle, snapshot

    handle, snapshot = paper_lighter.run(scenario, timeout_secs=0.15)

    assert OrderState.UNKNOWN in states(handle)
    assert snapshot.state is OrderState.FILLED
    assert len([order for order in paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)
                if Decimal(order["filled_base_amount"]) > 0]) == 1
    assert paper_lighter.signed_size() == Decimal("0.3")
    assert paper_lighter.audit() == []


def test_lost_answer_that_cannot_be_resolved_stays_unknown_and_is_never_resent(paper_lighter: PaperLighter):
    async def scenario(connector):
        connector.resolve_timeout_secs = 0.5
        await connector.prepare(ETH)
        paper_lighter.arm("drop_after_execute", path="/api/v1/sendTx", count=1)
        for path in ("/api/v1/accountOrders", "/api/v1/tx", "/api/v1/nextNonce"):
            paper_lighter.arm("error", path=path, status=503)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.25"))
        with pytest.raises(AmbiguousOutcome):
            await handle.wait_final(5)
        unknown = handle.snapshot()
        paper_lighter.venues.clear("lighter")
        # what the hedge's recovery does later: look the client order index up
        return unknown, await connector.find_order(ETH, handle.client_order_index)

    unknown, found = paper_lighter.run(scenario, read_retries=1)

    assert unknown.state is OrderState.UNKNOWN
    assert found is not None and found.done and found.filled_size == Decimal("0.25")
    assert len(paper_lighter.orders(client_order_index=unknown.intent.client_order_index)) == 1
    assert paper_lighter.audit() == []


def test_api_nonce_mode_reads_the_nonce_before_each_order(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm("nonce_skew", account="lighter1", amount=5)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return await handle.wait_final(5)

    nonce_before = paper_lighter.next_nonce()
    snapshot = paper_lighter.run(scenario, nonce_manager="api")

    assert snapshot.state is OrderState.FILLED
    assert snapshot.info["attempts"] == 1 and snapshot.info["nonce"] == nonce_before + 5


def test_nonce_show_and_refresh_report_what_changed(paper_lighter: PaperLighter, tmp_path):
    async def first_run(connector):
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        await handle.wait_final(5)
        return await connector.nonce_status()

    async def second_run(connector):
        paper_lighter.arm("nonce_skew", account="lighter1", amount=4)
        shown = await connector.nonce_status()
        refreshed = await connector.refresh_nonce()
        return shown, refreshed, await connector.refresh_nonce()

    async def run(scenario):
        async with paper_lighter.connector("lighter1", data_dir=tmp_path) as connector:
            return await scenario(connector)

    after_order = asyncio.run(run(first_run))
    shown, refreshed, again = asyncio.run(run(second_run))

    assert after_order.server_next == after_order.local_next == 2
    assert shown.server_next == 6 and shown.persisted_last_used == 1
    assert (refreshed.before, refreshed.after, refreshed.changed) == (2, 6, True)
    assert (again.before, again.after, again.changed) == (6, 6, False)
    (nonce_file,) = (tmp_path / "lighter" / "nonces").glob(f"*-{shown.account_index}-3.json")
    assert json.loads(nonce_file.read_text())["last_used"] == 5


def test_client_order_index_outside_the_venue_range_is_refused(paper_lighter: PaperLighter):
    from hedgectl.errors import InvalidOrder

    async def scenario(connector):
        await connector.prepare(ETH)
        return await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"), client_order_index=2**48)

    with pytest.raises(InvalidOrder):
        paper_lighter.run(scenario)
    assert paper_lighter.orders() == []


def test_prepare_takes_the_venues_nonce_when_another_user_moved_it(paper_lighter: PaperLighter):
    async def scenario(connector):
        await connector.prepare(ETH)
        paper_lighter.arm("nonce_skew", account="lighter1", amount=2)
        await connector.prepare(ETH)
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        return await handle.wait_final(5)

    snapshot = paper_lighter.run(scenario)
    assert snapshot.state is OrderState.FILLED and snapshot.info["attempts"] == 1


def test_lost_nonce_taken_by_someone_else_is_sent_once_with_the_next_nonce(paper_lighter: PaperLighter):
    async def scenario(connector):
        connector.consumed_settle_secs = 0.2
        await connector.prepare(ETH)
        paper_lighter.arm("error", path="/api/v1/sendTx", status=502, count=1)  # refused before it ran
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.2"))
        # while the connector resolves the lost answer, another user of the key takes two nonces
        paper_lighter.arm("nonce_skew", account="lighter1", amount=2)
        return handle, await handle.wait_final(5)

    nonce_before = paper_lighter.next_nonce()
    handle, snapshot = paper_lighter.run(scenario)

    assert OrderState.UNKNOWN in states(handle)
    assert snapshot.state is OrderState.FILLED
    assert snapshot.info["attempts"] == 2 and snapshot.info["nonce"] == nonce_before + 2
    assert len(paper_lighter.orders(client_order_index=snapshot.intent.client_order_index)) == 1
    assert paper_lighter.signed_size() == Decimal("0.2")
    assert paper_lighter.audit() == []


class LaggingIndex:
    """Scripts a proxy in front of paper Lighter so that the venue's order, transaction and trade indexes show
    nothing until ``lag`` seconds after ``ran()``: the sequencer has executed a transaction, its records lag."""

    def __init__(self, proxy: LighterProxy, lag: float) -> None:
        self.lag = lag
        self.visible_at = 0.0
        self.proxy = proxy
        proxy.on("/api/v1/accountOrders", self._hidden({"code": 200, "orders": []}))
        proxy.on("/api/v1/trades", self._hidden({"code": 200, "trades": [], "next_cursor": ""}))
        proxy.on("/api/v1/tx", self._hidden({"code": 21500, "message": "tx not found"}, status=400))

    def ran(self) -> None:
        self.visible_at = time.monotonic() + self.lag

    def _hidden(self, empty: dict, status: int = 200):
        async def route(request, body):
            if time.monotonic() < self.visible_at:
                return web.json_response(empty, status=status)
            return await self.proxy.forward(request, body)

        return route


def _lost_answer_run(paper_lighter: PaperLighter, script, **connector_options):
    """Send one market buy of 0.3 ETH through a proxy that ``script(proxy)`` set up; returns the order's handle, its
    final snapshot (or the AmbiguousOutcome it ended with) and the paths the proxy was asked."""

    async def main():
        async with LighterProxy(paper_lighter.url) as proxy:
            async with paper_lighter.connector("lighter1", base_url=proxy.url) as connector:
                for name, value in connector_options.items():
                    setattr(connector, name, value)
                await connector.prepare(ETH)
                script(proxy)
                handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.3"))
                try:
                    outcome = await handle.wait_final(15)
                except AmbiguousOutcome as exc:
                    outcome = exc
                return handle, outcome, proxy.received

    return asyncio.run(main())


def test_lost_order_whose_nonce_shows_used_before_its_records_is_not_sent_again(paper_lighter: PaperLighter):
    def script(proxy):
        index = LaggingIndex(proxy, lag=2.0)

        async def send_tx(request, body):
            await proxy.forward(request, body)  # the venue runs it ...
            index.ran()
            proxy.on("/api/v1/sendTx", proxy.forward)
            return web.Response(status=504, text="upstream request timeout")  # ... and the answer is lost

        proxy.on("/api/v1/sendTx", send_tx)

    nonce_before = paper_lighter.next_nonce()
    handle, snapshot, received = _lost_answer_run(paper_lighter, script)

    assert received.count("/api/v1/sendTx") == 1
    assert snapshot.state is OrderState.FILLED and snapshot.info["answer_lost"] is True
    assert len(paper_lighter.orders(client_order_index=handle.client_order_index)) == 1
    assert paper_lighter.next_nonce() == nonce_before + 1
    assert paper_lighter.signed_size() == Decimal("0.3")
    assert paper_lighter.audit() == []


def test_invalid_nonce_on_resending_a_lost_order_that_ran_late_is_not_sent_again(paper_lighter: PaperLighter):
    def script(proxy):
        index = LaggingIndex(proxy, lag=1.5)
        held: list[bytes] = []

        async def send_tx(request, body):
            if not held:
                # the first send is held on the way; the client gives up on it
                held.append(body)
                return web.Response(status=504, text="upstream request timeout")
            # the client sends the order again with the same nonce; the held send reaches the venue first and runs
            await proxy.forward(request, held.pop())
            index.ran()
            proxy.on("/api/v1/sendTx", proxy.forward)
            return await proxy.forward(request, body)  # refused: 21104, the nonce is used

        proxy.on("/api/v1/sendTx", send_tx)

    nonce_before = paper_lighter.next_nonce()
    handle, snapshot, received = _lost_answer_run(paper_lighter, script)

    assert received.count("/api/v1/sendTx") == 2  # the lost send and its resend with the same nonce, nothing more
    assert snapshot.state is OrderState.FILLED and snapshot.info["answer_lost"] is True
    assert len(paper_lighter.orders(client_order_index=handle.client_order_index)) == 1
    assert paper_lighter.next_nonce() == nonce_before + 1
    assert paper_lighter.signed_size() == Decimal("0.3")
    assert paper_lighter.audit() == []


@pytest.mark.parametrize(
    "unclear",
    [lambda: web.Response(status=200, text="<html>upstream hiccup</html>", content_type="text/html"),
     lambda: web.json_response({"code": 20013, "message": "invalid auth"}, status=401),
     lambda: web.Response(status=404, text="404 page not found")],
    ids=["unreadable", "unauthorised", "no-such-route"],
)
def test_transaction_lookup_that_does_not_answer_cleanly_never_proves_a_lost_order_absent(
    paper_lighter: PaperLighter, unclear
):
    def script(proxy):
        async def send_tx(request, body):
            # lost before it reached the venue, and meanwhile another user of the key takes the nonce
            await asyncio.to_thread(paper_lighter.arm, "nonce_skew", account="lighter1", amount=1)
            proxy.on("/api/v1/sendTx", proxy.forward)
            return web.Response(status=504, text="upstream request timeout")

        async def tx(request, body):
            return unclear()

        proxy.on("/api/v1/sendTx", send_tx)
        proxy.on("/api/v1/tx", tx)

    handle, outcome, received = _lost_answer_run(paper_lighter, script, consumed_settle_secs=0.2,
                                                 resolve_timeout_secs=0.5)

    assert isinstance(outcome, AmbiguousOutcome) and outcome.client_order_index == handle.client_order_index
    assert handle.snapshot().state is OrderState.UNKNOWN
    assert received.count("/api/v1/sendTx") == 1
    assert paper_lighter.orders(client_order_index=handle.client_order_index) == []


def test_refused_resend_while_the_lost_send_may_still_run_leaves_the_order_unknown(paper_lighter: PaperLighter):
    held: list[bytes] = []

    def script(proxy):
        async def send_tx(request, body):
            if not held:
                held.append(body)  # on its way still: nothing has run it, nothing has used its nonce
                return web.Response(status=504, text="upstream request timeout")
            return web.json_response({"code": 21700, "message": "invalid order"}, status=400)

        proxy.on("/api/v1/sendTx", send_tx)

    handle, outcome, received = _lost_answer_run(paper_lighter, script)

    assert received.count("/api/v1/sendTx") == 2
    assert isinstance(outcome, AmbiguousOutcome) and handle.snapshot().state is OrderState.UNKNOWN
    # and rightly so: the held send can still reach the venue and run
    answer = httpx.post(paper_lighter.url + "/api/v1/sendTx", content=held[0],
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text
    assert len(paper_lighter.orders(client_order_index=handle.client_order_index)) == 1
