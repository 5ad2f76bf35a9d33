"""The hedge cycle's phases and the legal moves between them, as one table (an illegal move raises)."""

from __future__ import annotations

import enum

from hedgectl.errors import HedgectlError


class Phase(str, enum.Enum):
    PREFLIGHT = "preflight"
    BP_ENTRY = "bp_entry"
    L1_HEDGE = "l1_hedge"
    WAIT = "wait"
    L2_ENTRY = "l2_entry"
    REBALANCE = "rebalance"
    MONITOR = "monitor"
    FLATTEN = "flatten"  # the planned end: time is up
    EMERGENCY_EXIT = "emergency_exit"  # the unplanned end: something went wrong or the operator interrupted
    DONE = "done"


class Outcome(str, enum.Enum):
    COMPLETED = "completed"  # ran to its end and every venue is flat
    EMERGENCY_EXIT = "emergency_exit"  # a safety exit was taken and every venue is flat
    ABORTED = "aborted"  # stopped before anything was traded (preflight refused, dry run, nothing filled)
    FAILED = "failed"  # something is left open or unknown at a venue


P = Phase
#: Every legal move of a cycle. ``REBALANCE -> MONITOR -> REBALANCE`` is the monitor fixing net exposure.
PHASE_TABLE: frozenset[tuple[Phase, Phase]] = frozenset(
    {
        (P.PREFLIGHT, P.BP_ENTRY),
        (P.PREFLIGHT, P.DONE),
        (P.BP_ENTRY, P.L1_HEDGE),
        (P.BP_ENTRY, P.DONE),  # nothing filled
        (P.BP_ENTRY, P.EMERGENCY_EXIT),
        (P.L1_HEDGE, P.WAIT),
        (P.L1_HEDGE, P.EMERGENCY_EXIT),
        (P.WAIT, P.L2_ENTRY),
        (P.WAIT, P.EMERGENCY_EXIT),
        (P.L2_ENTRY, P.REBALANCE),
        (P.L2_ENTRY, P.EMERGENCY_EXIT),
        (P.REBALANCE, P.MONITOR),
        (P.REBALANCE, P.EMERGENCY_EXIT),
        (P.MONITOR, P.REBALANCE),
        (P.MONITOR, P.FLATTEN),
        (P.MONITOR, P.EMERGENCY_EXIT),
        (P.FLATTEN, P.EMERGENCY_EXIT),  # flattening failed part-way: the same clean-up, reported as unplanned
        (P.FLATTEN, P.DONE),
        (P.EMERGENCY_EXIT, P.DONE),
    }
)
del P

class PhaseError(HedgectlError):
    """The cycle was asked to make a move its phase table forbids."""


def check_move(current: Phase, new: Phase) -> None:
    if (current, new) not in PHASE_TABLE:
        raise PhaseError(f"illegal hedge phase move {current.value} -> {new.value}")
