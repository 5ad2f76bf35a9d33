"""The session ``hedge run`` runs is a library call: a cycle (or a dry run) against the paper venues, shown through any
``CycleDisplay``, with no command line involved."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from hedgectl.config.starter import paper_config
from hedgectl.journal import Journal, journal_path
from hedgectl.runtime import StopSignals
from hedgectl.strategies.hedge.cycle import override
from hedgectl.strategies.hedge.phases import Outcome
from hedgectl.strategies.hedge.session import run_cycle
from tests.hedge.conftest import FAST


class RecordingDisplay:
    def __init__(self):
        self.cycle_events: list[str] = []
        self.watched = 0
        self.results: list[tuple[object, int | None]] = []

    def cycle_event(self, name, data, text):
        self.cycle_events.append(name)

    def loop_event(self, name, data, text):
        raise AssertionError("a single cycle has no loop events")

    @contextlib.contextmanager
    def watching(self, status):
        self.watched += 1
        yield

    def finished(self, result, loop_cycle):
        self.results.append((result, loop_cycle))


def _run(venues, tmp_path, display, *, dry_run: bool):
    config = paper_config(venues.accounts_document(), data_dir=tmp_path)
    params = override(config.hedge, **FAST)

    async def main():
        with StopSignals(what="the hedge cycle") as signals:
            return await run_cycle(config, params, tmp_path, display, signals=signals, dry_run=dry_run)

    return asyncio.run(main())


def _flat(venues) -> bool:
    for kind in ("backpack", "lighter"):
        for account in venues.state(kind)["accounts"].values():
            for position in account["positions"]:
                if Decimal(str(position.get("signed_size", position.get("size", 0)))) != 0:
                    return False
    return True


def test_a_session_cycle_is_journaled_shown_and_leaves_the_venues_flat(paper_venues, tmp_path):
    display = RecordingDisplay()
    result = _run(paper_venues, tmp_path, display, dry_run=False)

    assert result.outcome is Outcome.COMPLETED
    assert display.watched == 1
    assert display.results == [(result, None)]
    assert "phase" in display.cycle_events
    journal = Journal(journal_path(tmp_path))
    try:
        record = journal.cycle(result.cycle_id)
        assert record is not None and record.resolved
    finally:
        journal.close()
    assert _flat(paper_venues)


def test_a_session_dry_run_plans_without_trading_or_showing_a_cycle(paper_venues, tmp_path):
    display = RecordingDisplay()
    result = _run(paper_venues, tmp_path, display, dry_run=True)

    assert result.plan is not None
    assert result.cycle_id is None
    assert display.watched == 0 and display.results == [] and display.cycle_events == []
    journal = Journal(journal_path(tmp_path))
    try:
        assert journal.last_cycle() is None
    finally:
        journal.close()
    assert _flat(paper_venues)
