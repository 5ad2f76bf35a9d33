"""Fixtures for the paper Lighter tests: the venue alone on an ephemeral loopback port, and its funded accounts."""

from __future__ import annotations

from typing import Any

import pytest

from hedgectl.sim.runner import ThreadedPaperVenues

from .support import PaperLighterAccount, lighter_accounts


@pytest.fixture
def venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    """Paper Lighter alone, on an ephemeral loopback port, with lighter1 and lighter2 funded."""
    return paper_venues_factory(kinds=["lighter"])


@pytest.fixture
def accounts(venues: ThreadedPaperVenues) -> dict[str, PaperLighterAccount]:
    return lighter_accounts(venues)


@pytest.fixture
def lighter1(accounts: dict[str, PaperLighterAccount]) -> PaperLighterAccount:
    return accounts["lighter1"]
