"""Heartbeat payloads, the one-shot push and the background loop, against a real collector on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from decimal import Decimal

import httpx
import pytest

from hedgectl.telemetry.collector import CollectorServer
from hedgectl.telemetry.heartbeat import (
    RoleReading,
    build_payload,
    push_once,
    run_heartbeat_loop,
    start_heartbeat_task,
)
from hedgectl.telemetry.settings import TelemetrySettings
from tests.telemetry.conftest import TOKEN

READINGS = {
    "BP": RoleReading("ETH_USDC_PERP", "long", Decimal("0.5000"), Decimal("1200.25"), 41.27),
    "L1": RoleReading("ETH", "short", Decimal("-0.5"), Decimal("800"), 12.0),
    "L2": RoleReading("ETH", "long", Decimal("1E-7"), None, None),
}


async def healthy_readings():
    return READINGS


def settings_for(url: str, *, token: str | None = TOKEN, interval: float = 0.2) -> TelemetrySettings:
    return TelemetrySettings(
        base_url=url, token=token, group="hedge-a", bots={"BP": "bp", "L1": "l1", "L2": "l2"}, interval_secs=interval
    )


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until(predicate, *, deadline_secs: float = 10.0, step: float = 0.02):
    """Poll until predicate() holds; fail only when it never does (a guard, not a timing claim)."""
    give_up = time.monotonic() + deadline_secs
    while not predicate():
        assert time.monotonic() < give_up, "condition never held"
        await asyncio.sleep(step)


def test_payload_has_the_old_fields_with_decimal_strings():
    payload = build_payload(settings_for("http://127.0.0.1:1"), "L2", READINGS["L2"], timestamp=1_700_000_000.25)

    assert payload == {
        "timestamp": 1_700_000_000.25,
        "telemetry_interval_secs": 0.2,
        "group": "hedge-a",
        "role": "L2",
        "symbol": "ETH",
        "direction": "long",
        "position_base": "0.0000001",
        "balance_total": None,
        "latency": None,
    }


def test_payload_keeps_the_venue_precision_and_rounds_latency_to_a_tenth():
    payload = build_payload(settings_for("http://127.0.0.1:1"), "BP", READINGS["BP"])

    assert payload["position_base"] == "0.5000"
    assert payload["balance_total"] == "1200.25"
    assert payload["latency"] == 41.3
    assert abs(payload["timestamp"] - time.time()) < 60


def test_payload_for_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="role"):
        build_payload(settings_for("http://127.0.0.1:1"), "L3", READINGS["L1"])


def test_heartbeat_loop_shows_bots_online_then_offline_then_pruned():
    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            settings = settings_for(server.url)
            task = start_heartbeat_task(settings, healthy_readings)

            def online_names():
                return {name for name, bot in status().items() if bot["online"]}

            def status():
                document = server.store.status()
                return {bot["name"]: bot for bot in document["bots"]}

            await wait_until(lambda: online_names() == {"bp", "l1", "l2"})
            payload = status()["l1"]["payload"]
            assert payload["role"] == "L1"
            assert payload["group"] == "hedge-a"
            assert payload["position_base"] == "-0.5"

            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await wait_until(lambda: online_names() == set() and len(status()) == 3)

            async with httpx.AsyncClient(base_url=server.url, headers={"x-auth-token": TOKEN}) as client:
                pruned = (await client.post("/admin/prune")).json()
                remaining = (await client.get("/api/status")).json()["bots"]
            assert sorted(pruned["removed"]) == ["bp", "l1", "l2"]
            assert remaining == []

    asyncio.run(scenario())


def test_push_once_posts_one_heartbeat_per_role_through_http():
    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            report = await push_once(settings_for(server.url), healthy_readings)
            async with httpx.AsyncClient(base_url=server.url, headers={"x-auth-token": TOKEN}) as client:
                bots = (await client.get("/api/status")).json()["bots"]
        return report, bots

    report, bots = asyncio.run(scenario())

    assert report.ok
    assert [(r.role, r.bot_name, r.failure) for r in report.results] == [
        ("BP", "bp", None),
        ("L1", "l1", None),
        ("L2", "l2", None),
    ]
    assert sorted(bot["payload"]["role"] for bot in bots) == ["BP", "L1", "L2"]


def test_push_once_reports_a_failed_venue_read_and_posts_no_made_up_position():
    async def l1_fails():
        return {**READINGS, "L1": ConnectionError("lighter1 read timed out")}

    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            report = await push_once(settings_for(server.url), l1_fails)
            return report, server.store.status()["bots"]

    report, bots = asyncio.run(scenario())

    assert not report.ok
    assert [r.role for r in report.venue_failures] == ["L1"]
    assert "lighter1 read timed out" in report.venue_failures[0].detail
    assert report.collector_failures == ()
    assert sorted(bot["name"] for bot in bots) == ["bp", "l2"]


def test_push_once_reports_every_role_failed_when_the_readings_source_raises():
    async def broken():
        raise RuntimeError("connectors not built")

    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            return await push_once(settings_for(server.url), broken)

    report = asyncio.run(scenario())

    assert [r.failure for r in report.results] == ["venue", "venue", "venue"]
    assert all("connectors not built" in r.detail for r in report.results)


def test_push_once_reports_an_unreachable_collector_per_role():
    settings = settings_for(f"http://127.0.0.1:{unused_port()}")

    report = asyncio.run(push_once(settings, healthy_readings))

    assert [r.failure for r in report.results] == ["collector"] * 3
    assert report.to_dict()["ok"] is False
    assert all(r.detail.startswith("ConnectError") for r in report.results)


def test_push_once_with_a_wrong_token_reports_the_collector_refusal():
    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            return await push_once(settings_for(server.url, token="not-the-token"), healthy_readings)

    report = asyncio.run(scenario())

    assert [r.failure for r in report.collector_failures] == ["collector"] * 3
    assert "HTTP 401" in report.results[0].detail


def test_token_never_appears_in_logs_or_results(caplog):
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with CollectorServer(port=0, token="another-token") as server:
            refused = await push_once(settings_for(server.url), healthy_readings)
        down = await push_once(settings_for(f"http://127.0.0.1:{unused_port()}"), healthy_readings)
        return refused, down

    refused, down = asyncio.run(scenario())

    assert not refused.ok and not down.ok
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(refused.to_dict()) + repr(down.to_dict())
    assert TOKEN not in repr(settings_for("http://127.0.0.1:1"))


def test_loop_keeps_running_while_the_collector_is_down_and_logs_warnings(caplog):
    reports = []

    async def scenario():
        settings = settings_for(f"http://127.0.0.1:{unused_port()}", interval=0.05)
        task = asyncio.get_running_loop().create_task(
            run_heartbeat_loop(settings, healthy_readings, max_backoff_secs=0.1, on_report=reports.append)
        )
        await wait_until(lambda: len(reports) >= 3)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING, logger="hedgectl.telemetry.heartbeat"):
        asyncio.run(scenario())

    assert all(not report.ok for report in reports)
    assert "collector unreachable" in caplog.text


def test_loop_survives_a_readings_source_that_raises():
    calls = []

    async def flaky():
        calls.append(None)
        if len(calls) == 1:
            raise RuntimeError("venue exploded")
        return READINGS

    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            task = start_heartbeat_task(settings_for(server.url, interval=0.05), flaky)
            await wait_until(lambda: len(server.store) == 3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    assert len(calls) >= 2


def test_cancelling_the_loop_stops_it_even_while_a_request_hangs():
    accepted = []

    async def scenario():
        # A server that accepts connections and never answers.
        async def swallow(reader, writer):
            accepted.append(writer)
            await reader.read()

        silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        task = start_heartbeat_task(settings_for(f"http://127.0.0.1:{port}"), healthy_readings, timeout_secs=300)
        await wait_until(lambda: len(accepted) >= 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()

    asyncio.run(scenario())


def test_float_position_is_refused_as_an_unusable_reading_not_published():
    async def float_reading():
        return {**READINGS, "BP": RoleReading("ETH_USDC_PERP", "long", 0.1, Decimal("5"))}

    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            report = await push_once(settings_for(server.url), float_reading)
            return report, [bot["name"] for bot in server.store.status()["bots"]]

    report, names = asyncio.run(scenario())

    assert [(r.role, r.failure) for r in report.venue_failures] == [("BP", "venue")]
    assert "position_base must be a Decimal" in report.venue_failures[0].detail
    assert sorted(names) == ["l1", "l2"]


def test_a_venue_that_keeps_failing_is_warned_about_once_and_its_recovery_noted(caplog):
    rounds = []

    async def l2_down_for_three_rounds():
        rounds.append(None)
        if len(rounds) <= 3:
            return {**READINGS, "L2": ConnectionError("lighter2 down")}
        return READINGS

    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            task = start_heartbeat_task(settings_for(server.url, interval=0.02), l2_down_for_three_rounds)
            await wait_until(lambda: len(rounds) >= 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with caplog.at_level(logging.INFO, logger="hedgectl.telemetry.heartbeat"):
        asyncio.run(scenario())

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "L2" in r.getMessage()]
    assert len(warnings) == 1
    assert "heartbeat L2: venue reads again" in caplog.text


def hedge_status(**positions):
    """A hedge's status as the cycle keeps it, with the given legs read (others never read yet)."""
    from hedgectl.strategies.hedge.status import CycleStatus, LegStatus

    legs = {
        role: LegStatus(role=role, connector=role.lower(), venue="paper", symbol="ETH", position=positions.get(role))
        for role in ("BP", "L1", "L2")
    }
    return CycleStatus(direction="long", legs=legs)


def test_a_hedge_that_has_not_read_its_legs_yet_sends_nothing_and_warns_of_nothing(caplog):
    from hedgectl.config.model import HedgeConfig
    from hedgectl.telemetry.readings import readings_from_status

    status = hedge_status()

    async def source():
        return readings_from_status(status, HedgeConfig())

    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            reports = []
            task = start_heartbeat_task(settings_for(server.url, interval=0.02), source, on_report=reports.append)
            await wait_until(lambda: len(reports) >= 2)
            status.legs["BP"].position = Decimal("0.5")
            await wait_until(lambda: len(server.store) == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return reports

    with caplog.at_level(logging.DEBUG, logger="hedgectl.telemetry.heartbeat"):
        reports = asyncio.run(scenario())

    first = reports[0]
    assert [(r.role, r.failure, r.detail) for r in first.results] == [
        (role, "pending", "not read yet") for role in ("BP", "L1", "L2")
    ]
    assert first.venue_failures == ()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "not read yet" in caplog.text


def test_a_leg_whose_read_failed_is_still_a_venue_failure():
    from hedgectl.config.model import HedgeConfig
    from hedgectl.telemetry.heartbeat import NotReadYet
    from hedgectl.telemetry.readings import UnknownPosition, readings_from_status

    status = hedge_status(BP=Decimal("0.5"))
    status.legs["L1"].position_error = "HTTP 503"

    readings = readings_from_status(status, HedgeConfig())

    assert isinstance(readings["BP"], RoleReading)
    assert isinstance(readings["L1"], UnknownPosition) and str(readings["L1"]) == "HTTP 503"
    assert isinstance(readings["L2"], NotReadYet)


def test_a_pushed_change_sends_the_next_heartbeat_before_the_interval_and_a_burst_sends_one():
    reports = []
    pushed = asyncio.Event()
    order = []

    async def source():
        order.append("read")
        return READINGS

    async def scenario():
        async with CollectorServer(port=0, token=TOKEN) as server:
            settings = settings_for(server.url, interval=3600)  # only a push can bring a second round
            task = asyncio.get_running_loop().create_task(
                run_heartbeat_loop(settings, source, on_report=reports.append, wake=lambda: pushed))
            await wait_until(lambda: len(reports) == 1)
            order.append("pushed")
            for _ in range(5):  # a burst of pushes makes one round, not five
                pushed.set()
            await wait_until(lambda: len(reports) == 2, deadline_secs=30)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())

    assert len(reports) == 2 and all(report.ok for report in reports)
    assert order == ["read", "pushed", "read"]
    assert not pushed.is_set()  # the round that answered the push cleared it for the next one
