"""A liquidation pushed by a leg's account stream starts the emergency exit at once, before any REST read confirms
it; the exit still flattens from the venues' own answers, and a push never counts as proof that a leg is flat."""

from __future__ import annotations

import time
from typing import Any

from hedgectl.strategies.hedge.phases import Outcome

KINDS = ("backpack", "lighter")
ORDER_PATHS = frozenset({"/api/v1/sendTx", "/api/v1/sendTxBatch"})
ACCOUNT_PATH = "/api/v1/account"


class Liquidation:
    """Liquidates a leg (L2 by default) after the monitor's first reading, and records what reached the venues from then on until the
    cycle announced its emergency exit."""

    def record(self, venues: Any) -> None:
        self.arrivals = {kind: venues.call_sync(venues.venues.venue(kind).record_arrivals) for kind in KINDS}

    def __init__(self, venue: str = "lighter", account: str = "lighter2") -> None:
        self.venue, self.account = venue, account
        self.arrivals: dict[str, Any] = {}
        self.at: float | None = None
        self.before_exit: list[tuple[str, str, str]] | None = None

    def liquidate(self, venues: Any) -> None:
        if self.at is None:
            self.at = time.perf_counter()
            venues.arm(self.venue, "liquidate", account=self.account)

    def exit_started(self, venues: Any) -> None:
        if self.before_exit is None and self.at is not None:
            self.before_exit = [(kind, method, path) for kind in KINDS
                                for at, method, path in venues.call_sync(lambda kind=kind: list(self.arrivals[kind]))
                                if at > self.at]


def test_a_pushed_liquidation_starts_the_exit_before_any_request_confirms_it(hedge_run):
    liquidation = Liquidation()
    # the poll comes every 600 s, beyond the test timeout: only the push can start the exit
    run = hedge_run(before=liquidation.record, poll_interval_secs=600, monitor_timeout_secs=900,
                    at_event={"positions": liquidation.liquidate, "emergency": liquidation.exit_started})

    assert run.result.outcome is Outcome.EMERGENCY_EXIT, run.result.reason
    assert "L2" in run.result.reason and "pushed by its account stream" in run.result.reason
    assert liquidation.before_exit == []  # no position or trades read between the liquidation and the exit
    assert run.all_flat()
    assert run.venues.exchange_audit() == []


def test_a_pushed_backpack_liquidation_starts_the_exit_before_any_request_confirms_it(hedge_run):
    liquidation = Liquidation("backpack", "backpack")
    # L2 on the side opposite BP leaves BP open through the monitor (BP = -(L1 + L2) = twice the size)
    run = hedge_run(before=liquidation.record, poll_interval_secs=600, monitor_timeout_secs=900, l2_side="opposite",
                    at_event={"positions": liquidation.liquidate, "emergency": liquidation.exit_started})

    assert run.result.outcome is Outcome.EMERGENCY_EXIT, run.result.reason
    assert "BP" in run.result.reason and "pushed by its account stream" in run.result.reason
    assert liquidation.before_exit == []
    assert run.all_flat()


def test_the_exit_sends_the_first_close_from_the_pushed_position_without_reading_it_first(hedge_run):
    liquidation = Liquidation()
    run = hedge_run(before=liquidation.record, poll_interval_secs=600, monitor_timeout_secs=900,
                    at_event={"positions": liquidation.liquidate})

    assert run.result.outcome is Outcome.EMERGENCY_EXIT, run.result.reason
    # L1 and L2 share the paper Lighter: L2's flatten reads its position (a push proves nothing flat), L1's close
    # goes out without a read of its own first
    after = [path for at, _, path in run.venues.call_sync(lambda: list(liquidation.arrivals["lighter"]))
             if at > liquidation.at]
    first_order = next(index for index, path in enumerate(after) if path in ORDER_PATHS)
    assert after[:first_order].count(ACCOUNT_PATH) <= 1, after[:first_order + 1]
    closes = run.orders("L1", "flatten")
    assert closes and closes[0].intent.reduce_only
    assert run.all_flat()


def test_without_streams_the_liquidation_is_confirmed_by_the_venue_reads(hedge_run):
    liquidation = Liquidation()
    run = hedge_run(before=liquidation.record, poll_interval_secs=0.25, monitor_timeout_secs=900, streams=False,
                    at_event={"positions": liquidation.liquidate, "emergency": liquidation.exit_started})

    assert run.result.outcome is Outcome.EMERGENCY_EXIT, run.result.reason
    assert "L2" in run.result.reason and "pushed" not in run.result.reason
    assert liquidation.before_exit  # the reads that found it
    assert run.all_flat()
