"""The hedge cycle against paper venues: every scenario ends flat (checked from the venues' own state)."""

import asyncio
from decimal import Decimal

import pytest

from hedgectl.clock import SimulatedClock
from hedgectl.errors import LockHeld, PreflightFailed, UnresolvedCycle
from hedgectl.model.orders import OrderState
from hedgectl.strategies.hedge.phases import Outcome


@pytest.mark.parametrize("direction", ["long", "short"])
def test_a_full_cycle_ends_flat_with_pnl_reported(hedge_run, direction):
    run = hedge_run(direction=direction)
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()
    assert run.venues.exchange_audit() == []
    assert set(run.result.pnl) == {"BP", "L1", "L2", "total"}
    assert run.result.pnl["total"] == sum(run.result.pnl[r] for r in ("BP", "L1", "L2"))
    assert run.result.pnl["total"] < 0  # fees and spread: a round trip on paper never earns money
    bp_entry = run.orders("BP", "entry")[0]
    assert bp_entry.intent.side.value == ("buy" if direction == "long" else "sell")
    l1 = run.orders("L1", "hedge")[0]
    assert l1.intent.side is not bp_entry.intent.side
    assert l1.intent.size == bp_entry.filled_size
    phases = [data["phase"] for name, data in run.events if name == "phase"]
    assert phases == ["bp_entry", "l1_hedge", "wait", "l2_entry", "rebalance", "monitor", "flatten", "done"]


def test_l1_rejected_after_bp_filled_unwinds_bp(hedge_run):
    run = hedge_run(before=lambda v: v.arm("lighter", "reject", account="lighter1", count=20))
    assert run.result.outcome is Outcome.EMERGENCY_EXIT
    assert "L1" in run.result.reason
    assert run.all_flat()
    assert run.orders("BP", "entry")[0].filled_size > 0
    assert all(o.filled_size == 0 for o in run.orders("L1"))


def test_partial_bp_fill_is_hedged_for_exactly_the_filled_size(hedge_run):
    run = hedge_run(before=lambda v: v.arm("backpack", "partial_fill", fraction="0.5", count=1))
    entry = run.orders("BP", "entry")
    assert len(entry) == 1  # the rest is not chased: what filled is hedged at once
    assert entry[0].filled_size == Decimal("0.25")
    hedges = run.orders("L1", "hedge")
    assert sum(o.filled_size for o in hedges) == Decimal("0.25")
    assert hedges[0].intent.size == Decimal("0.25")
    assert run.result.outcome is Outcome.COMPLETED
    assert run.all_flat()


def test_bp_rebalance_failing_ends_in_an_emergency_exit_that_is_flat(hedge_run):
    run = hedge_run(at_phase={"rebalance": lambda v: v.arm("backpack", "reject", count=1)})
    assert run.result.outcome is Outcome.EMERGENCY_EXIT
    assert "rebalance" in run.result.reason
    assert run.all_flat()


def test_l2_liquidated_while_monitored_triggers_an_emergency_exit_that_ends_flat(hedge_run):
    run = hedge_run(
        monitor_timeout_secs=10,
        at_phase={"monitor": lambda v: v.arm("lighter", "liquidate", account="lighter2")},
    )
    assert run.result.outcome is Outcome.EMERGENCY_EXIT
    assert "liquidated" in run.result.reason and "L2" in run.result.reason
    assert run.all_flat()


def test_read_errors_while_monitored_are_unknown_not_an_emergency(hedge_run):
    run = hedge_run(at_phase={"monitor": lambda v: v.arm("lighter", "error", status=503, count=4)})
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()


@pytest.mark.parametrize(
    ("venue", "account", "phase"),
    [("backpack", "backpack", None), ("lighter", "lighter1", None), ("lighter", "lighter2", "l2_entry")],
)
def test_a_lost_answer_on_any_leg_never_duplicates_an_order(hedge_run, venue, account, phase):
    arm = lambda v: v.arm(venue, "drop_after_execute", account=account, count=1)  # noqa: E731
    run = hedge_run(before=None if phase else arm, at_phase={phase: arm} if phase else None)
    assert run.venues.exchange_audit() == []
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()
    states = [o.state for role in ("BP", "L1", "L2") for o in run.orders(role)]
    assert OrderState.UNKNOWN not in states


def test_interrupt_during_the_wait_exits_safely_and_flat(hedge_run):
    run = hedge_run(wait_min_secs=5, wait_max_secs=5, stop_at_phase="wait")
    assert run.result.outcome is Outcome.EMERGENCY_EXIT
    assert "interrupted" in run.result.reason
    assert run.all_flat()


def test_a_second_cycle_on_the_same_accounts_is_refused_while_one_runs(hedge_run, paper_venues_factory):
    venues = paper_venues_factory()
    refused = []

    def attempt(v):
        try:
            hedge_run(venues=v)
        except LockHeld as exc:
            refused.append(str(exc))

    def try_second(v):  # from another thread: the first cycle's event loop is running this hook
        import threading

        worker = threading.Thread(target=attempt, args=(v,))
        worker.start()
        worker.join(timeout=30)

    run = hedge_run(venues=venues, at_phase={"wait": try_second})
    assert refused and "in use" in refused[0]
    assert run.result.outcome is Outcome.COMPLETED
    assert run.all_flat()


def test_an_unresolved_cycle_blocks_a_new_one_until_recovered(hedge_run, paper_venues_factory, tmp_path):
    from hedgectl.journal import Journal, journal_path

    venues = paper_venues_factory()
    first = hedge_run(venues=venues)
    journal = Journal(journal_path(tmp_path))
    cycle = journal.cycle(first.result.cycle_id)
    stale = journal.start_cycle(direction="long", accounts=cycle.accounts, params=cycle.params, pid=1)
    journal.close()
    with pytest.raises(UnresolvedCycle, match=stale):
        hedge_run(venues=venues)


def test_an_existing_position_is_refused_unless_allowed(hedge_run, paper_venues_factory):
    venues = paper_venues_factory()
    hedge_run(venues=venues, direction="long")
    with pytest.raises(PreflightFailed, match="holds"):
        hedge_run(venues=venues, before=lambda v: _open_backpack_position(v))


def _open_backpack_position(venues):
    import asyncio

    from hedgectl.config.starter import paper_config
    from hedgectl.model.orders import Side
    from hedgectl.connectors.factory import build_connector

    config = paper_config(venues.accounts_document())

    async def trade():
        async with build_connector(config.connectors["backpack"]) as connector:
            handle = await connector.submit_market_order("ETH_USDC_PERP", Side.BUY, Decimal("0.1"))
            await handle.wait_final(5)

    asyncio.run(trade())


def test_grvt_can_be_the_bridge_and_the_cycle_still_ends_flat(hedge_run):
    run = hedge_run(roles={"BP": "grvt", "L1": "lighter1", "L2": "lighter2"}, symbols={
        "backpack": "ETH_USDC_PERP", "lighter": "ETH", "grvt": "ETH_USDT_Perp"})
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.orders("BP", "entry")[0].intent.venue == "grvt"
    positions = {}
    for kind in ("grvt", "lighter"):
        for name, account in run.venues.state(kind)["accounts"].items():
            positions[name] = account["positions"]
    assert all(not [p for p in held if Decimal(str(p.get("signed_size", 0))) != 0] for held in positions.values())
    assert run.venues.exchange_audit() == []


def test_an_order_whose_answer_stays_lost_is_settled_at_the_venue_before_the_cycle_counts_as_resolved(hedge_run):
    lose_every_answer = lambda v: v.arm(  # noqa: E731
        "lighter", "error", account="lighter1", path="/api/v1/sendTx", status=502, count=3
    )
    run = hedge_run(at_phase={"flatten": lose_every_answer}, clock=SimulatedClock())
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()
    cycle = run.journal.cycle(run.result.cycle_id)
    assert cycle.resolved
    assert all(order.is_final for order in cycle.orders)
    [lost] = [o for o in cycle.orders_for("L1") if o.purpose == "flatten" and o.state is OrderState.FAILED]
    assert "never landed" in lost.reason


def test_a_close_refused_and_partly_filled_again_and_again_is_retried_until_flat(hedge_run):
    def trouble(venues):
        venues.arm("lighter", "reject", account="lighter1", count=3)
        venues.arm("lighter", "partial_fill", account="lighter1", fraction="0.5", count=2)

    run = hedge_run(at_phase={"flatten": trouble})
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()
    assert len(run.orders("L1", "flatten")) == 6


def test_no_second_l1_hedge_is_sent_while_the_first_is_still_being_resolved(hedge_run):
    seen = {}

    def lose_the_l1_answer(venues):
        # the sendTx answer is lost and the lookup that resolves it is slower than the order timeout
        venues.arm("lighter", "error", account="lighter1", path="/api/v1/sendTx", status=503, count=1)
        venues.arm("lighter", "latency", account="lighter1", path="/api/v1/accountOrders", ms=2500, count=1)

    def at_wait(venues):
        seen["L1"] = run_positions(venues, "lighter", "lighter1")
        seen["BP"] = run_positions(venues, "backpack", "backpack")

    run = hedge_run(order_timeout_secs=1.0, at_phase={"l1_hedge": lose_the_l1_answer, "wait": at_wait})
    assert len(run.orders("L1", "hedge")) == 1
    assert seen["L1"] == -seen["BP"]  # hedged exactly, never twice
    assert run.venues.exchange_audit() == []
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()


def run_positions(venues, kind, account):
    return sum((Decimal(str(p["signed_size"])) for p in venues.state(kind)["accounts"][account]["positions"]),
               Decimal(0))


def test_an_event_output_that_breaks_mid_cycle_does_not_stop_the_flatten(hedge_run):
    from hedgectl.strategies.hedge import cycle as cycle_module

    broken = {"on": False}
    original = cycle_module.HedgeCycle._emit

    def on_event_breaks_after_the_bp_fill(self, name, text, **data):
        if name == "fill" and data.get("role") == "BP":
            broken["on"] = True
        if broken["on"] and self.on_event is not None:
            def closed_pipe(*_args):
                raise BrokenPipeError(32, "Broken pipe")
            self.on_event = closed_pipe  # what --json meets when the reader of stdout has gone (| head)
        return original(self, name, text, **data)

    cycle_module.HedgeCycle._emit = on_event_breaks_after_the_bp_fill
    try:
        run = hedge_run()
    finally:
        cycle_module.HedgeCycle._emit = original
    assert broken["on"]
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()


class NotifierThatNeverAnswers:
    def __init__(self):
        self.calls = []

    async def hedge_started(self, status):
        self.calls.append("start")

    async def hedge_finished(self, result):
        self.calls.append("finish")

    async def liquidation_warning(self, leg, distance):
        self.calls.append("warning")
        await asyncio.Event().wait()  # Telegram that never answers


def test_a_notifier_that_never_answers_does_not_hold_up_the_monitor(hedge_run, monkeypatch):
    from hedgectl.strategies.hedge import state

    monkeypatch.setattr(state, "NOTIFY_DRAIN_SECS", 0.5)
    notifier = NotifierThatNeverAnswers()
    # a position big enough for the venue to quote a liquidation price, and a threshold that always warns
    run = hedge_run(notifier=notifier, liquidation_warning_pct=Decimal("0.99"), monitor_timeout_secs=1.5,
                    size=Decimal("5"), leverage=Decimal("10"))
    polls = [data for name, data in run.events if name == "positions"]
    assert "warning" in notifier.calls
    assert len(polls) >= 2  # the monitor kept reading after the warning went out
    assert run.result.outcome is Outcome.COMPLETED
    assert run.all_flat()


def test_status_of_a_failed_cycle_that_left_a_position_open_exits_4(hedge_run, cli, tmp_path):
    from hedgectl.config.starter import paper_document, write_config

    run = hedge_run(at_phase={"flatten": lambda v: v.arm("lighter", "reject", account="lighter1", count=50)})
    assert run.result.outcome is Outcome.FAILED and run.result.open_positions
    document, secrets = paper_document(run.venues.accounts_document())
    document["general"]["data_dir"] = str(tmp_path)  # where hedge_run keeps its journal
    config = tmp_path / "conf" / "hedgectl.toml"
    write_config(config, document, secrets)
    result = cli("--config", str(config), "hedge", "status", "--json")
    assert result.exit_code == 4
    assert '"resolved": false' in result.stdout


def test_recovery_with_a_venue_down_reports_it_and_leaves_the_cycle_unresolved(hedge_run, paper_venues_factory,
                                                                               tmp_path):
    from hedgectl.config.starter import paper_config
    from hedgectl.journal import Journal, journal_path
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.strategies.hedge.recovery import recover_all

    venues = paper_venues_factory()
    first = hedge_run(venues=venues)
    journal = Journal(journal_path(tmp_path))
    cycle = journal.cycle(first.result.cycle_id)
    journal.start_cycle(direction="long", accounts=cycle.accounts, params=cycle.params, pid=1)
    venues.arm("lighter", "down", seconds=30)
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)

    async def recover():
        async with ConnectorSet(config, data_dir=tmp_path) as connectors:
            return await recover_all(journal, connectors, data_dir=tmp_path)

    (report,) = asyncio.run(recover())
    venues.clear("lighter")
    assert report.resolved is False
    assert any("venue error" in problem for problem in report.problems)
    assert len(journal.unresolved_cycles()) == 1
    journal.close()


def test_the_rebalance_after_l2_goes_out_on_the_fills_before_any_read_and_is_then_verified(hedge_run):
    run = hedge_run()
    after_l2 = [(name, data) for name, data in run.events
                if name in ("rebalance", "intent") and data.get("purpose", "rebalance") == "rebalance"]
    first, second = after_l2[0], after_l2[1]
    assert first == ("rebalance", first[1]) and first[1]["source"] == "fills"
    assert second[0] == "intent"  # the BP order is sent without waiting for a position read
    verified = [data for name, data in after_l2 if name == "rebalance" and data["source"] == "venues"]
    assert verified and verified[-1]["positions"]["BP"] == "0"
    assert run.result.outcome is Outcome.COMPLETED


@pytest.mark.parametrize("lag_ms", [1500, 7000])
def test_records_trailing_the_venues_with_lost_answers_never_duplicate_and_end_flat(hedge_run, lag_ms):
    def lagging(v):
        for venue in ("backpack", "lighter"):
            v.arm(venue, "lag", ms=lag_ms)
        v.arm("lighter", "drop_after_execute", account="lighter1", count=1)
        v.arm("backpack", "drop_after_execute", account="backpack", count=1)

    run = hedge_run(before=lagging, clock=SimulatedClock())
    assert run.venues.exchange_audit() == []
    assert run.all_flat(), run.positions()
    assert run.result.outcome in (Outcome.COMPLETED, Outcome.EMERGENCY_EXIT), run.result.reason
    for role in ("BP", "L1", "L2"):
        assert all(order.is_final for order in run.orders(role)), run.orders(role)


@pytest.mark.parametrize("role, account", [("L1", "lighter1"), ("L2", "lighter2")])
def test_a_lighter_leg_whose_accepted_order_then_fails_ends_safe_with_its_naked_window(hedge_run, role, account):
    run = hedge_run(before=lambda v: v.arm("lighter", "reject_after_accept", account=account, count=1))
    refused = [o for o in run.orders(role) if o.state is OrderState.FAILED]
    assert refused and refused[0].filled_size == 0  # accepted by sendTx, then refused: never filled
    assert run.result.naked_window_ms is not None
    assert run.result.as_dict()["naked_window_ms"] is not None
    assert run.all_flat()
    assert run.result.outcome in (Outcome.COMPLETED, Outcome.EMERGENCY_EXIT)
