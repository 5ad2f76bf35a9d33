"""Shared pytest fixtures: paper venues started on ephemeral loopback ports for one test and stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hedgectl.sim.runner import ThreadedPaperVenues


@pytest.fixture
def paper_venues_factory() -> Iterator[Callable[..., ThreadedPaperVenues]]:
    """Start paper venues with chosen options (those of ``PaperVenues``); all are stopped after the test."""
    started: list[ThreadedPaperVenues] = []

    def start(**options: Any) -> ThreadedPaperVenues:
        options.setdefault("seed", 1234)
        options.setdefault("tick_seconds", 0)
        venues = ThreadedPaperVenues(**options).start()
        started.append(venues)
        return venues

    yield start
    for venues in started:
        venues.stop()


@pytest.fixture
def paper_venues(paper_venues_factory: Callable[..., ThreadedPaperVenues]) -> ThreadedPaperVenues:
    """Every paper venue on ephemeral ports with fresh funded accounts; prices move only when a test moves them."""
    return paper_venues_factory()


@pytest.fixture
def paper_accounts(paper_venues: ThreadedPaperVenues) -> dict[str, Any]:
    """The accounts document (the shape ``sim serve --accounts-out`` writes) of ``paper_venues``."""
    return paper_venues.accounts_document()
