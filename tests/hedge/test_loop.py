"""``hedge run --repeat/--forever``: a loop of cycles that stops, between cycles and safe, for each of its reasons.

Real ``hedge run`` processes against paper venues in this test process; flatness is read at the venues, every
cycle's end from the journal, and moments are hit by waiting for the process's own JSON events.
"""

from __future__ import annotations

import json
import signal
import subprocess
from decimal import Decimal

import pytest

from hedgectl.journal import Journal, journal_path
from tests.hedge.test_signals import SignalWorld, events_until

#: a short cycle: waits and monitor of about a second
SHORT = ["--size", "0.5", "--wait-min", "0.2", "--wait-max", "0.3", "--timeout", "1", "--poll-interval", "0.2"]


@pytest.fixture
def world(paper_venues_factory, tmp_path):
    return SignalWorld(paper_venues_factory(kinds=["backpack", "lighter", "telegram"]), tmp_path)


def start_loop(world: SignalWorld, *args: str) -> subprocess.Popen:
    return world.start("hedge", "run", "--json", *args)


def finish(process: subprocess.Popen, seen: list[dict] | None = None) -> tuple[int, list[dict], str]:
    out, err = process.communicate(timeout=180)
    events = list(seen or []) + [json.loads(line) for line in out.splitlines() if line.strip()]
    return process.returncode, events, err


def loop_of(events: list[dict]) -> dict:
    assert events and events[-1]["event"] == "loop", [e["event"] for e in events[-5:]]
    return events[-1]


def journal_cycles(world: SignalWorld) -> list:
    journal = Journal(journal_path(world.data_dir))
    try:
        return journal.history(limit=100)
    finally:
        journal.close()


def collateral(world: SignalWorld) -> Decimal:
    """Every paper account's collateral, summed, by the venues: realised PnL and fees are booked into it."""
    return sum((Decimal(str(account["collateral"])) for kind in ("backpack", "lighter")
                for account in world.venues.state(kind)["accounts"].values()), Decimal(0))


def set_loop_table(world: SignalWorld, **table) -> None:
    """Replace the config's [loop] table (the config holds no secret: they are in its .env)."""
    import tomllib

    import tomli_w

    document = tomllib.loads(world.config.read_text())
    document["loop"] = table
    world.config.write_text(tomli_w.dumps(document))


def assert_safe_end(world: SignalWorld, loop: dict) -> None:
    """All venues flat (by the venues), no order left, every cycle of the loop in the journal and resolved."""
    assert world.flat(), world.positions()
    assert world.open_orders() == 0
    recorded = {cycle.id: cycle for cycle in journal_cycles(world)}
    for cycle in loop["cycles"]:
        if cycle["cycle_id"] is not None:
            assert recorded[cycle["cycle_id"]].resolved, cycle
    assert all(cycle.resolved for cycle in recorded.values())


def test_a_loop_runs_the_cycles_asked_for_each_its_own_journaled_cycle(world):
    code, events, err = finish(start_loop(world, "--repeat", "3", "--pause", "2..2.5", *SHORT))
    assert code == 0, err[-2000:]
    loop = loop_of(events)
    assert loop["cycles_run"] == 3 and loop["stop_reason"] == "done"
    ids = [cycle["cycle_id"] for cycle in loop["cycles"]]
    assert len(set(ids)) == 3 and None not in ids
    assert [e["cycle_id"] for e in events if e["event"] == "summary"] == ids
    assert loop["outcomes"] == {"completed": 3}
    # each cycle counts its own fills only: none sees another's as a position it left open
    assert all(not e["open_legs"] for e in events if e["event"] == "summary")
    per_cycle = sum(Decimal(e["pnl"]["total"]) for e in events if e["event"] == "summary")
    assert Decimal(loop["pnl_total"]) == per_cycle
    assert sum(Decimal(v) for v in loop["pnl_by_day"].values()) == per_cycle
    assert_safe_end(world, loop)
    assert any("Hedge loop stopped" in text and "done" in text for text in world.messages())


def test_a_loop_stops_at_its_total_loss_limit_counted_from_the_fills(world):
    # every cycle pays the venues' fees (about 2.8 at this size): the limit is reached only by adding cycles up
    before = collateral(world)
    code, events, err = finish(start_loop(world, "--repeat", "6", "--pause", "2..2.5", "--max-loss", "total=4",
                                          *SHORT))
    assert code == 3, err[-2000:]
    loop = loop_of(events)
    assert loop["stop_reason"] == "loss_limit_total"
    cycle_pnl = [Decimal(e["pnl"]["total"]) for e in events if e["event"] == "summary"]
    assert len(cycle_pnl) == loop["cycles_run"] >= 2
    assert Decimal(loop["pnl_total"]) == sum(cycle_pnl) <= Decimal(-4)
    assert sum(cycle_pnl[:-1]) > Decimal(-4)  # it stopped at the first cycle that reached the limit
    assert abs((collateral(world) - before) - Decimal(loop["pnl_total"])) < Decimal("0.01")
    assert_safe_end(world, loop)
    assert any("Hedge loop stopped" in text and "loss_limit_total" in text for text in world.messages())


def test_a_daily_loss_limit_stops_the_loop_too(world):
    code, events, err = finish(start_loop(world, "--repeat", "3", "--pause", "2..2.5", "--max-loss", "day=0.01",
                                          *SHORT))
    assert code == 3, err[-2000:]
    loop = loop_of(events)
    assert loop["stop_reason"] == "loss_limit_day" and loop["cycles_run"] == 1
    assert_safe_end(world, loop)


def test_a_loop_stops_after_more_emergency_exits_in_a_row_than_allowed(world):
    process = start_loop(world, "--repeat", "5", "--pause", "2..2.5", "--max-emergency-exits", "1",
                         "--size", "0.5", "--wait-min", "0.2", "--wait-max", "0.3", "--timeout", "30",
                         "--poll-interval", "0.2")
    seen: list[dict] = []
    for _ in range(2):
        seen += events_until(process, lambda e: e["event"] == "phase" and e["phase"] == "monitor")
        world.venues.arm("lighter", "liquidate", account="lighter2")
    code, events, err = finish(process, seen)
    assert code == 3, err[-2000:]
    loop = loop_of(events)
    assert loop["stop_reason"] == "emergency_exits"
    assert loop["cycles_run"] == 2 and loop["outcomes"] == {"emergency_exit": 2}
    assert_safe_end(world, loop)


def test_hedge_stop_during_a_cycle_lets_it_finish_then_ends_the_loop(world):
    process = start_loop(world, "--forever", "--pause", "2..2.5", "--size", "0.5", "--wait-min", "0.2",
                         "--wait-max", "0.3", "--timeout", "6", "--poll-interval", "0.2")
    seen = events_until(process, lambda e: e["event"] == "phase" and e["phase"] == "monitor")
    stopped = world.run("hedge", "stop", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["running"] is True
    code, events, err = finish(process, seen)
    assert code == 0, err[-2000:]
    request = next(e for e in events if e["event"] == "stop_requested")
    assert request["during"] == "cycle"
    loop = loop_of(events)
    assert loop["stop_reason"] == "stop_requested"
    assert loop["cycles_run"] == 1 and loop["outcomes"] == {"completed": 1}
    assert_safe_end(world, loop)
    assert not (world.data_dir / "hedge-loop.stop").exists()


def test_hedge_stop_during_the_pause_ends_the_loop_at_once(world):
    process = start_loop(world, "--forever", "--pause", "600..600", *SHORT)
    seen = events_until(process, lambda e: e["event"] == "pause")
    assert world.run("hedge", "stop").returncode == 0
    code, events, err = finish(process, seen)
    assert code == 0, err[-2000:]
    assert next(e for e in events if e["event"] == "stop_requested")["during"] == "pause"
    loop = loop_of(events)
    assert loop["stop_reason"] == "stop_requested" and loop["cycles_run"] == 1
    assert_safe_end(world, loop)


def test_an_operator_stop_file_ends_the_loop_and_is_left_in_place(world):
    stop_file = world.home / "stop-hedging"
    process = start_loop(world, "--forever", "--pause", "600..600", "--stop-file", str(stop_file), *SHORT)
    seen = events_until(process, lambda e: e["event"] == "pause")
    stop_file.write_text("")
    code, events, err = finish(process, seen)
    assert code == 0, err[-2000:]
    assert loop_of(events)["stop_reason"] == "stop_requested"
    assert stop_file.exists()


def test_the_loop_table_gives_the_defaults_and_a_stop_file_present_at_the_start_ends_it_before_a_cycle(world):
    stop_file = world.home / "no-hedging"
    stop_file.write_text("")
    set_loop_table(world, stop_file=str(stop_file), pause_min_secs=2, pause_max_secs=3)
    code, events, err = finish(start_loop(world, "--forever", *SHORT))
    assert code == 0, err[-2000:]
    loop = loop_of(events)
    assert loop["stop_reason"] == "stop_requested" and loop["cycles_run"] == 0
    assert world.orders_sent() == 0
    assert stop_file.exists()


@pytest.mark.parametrize(("table", "problem"), [
    ({"pause_min_secs": 1}, "loop.pause_min_secs"),
    ({"pause_min_secs": 9, "pause_max_secs": 3}, "loop.pause_min_secs"),
    ({"max_loss_day": 0}, "loop.max_loss_day"),
    ({"max_emergency_exits": -1}, "loop.max_emergency_exits"),
    ({"pause": 5}, "loop.pause"),
])
def test_a_bad_loop_table_is_a_config_error_naming_its_key(world, table, problem):
    set_loop_table(world, **table)
    result = world.run("hedge", "run", "--repeat", "2")
    assert result.returncode == 2, result.stderr
    assert problem in result.stderr
    assert world.orders_sent() == 0


def test_hedge_stop_without_a_running_loop_says_so(world):
    result = world.run("hedge", "stop", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["running"] is False
    assert not (world.data_dir / "hedge-loop.stop").exists()


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]
SIGNAL_IDS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_during_a_cycle_ends_it_safe_and_ends_the_loop(world, signum):
    process = start_loop(world, "--forever", "--pause", "2..2.5", "--size", "0.5", "--wait-min", "0.2",
                         "--wait-max", "0.3", "--timeout", "60", "--poll-interval", "0.2")
    seen = events_until(process, lambda e: e["event"] == "phase" and e["phase"] == "monitor")
    process.send_signal(signum)
    code, events, err = finish(process, seen)
    assert code == 3, err[-2000:]
    loop = loop_of(events)
    assert loop["stop_reason"] == "signal" and loop["cycles_run"] == 1
    assert loop["outcomes"] == {"emergency_exit": 1}
    assert signal.Signals(signum).name in loop["stop_detail"]
    assert "Traceback" not in err
    assert_safe_end(world, loop)
    assert any("Hedge loop stopped" in text and "signal" in text for text in world.messages())


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_during_the_pause_ends_the_loop_at_once_with_130(world, signum):
    process = start_loop(world, "--forever", "--pause", "600..600", *SHORT)
    seen = events_until(process, lambda e: e["event"] == "pause")
    process.send_signal(signum)
    code, events, err = finish(process, seen)
    assert code == 130, err[-2000:]
    loop = loop_of(events)
    assert loop["stop_reason"] == "signal" and loop["cycles_run"] == 1
    assert loop["outcomes"] == {"completed": 1}
    assert "Traceback" not in err
    assert_safe_end(world, loop)


@pytest.mark.parametrize(("args", "message"), [
    (["--repeat", "2", "--forever"], "--repeat and --forever exclude each other"),
    (["--repeat", "0"], "--repeat takes a number of cycles of 1 or more"),
    (["--pause", "9..3", "--repeat", "2"], "--pause: MIN (9) is greater than MAX (3)"),
    (["--pause", "soon", "--forever"], "--pause takes MIN..MAX seconds"),
    (["--pause", "0.5..3", "--forever"], "--pause takes seconds of at least 2"),
    (["--max-loss", "week=5", "--forever"], "--max-loss takes AMOUNT, day=AMOUNT or total=AMOUNT"),
    (["--max-loss", "-5", "--forever"], "--max-loss must be greater than zero"),
    (["--max-emergency-exits", "-1", "--forever"], "--max-emergency-exits cannot be negative"),
    (["--pause", "1..2"], "--pause go with --repeat N or --forever"),
    (["--repeat", "2", "--dry-run"], "--dry-run previews one cycle"),
])
def test_bad_loop_options_are_usage_errors(world, args, message):
    result = world.run("hedge", "run", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert world.orders_sent() == 0


def test_a_paper_loop_needs_no_config_and_runs_three_cycles(cli_subprocess, tmp_path):
    result = cli_subprocess("hedge", "run", "--paper", "--repeat", "3", "--pause", "2..2.5", "--json", *SHORT,
                            cwd=tmp_path)
    assert result.exit_code == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    loop = loop_of(events)
    ids = [cycle["cycle_id"] for cycle in loop["cycles"]]
    assert loop["cycles_run"] == 3 and len(set(ids)) == 3 and None not in ids
    for summary in (e for e in events if e["event"] == "summary"):
        assert summary["outcome"] == "completed"
        assert set(summary["positions"].values()) == {"0"}
    from hedgectl.config.datadir import data_dir_path

    journal = Journal(journal_path(data_dir_path(None, paper=True)))
    try:
        assert all(journal.cycle(cycle_id).resolved for cycle_id in ids)
    finally:
        journal.close()


def test_the_daily_loss_limit_counts_each_utc_day_apart(paper_venues_factory, tmp_path):
    """Cycles over paper venues in this process, dated by an injected clock: one before midnight UTC, two after.
    Each cycle loses its fees (about 2.8): a day limit of 4 is reached on the second day only, at its second cycle."""
    import asyncio
    from datetime import UTC, datetime

    from hedgectl.config.starter import paper_config
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.strategies.hedge.cycle import HedgeCycle, legs_from_config, override
    from hedgectl.strategies.hedge.loop import HedgeLoop, LoopSettings
    from tests.hedge.conftest import FAST

    venues = paper_venues_factory()
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    params = override(config.hedge, **FAST)
    dates = iter([datetime(2026, 12, 5, 23, 59, tzinfo=UTC), datetime(2026, 12, 6, 0, 1, tzinfo=UTC),
                  datetime(2026, 12, 6, 0, 3, tzinfo=UTC)])
    journal = Journal(journal_path(tmp_path))

    async def main():
        async with ConnectorSet(config, data_dir=tmp_path) as connectors:
            built = {name: await connectors.get(name) for name in set(params.roles.values())}

            async def one_cycle(number: int):
                cycle = HedgeCycle(legs_from_config(built, params), params, journal=journal, data_dir=tmp_path)
                return await cycle.run()

            settings = LoopSettings(repeat=5, pause_min_secs=2, pause_max_secs=2, max_loss_day=Decimal(4))
            return await HedgeLoop(settings, one_cycle, now=lambda: next(dates)).run()

    try:
        report = asyncio.run(main())
        assert report.stop_reason.value == "loss_limit_day"
        assert [c.day for c in report.cycles] == ["2026-12-05", "2026-12-06", "2026-12-06"]
        days = report.pnl_by_day()
        assert -days["2026-12-05"] < 4 <= -days["2026-12-06"]
        assert report.exit_code == 3
        assert all(journal.cycle(c.cycle_id).resolved for c in report.cycles)
    finally:
        journal.close()
    sizes = [Decimal(str(position.get("signed_size", 0))) for kind in ("backpack", "lighter")
             for account in venues.state(kind)["accounts"].values() for position in account["positions"]]
    assert all(size == 0 for size in sizes), sizes


def test_a_second_loop_on_the_same_data_directory_is_refused_before_it_trades(world):
    process = start_loop(world, "--forever", "--pause", "600..600", *SHORT)
    seen = events_until(process, lambda e: e["event"] == "pause")
    orders = world.orders_sent()
    second = world.run("hedge", "run", "--repeat", "2", *SHORT)
    assert second.returncode == 2, second.stderr[-2000:]
    assert "a hedge loop already runs" in second.stderr
    assert world.orders_sent() == orders
    process.send_signal(signal.SIGTERM)
    code, events, err = finish(process, seen)
    assert code == 130 and loop_of(events)["cycles_run"] == 1


def test_a_cycle_that_leaves_a_leg_open_stops_the_loop_with_4_and_recovery_ends_flat(world):
    process = start_loop(world, "--repeat", "3", "--pause", "2..2.5", "--size", "0.5", "--wait-min", "0.2",
                         "--wait-max", "0.3", "--timeout", "2", "--poll-interval", "0.2")
    seen = events_until(process, lambda e: e["event"] == "phase" and e["phase"] == "monitor")
    world.venues.arm("lighter", "reject", account="lighter1", count=50)  # L1's flatten is refused every time
    code, events, err = finish(process, seen)
    assert code == 4, err[-2000:]
    loop = loop_of(events)
    assert loop["stop_reason"] == "failed" and loop["cycles_run"] == 1
    assert loop["cycles"][0]["left_open"] and loop["outcomes"] == {"failed": 1}
    assert not world.flat()
    assert any("Hedge loop stopped" in text and "failed" in text for text in world.messages())
    world.venues.clear("lighter")
    recovered = world.run("hedge", "recover", "--yes", "--json")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    assert world.flat() and world.open_orders() == 0
    assert all(cycle.resolved for cycle in journal_cycles(world))


def test_the_loop_stop_message_escapes_what_came_from_a_venue():
    from hedgectl.notify.hedge import format_loop_stopped

    text = format_loop_stopped({
        "group": None, "stop_reason": "refused", "stop_detail": "cycle 2 refused: backpack: <b>maintenance</b> & co",
        "cycles_run": 1, "outcomes": {"completed": 1}, "pnl_by_day": {"2026-12-05": "-2.8"}, "pnl_total": "-2.8",
        "exit_code": 1,
    })
    assert "&lt;b&gt;maintenance&lt;/b&gt; &amp; co" in text
    assert "<b>maintenance</b>" not in text
    assert "Reason: <b>refused</b>" in text and "2026-12-05: -2.8" in text
