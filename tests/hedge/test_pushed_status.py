"""The cycle's live status (what the live view and the heartbeats show) follows the positions the legs' account
streams push, before any REST read; the REST reads stay the truth, and without streams nothing is shown by push."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from hedgectl.config.starter import paper_config
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.connectors.stream import without_streams
from hedgectl.journal import Journal, journal_path
from hedgectl.model.orders import Side
from hedgectl.cli.hedge_view import position_cell
from hedgectl.config.model import HedgeConfig
from hedgectl.strategies.hedge.cycle import HedgeCycle, legs_from_config, override
from hedgectl.strategies.hedge.status import CycleStatus, LegStatus
from hedgectl.telemetry.heartbeat import run_heartbeat_loop
from hedgectl.telemetry.readings import readings_from_status
from hedgectl.telemetry.settings import TelemetrySettings
from tests.hedge.conftest import FAST

OUTSIDE_TRADE = Decimal("0.1")
#: How long a cycle with streams runs at most after the outside trade when what the test awaits never comes.
GUARD_SECS = 60.0


class Receiver:
    """A loopback collector that keeps every heartbeat body it receives, in order, in the shared log."""

    def __init__(self, log: list[tuple], on_heartbeat) -> None:
        self.log = log
        self.on_heartbeat = on_heartbeat
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/ingest/{bot}", self._ingest)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _ingest(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.log.append(("heartbeat", body["role"], body["position_base"]))
        self.on_heartbeat()
        return web.json_response({"ok": True})

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def run_cycle(venues: Any, tmp_path: Path, *, streams: bool, until=None) -> dict[str, Any]:
    """A cycle with a 600 s poll and hourly heartbeats; after the monitor's first reading an outside trade reduces L1
    at the venue. The cycle is stopped once ``until(log, after)`` holds (with streams), or after a pause (without).
    Returns the log of L1's status changes and the heartbeats in order, and L1's position after the trade."""
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    if not streams:
        config = without_streams(config)
    params = override(config.hedge, **{**FAST, "poll_interval_secs": 600, "monitor_timeout_secs": 900})
    journal = Journal(journal_path(tmp_path))
    log: list[tuple] = []
    outcome: dict[str, Any] = {"log": log}
    exchange = venues.venues.venue("lighter").exchange
    publish = venues.venues.venue("lighter").streams.publish

    def trade_outside() -> Decimal:
        account = exchange.account("lighter1")
        symbol, position = next((s, p) for s, p in account.positions.items() if p.size != 0)
        side = Side.BUY if position.size < 0 else Side.SELL
        exchange.submit_order("lighter1", symbol, side, OUTSIDE_TRADE)
        publish()
        return exchange.account("lighter1").positions[symbol].size

    async def main() -> None:
        stop = asyncio.Event()

        def check() -> None:
            if streams and "after" in outcome and until(log, outcome["after"]):
                stop.set()

        receiver = Receiver(log, check)
        await receiver.start()
        async with ConnectorSet(config, data_dir=tmp_path) as connectors:
            built = {name: await connectors.get(name) for name in set(params.roles.values())}
            legs = legs_from_config(built, params)
            traded = asyncio.Event()

            def on_readings(status) -> None:
                leg = status.legs["L1"]
                log.append(("status", leg.position_source, leg.position))
                check()

            monitoring = asyncio.Event()

            def on_event(name: str, data: dict, text: str) -> None:
                if name == "positions":
                    monitoring.set()

            async def trade_when_monitoring() -> None:
                await monitoring.wait()
                if streams:  # the trade must come while L1's stream is trusted (reconciled since it connected)
                    give_up = time.monotonic() + GUARD_SECS
                    while not built["lighter1"].streaming:
                        assert time.monotonic() < give_up, "L1's stream never came up"
                        await asyncio.sleep(0.02)
                log.append(("traded", None, None))  # before the trade: its push may come before the call returns
                outcome["after"] = await asyncio.to_thread(venues.call_sync, trade_outside)
                traded.set()
                check()

            cycle = HedgeCycle(legs, params, journal=journal, data_dir=tmp_path, on_event=on_event,
                               on_readings=on_readings)
            settings = TelemetrySettings(base_url=receiver.url, token=None, group="g",
                                         bots={"BP": "bp", "L1": "l1", "L2": "l2"}, interval_secs=3600)
            heartbeats = asyncio.ensure_future(run_heartbeat_loop(
                settings, lambda: _readings(cycle, params), wake=lambda: cycle.status.pushed))

            async def stop_later() -> None:
                await traded.wait()
                if not streams:
                    await asyncio.sleep(0.5)  # room for a push that must not come; no stream exists to send it
                    outcome["at_stop"] = (cycle.status.legs["L1"].position_source,
                                          cycle.status.legs["L1"].position)
                else:
                    await asyncio.sleep(GUARD_SECS)  # a guard, not a timing claim: the awaited event never came
                stop.set()

            stopper = asyncio.ensure_future(stop_later())
            trader = asyncio.ensure_future(trade_when_monitoring())
            try:
                outcome["result"] = await cycle.run(stop)
            finally:
                for task in (heartbeats, stopper, trader):
                    task.cancel()
                results = await asyncio.gather(heartbeats, stopper, trader, return_exceptions=True)
            failed = [r for r in results if isinstance(r, AssertionError)]
            if failed:
                raise failed[0]
                await receiver.stop()
        journal.close()

    asyncio.run(main())
    return outcome


async def _readings(cycle, params):
    return readings_from_status(cycle.status, params)


def _after_trade(log: list[tuple]) -> list[tuple]:
    return log[next(index for index, entry in enumerate(log) if entry[0] == "traded") + 1:]


def test_a_position_change_at_the_venue_shows_in_the_status_by_push_before_any_rest_read(paper_venues_factory,
                                                                                        tmp_path):
    venues = paper_venues_factory()
    outcome = run_cycle(venues, tmp_path, streams=True, until=lambda log, after: ("status", "venue", after) in log)
    after = outcome["after"]

    statuses = [entry for entry in _after_trade(outcome["log"]) if entry[0] == "status"]
    first_new = next(entry for entry in statuses if entry[2] == after)
    assert first_new == ("status", "stream", after), statuses
    # the REST read the push brought forward confirms it (the reads stay the truth)
    assert ("status", "venue", after) in statuses[statuses.index(first_new):], statuses


def test_a_push_sends_the_next_heartbeat_before_its_interval(paper_venues_factory, tmp_path):
    venues = paper_venues_factory()
    outcome = run_cycle(venues, tmp_path, streams=True,
                        until=lambda log, after: ("heartbeat", "L1", format(after, "f")) in log)
    after = outcome["after"]

    # the interval is an hour: every heartbeat after the first round went out because a stream pushed a change
    later = _after_trade(outcome["log"])
    pushed_at = later.index(next(entry for entry in later if entry[0] == "status" and entry[2] == after))
    assert ("heartbeat", "L1", format(after, "f")) in later[pushed_at:], later


def test_without_streams_the_status_shows_only_what_was_read(paper_venues_factory, tmp_path):
    venues = paper_venues_factory()
    outcome = run_cycle(venues, tmp_path, streams=False)
    after = outcome["after"]

    source, position = outcome["at_stop"]
    assert source == "venue" and position != after
    assert all(entry[1] != "stream" for entry in outcome["log"] if entry[0] == "status")
    assert not [entry for entry in _after_trade(outcome["log"]) if entry[0] == "heartbeat"]


def test_a_pushed_position_is_shown_as_pushed_with_its_age_until_a_read_replaces_it():
    status = CycleStatus("long", {role: LegStatus(role, "c", "v", "ETH") for role in ("BP", "L1", "L2")})
    leg = status.legs["L1"]
    leg.set_position(Decimal("-0.5"), source="venue", at=1000.0)

    assert not status.show_pushed("L1", Decimal("-0.5"), at=1001.0)  # nothing new: the read stays shown
    assert leg.position_source == "venue" and not status.pushed.is_set()
    assert status.show_pushed("L1", Decimal("-0.4"), at=1002.0)
    assert status.pushed.is_set()
    assert (leg.position, leg.position_source) == (Decimal("-0.4"), "stream")
    assert position_cell(leg, now=1005.0).plain == "-0.4 (pushed 3s ago)"
    assert leg.as_dict()["position_source"] == "stream"
    readings = readings_from_status(status, HedgeConfig())
    assert readings["L1"].position_base == Decimal("-0.4")

    leg.set_position(Decimal("-0.4"), source="venue", at=1006.0)
    assert position_cell(leg, now=1006.0).plain == "-0.4"
    leg.position_error = "lighter: 503"
    assert not status.show_pushed("L1", Decimal("0"), at=1007.0)  # a push never clears a failed read
    assert position_cell(leg, now=1008.0).plain == "-0.4 stale 2s (read failed)"
