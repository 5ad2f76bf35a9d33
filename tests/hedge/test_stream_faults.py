"""Stream faults during a hedge cycle (the account streams on, as by default): every one ends the cycle safe and flat
with the answers the REST path gives (the L1 hedge filled for exactly what BP filled, nothing executed twice)."""

from __future__ import annotations

from typing import Any

import pytest

from hedgectl.execution.orders import OrderState
from hedgectl.strategies.hedge.phases import Outcome

STREAM_FAULTS: dict[str, dict[str, Any]] = {
    "stream_disconnect": {},
    "stream_stall": {"seconds": 5},
    "stream_miss": {"count": 50},
    "stream_duplicate": {"count": 50},
    "stream_delay": {"ms": 300},
}


@pytest.mark.parametrize("venue", ["lighter", "backpack"])
@pytest.mark.parametrize("kind", sorted(STREAM_FAULTS))
def test_a_stream_fault_at_the_hedge_ends_safe_with_the_rest_answers(hedge_run, kind: str, venue: str):
    account = "lighter1" if venue == "lighter" else "backpack"

    def arm(venues: Any) -> None:
        venues.arm(venue, kind, account=account, **STREAM_FAULTS[kind])

    run = hedge_run(at_phase={"bp_entry": arm})
    assert run.result.outcome is Outcome.COMPLETED, run.result.reason
    assert run.all_flat()
    assert run.venues.exchange_audit() == []
    bp_entry = run.orders("BP", "entry")[0]
    l1 = run.orders("L1", "hedge")[0]
    assert l1.state is OrderState.FILLED and l1.filled_size == bp_entry.filled_size
