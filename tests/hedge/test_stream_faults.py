"""Stream faults during a hedge cycle (the account streams on, as by default), on Lighter, Backpack or a GRVT bridge
leg: every one ends the cycle safe and flat with the answers the REST path gives (the L1 hedge filled for exactly
what BP filled, nothing executed twice)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hedgectl.model.orders import OrderState
from hedgectl.strategies.hedge.phases import Outcome

STREAM_FAULTS: dict[str, dict[str, Any]] = {
    "stream_disconnect": {},
    "stream_stall": {"seconds": 5},
    "stream_miss": {"count": 50},
    "stream_duplicate": {"count": 50},
    "stream_delay": {"ms": 300},
}


#: the bridge leg's venue is GRVT in the cycles whose faulted stream is GRVT's
GRVT_BRIDGE = {"roles": {"BP": "grvt", "L1": "lighter1", "L2": "lighter2"},
               "symbols": {"backpack": "ETH_USDC_PERP", "lighter": "ETH", "grvt": "ETH_USDT_Perp"}}


@pytest.mark.parametrize("venue", ["lighter", "backpack", "grvt"])
@pytest.mark.parametrize("kind", sorted(STREAM_FAULTS))
def test_a_stream_fault_at_the_hedge_ends_safe_with_the_rest_answers(hedge_run, kind: str, venue: str):
    account = {"lighter": "lighter1", "backpack": "backpack", "grvt": "grvt"}[venue]

    def arm(venues: Any) -> None:
        venues.arm(venue, kind, account=account, **STREAM_FAULTS[kind])

    run = hedge_run(at_phase={"bp_entry": arm}, **(GRVT_BRIDGE if venue == "grvt" else {}))
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()
    assert run.venues.exchange_audit() == []
    bp_entry = run.orders("BP", "entry")[0]
    l1 = run.orders("L1", "hedge")[0]
    assert l1.state is OrderState.FILLED and l1.filled_size == bp_entry.filled_size


def test_a_liquidation_is_read_when_it_is_pushed_not_at_the_next_poll(hedge_run):
    # the poll comes every 600 s, beyond the test timeout: only the push can start the emergency exit in time
    def liquidate_after_the_first_poll(venues: Any) -> None:
        threading.Timer(0.5, lambda: venues.arm("lighter", "liquidate", account="lighter2")).start()

    run = hedge_run(at_phase={"monitor": liquidate_after_the_first_poll}, poll_interval_secs=600,
                    monitor_timeout_secs=900)
    assert run.result.outcome is Outcome.EMERGENCY_EXIT
    assert "L2" in run.result.reason and "liquidated" in run.result.reason
    assert run.all_flat()
