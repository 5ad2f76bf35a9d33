"""``hedgectl sim chaos``: small rehearsals end with no unsafe end state and no duplicate; plans replay from a seed."""

from __future__ import annotations

import json
from decimal import Decimal

from hedgectl.rehearsal.plan import CyclePlan, cycle_seed, plan_cycle
from hedgectl.rehearsal.runner import ChaosRunner
from hedgectl.sim.exchange.records import Side
from hedgectl.sim.faults import FaultKind


def test_a_small_rehearsal_ends_without_unsafe_end_states_or_duplicates(cli):
    result = cli("sim", "chaos", "--cycles", "6", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert report["counts"]["cycles"] == 6
    assert report["counts"]["unsafe"] == 0
    assert report["counts"]["duplicates"] == 0
    assert sum(report["outcomes"].values()) == 6
    assert report["failing"] == []


def test_killed_hedge_processes_are_recovered_to_a_safe_end_state(cli):
    # seed 10: both cycles are killed within 130 ms of starting to trade, one with its BP entry still in flight
    result = cli("sim", "chaos", "--cycles", "2", "--kill", "--seed", "10", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    counts = json.loads(result.stdout)["counts"]
    assert counts["killed"] == 2
    assert counts["recoveries_needed"] >= 1
    assert counts["recoveries_succeeded"] == counts["recoveries_needed"]
    assert counts["unsafe"] == 0 and counts["duplicates"] == 0


def test_replay_runs_exactly_the_cycle_of_a_seed(cli):
    seed = cycle_seed(1, 3)
    result = cli("sim", "chaos", "--replay", str(seed), "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert report["counts"]["cycles"] == 1 and report["seed"] is None


def test_the_human_report_is_a_table_with_every_row(cli):
    result = cli("sim", "chaos", "--cycles", "1", "--seed", "4")
    assert result.exit_code == 0, result.output[-3000:]
    for row in ("outcomes", "unsafe end states", "duplicates", "longest naked window",
                "recoveries needed / succeeded", "failing seeds"):
        assert row in result.stdout


def test_a_cycle_plan_is_a_function_of_its_seed_alone():
    seed = cycle_seed(7, 12)
    assert plan_cycle(seed) == plan_cycle(seed)
    assert plan_cycle(seed, kill=True).kill_after is not None and plan_cycle(seed).kill_after is None
    assert len({cycle_seed(7, index) for index in range(100)}) == 100


def test_the_schedules_draw_every_fault_kind():
    from hedgectl.rehearsal.plan import DRAWN_KINDS

    drawn = {fault.kind for index in range(60) for fault in plan_cycle(cycle_seed(1, index)).faults}
    # stream faults are not drawn: they would change the plan of every recorded seed
    streams = {kind for kind in FaultKind if kind.value.startswith("stream_")}
    assert drawn == set(DRAWN_KINDS) == set(FaultKind) - {FaultKind.LAG} - streams


def test_an_order_landing_after_its_cycle_was_checked_is_caught_by_the_final_sweep():
    quiet = CyclePlan(seed=5, direction="long", l2_side="same", size=Decimal("0.2"), wait_secs=(0.05, 0.05),
                      monitor_secs=0.3, faults=())
    with ChaosRunner() as runner:
        report = runner.run_cycle(0, quiet)
        assert not report.failed, report.as_dict()
        bp = report.legs[0]
        exchange = runner.venues.venues.venue("backpack").exchange
        runner.venues.call_sync(lambda: exchange.submit_order(bp.account, bp.symbol, Side.BUY, Decimal("0.1")))
        changed = runner.sweep(settle_secs=0)
    assert changed == [report]
    assert any("net exposure 0.1" in reason for reason in report.unsafe_reasons)
    assert "changed after the cycle was checked" in report.problems[-1]


def test_a_rehearsal_with_grvt_as_the_bridge_trades_the_bp_leg_on_grvt(cli):
    result = cli("sim", "chaos", "--bridge", "grvt", "--cycles", "3", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert report["bridge"] == "grvt" and report["bridges"] == {"grvt": 3}
    assert report["counts"]["unsafe"] == 0 and report["counts"]["duplicates"] == 0


def test_a_grvt_bridged_cycle_is_judged_from_the_grvt_books():
    quiet = CyclePlan(seed=5, direction="short", l2_side="same", size=Decimal("0.2"), wait_secs=(0.05, 0.05),
                      monitor_secs=0.3, faults=(), bridge="grvt", bridge_choice="grvt")
    with ChaosRunner(bridge="grvt") as runner:
        report = runner.run_cycle(0, quiet)
        assert not report.failed, report.as_dict()
        bp = report.legs[0]
        assert (bp.venue, bp.symbol) == ("grvt", "ETH_USDT_Perp")
        grvt = runner.venues.venues.venue("grvt").exchange
        entry = [order for order in grvt.find_orders(bp.account, symbol=bp.symbol) if order.executed_quantity]
        assert entry and entry[0].side is Side.SELL  # the short entry went to GRVT, not to a Backpack account
        # a naked GRVT position staged after the cycle shows up as unsafe: the checker reads GRVT's books
        runner.venues.call_sync(lambda: grvt.submit_order(bp.account, bp.symbol, Side.BUY, Decimal("0.05")))
        changed = runner.sweep(settle_secs=0)
    assert changed == [report]
    assert any("net exposure 0.05" in reason for reason in report.unsafe_reasons)


def test_mixed_bridges_are_drawn_per_cycle_without_changing_the_rest_of_the_plan():
    seeds = [cycle_seed(2, index) for index in range(40)]
    mixed = [plan_cycle(seed, bridge="mixed") for seed in seeds]
    assert {plan.bridge for plan in mixed} == {"backpack", "grvt"}
    for seed, plan in zip(seeds, mixed):
        assert plan == plan_cycle(seed, bridge="mixed")  # replayable
        on_backpack = plan_cycle(seed)
        assert (plan.direction, plan.size, plan.wait_secs, plan.monitor_secs) == (
            on_backpack.direction, on_backpack.size, on_backpack.wait_secs, on_backpack.monitor_secs)
        assert [f.kind for f in plan.faults] == [f.kind for f in on_backpack.faults]
        for fault in plan.faults:
            if fault.role == "BP":
                assert fault.venue == plan.bridge
            if dict(fault.options).get("path") and fault.venue == "grvt":
                assert dict(fault.options)["path"] == "/full/v1/create_order"


def test_grvt_bridged_failing_cycles_replay_with_their_bridge():
    from hedgectl.rehearsal.report import CycleReport

    plan = plan_cycle(cycle_seed(2, 0), bridge="mixed")
    hint = CycleReport(index=0, plan=plan, kill=True).replay_hint()
    assert hint == f"--replay {plan.seed} --kill --bridge mixed"
    assert CycleReport(index=0, plan=plan_cycle(plan.seed), kill=False).replay_hint() == f"--replay {plan.seed}"


def test_an_unknown_bridge_is_a_usage_error(cli):
    result = cli("sim", "chaos", "--bridge", "kraken", "--cycles", "1")
    assert result.exit_code == 2
    assert "--bridge must be one of backpack, grvt, mixed" in result.output


def test_lag_adds_trailing_records_from_a_stream_of_its_own():
    seeds = [cycle_seed(3, index) for index in range(40)]
    with_lag = [plan_cycle(seed, lag=True) for seed in seeds]
    lagged = [plan for plan in with_lag if any(f.kind is FaultKind.LAG for f in plan.faults)]
    assert 10 <= len(lagged) <= 35
    for seed, plan in zip(seeds, with_lag):
        plain = plan_cycle(seed)
        assert plan.faults[:len(plain.faults)] == plain.faults  # the rest of the plan is the seed's own
        assert all(dict(f.options)["ms"] in (300, 1500, 4000, 8000) for f in plan.faults[len(plain.faults):])
    from hedgectl.rehearsal.report import CycleReport

    assert CycleReport(index=0, plan=lagged[0], kill=False).replay_hint() == f"--replay {lagged[0].seed} --lag"


def test_a_rehearsal_with_trailing_records_ends_safe(cli):
    result = cli("sim", "chaos", "--lag", "--cycles", "2", "--seed", "11", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert report["fault_kinds"]["lag"] >= 1
    assert report["counts"]["unsafe"] == 0 and report["counts"]["duplicates"] == 0


def test_streams_add_stream_faults_from_a_stream_of_their_own_on_the_venues_that_serve_streams():
    from hedgectl.rehearsal.plan import STREAM_DRAWN_KINDS
    from hedgectl.rehearsal.report import CycleReport

    seeds = [cycle_seed(5, index) for index in range(60)]
    with_streams = [plan_cycle(seed, streams=True, bridge="mixed") for seed in seeds]
    drawn = {f.kind for plan in with_streams for f in plan.faults if f.kind in STREAM_DRAWN_KINDS}
    assert drawn == set(STREAM_DRAWN_KINDS) == {kind for kind in FaultKind if kind.value.startswith("stream_")}
    streamed = [plan for plan in with_streams if any(f.kind in STREAM_DRAWN_KINDS for f in plan.faults)]
    assert 20 <= len(streamed) <= 55
    for seed, plan in zip(seeds, with_streams):
        plain = plan_cycle(seed, bridge="mixed")
        assert plan.faults[:len(plain.faults)] == plain.faults  # the rest of the plan is the seed's own
        added = plan.faults[len(plain.faults):]
        assert all(f.kind in STREAM_DRAWN_KINDS and f.venue in ("backpack", "lighter", "grvt") and f.role
                   for f in added)
    assert CycleReport(index=0, plan=streamed[0], kill=False).replay_hint().endswith(" --streams")


def test_streams_also_draw_stream_faults_for_a_grvt_bridge_leg_and_leave_the_plan_alone_without_the_flag():
    from hedgectl.rehearsal.plan import STREAM_DRAWN_KINDS

    seeds = [cycle_seed(7, index) for index in range(60)]
    added = []
    for seed in seeds:
        plain = plan_cycle(seed, bridge="grvt")
        assert not [f for f in plain.faults if f.kind in STREAM_DRAWN_KINDS]
        assert plan_cycle(seed, bridge="grvt") == plain
        with_streams = plan_cycle(seed, bridge="grvt", streams=True)
        assert with_streams.faults[:len(plain.faults)] == plain.faults
        added += with_streams.faults[len(plain.faults):]
    on_grvt = {f.kind for f in added if f.venue == "grvt"}
    assert all(f.role == "BP" for f in added if f.venue == "grvt")
    assert on_grvt and on_grvt <= set(STREAM_DRAWN_KINDS)


def test_a_rehearsal_with_stream_faults_on_a_grvt_bridge_ends_safe(cli):
    result = cli("sim", "chaos", "--streams", "--bridge", "grvt", "--cycles", "3", "--seed", "4", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert report["bridges"] == {"grvt": 3}
    assert report["counts"]["unsafe"] == 0 and report["counts"]["duplicates"] == 0
    assert report["failing"] == []


def test_a_rehearsal_with_stream_faults_ends_safe(cli):
    result = cli("sim", "chaos", "--streams", "--cycles", "3", "--seed", "2", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    assert sum(count for kind, count in report["fault_kinds"].items() if kind.startswith("stream_")) >= 1
    assert report["counts"]["unsafe"] == 0 and report["counts"]["duplicates"] == 0
    assert report["failing"] == []


def test_signals_come_from_a_stream_of_their_own_and_cover_every_kind_and_phase():
    from dataclasses import replace

    from hedgectl.rehearsal.signals import SIGNAL_KINDS, SIGNAL_PHASES

    seeds = [cycle_seed(5, index) for index in range(80)]
    plans = [plan_cycle(seed, signals=True) for seed in seeds]
    for seed, plan in zip(seeds, plans):
        assert plan == plan_cycle(seed, signals=True)  # replayable
        assert replace(plan, stop_signal=None) == plan_cycle(seed)  # the rest of the plan is the seed's own
    assert {plan.stop_signal.kind for plan in plans} == set(SIGNAL_KINDS)
    assert {plan.stop_signal.phase for plan in plans} == set(SIGNAL_PHASES)
    from hedgectl.rehearsal.report import CycleReport

    assert CycleReport(index=0, plan=plans[0], kill=False).replay_hint() == f"--replay {plans[0].seed} --signals"


def test_a_signals_rehearsal_sends_real_signals_and_every_cycle_ends_flat_and_resolved(cli):
    # seed 3: a double SIGINT in the BP entry, a double SIGINT in the monitor, a SIGTERM in the L2 entry
    result = cli("sim", "chaos", "--signals", "--cycles", "3", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    counts = report["counts"]
    assert report["signals"] is True
    assert counts["signalled"] >= 2
    assert counts["unsafe"] == 0 and counts["duplicates"] == 0 and counts["problems"] == 0
    assert counts["recoveries_succeeded"] == counts["recoveries_needed"]
    table = cli("sim", "chaos", "--signals", "--replay", str(cycle_seed(3, 2)))
    assert table.exit_code == 0, table.output[-3000:]
    assert "hedgectl sim chaos --signals (replay)" in table.stdout
    assert "SIGTERM" in table.stdout


def test_kill_and_signals_are_separate_rehearsals(cli):
    result = cli("sim", "chaos", "--kill", "--signals", "--cycles", "1")
    assert result.exit_code == 2
    assert "--kill and --signals" in result.stderr


def test_a_rehearsal_started_under_nohup_still_hangs_up_its_hedge_processes(tmp_path):
    import signal
    import subprocess
    import sys

    from hedgectl.rehearsal.signals import draw_signal

    seed = 7925821228377965858  # a SIGHUP in the wait; the cycle's one fault slows BP's entry
    assert (draw_signal(seed).kind, draw_signal(seed).phase) == ("SIGHUP", "wait")
    rehearsal = subprocess.run(
        [sys.executable, "-m", "hedgectl", "sim", "chaos", "--signals", "--replay", str(seed), "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # as nohup starts it
    )
    assert rehearsal.returncode == 0, rehearsal.stderr[-2000:]
    report = json.loads(rehearsal.stdout)
    assert report["counts"]["signalled"] == 1
    # a hangup the child ignored would let it complete (exit 0)
    assert report["outcomes"] == {"emergency_exit": 1} and report["exit_codes"] == {"3": 1}
