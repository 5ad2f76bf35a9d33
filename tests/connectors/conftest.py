"""Fixtures for connector tests: paper Backpack on an ephemeral loopback port, a connector configured for it, and
direct views of the venue's own state (what it recorded, what rests, what it executed) to check the connector against.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from hedgectl.clock import SYSTEM_CLOCK, Clock, SystemClock
from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.backpack import BackpackConnector
from hedgectl.sim.runner import ThreadedPaperVenues

T = TypeVar("T")

ETH = "ETH_USDC_PERP"


@dataclass
class PaperBackpack:
    """Paper Backpack for one test, with helpers that read the venue's state directly (never through hedgectl)."""

    venues: ThreadedPaperVenues
    #: the connectors' clock; the same as the venues' when a test runs on simulated time
    clock: Clock = SYSTEM_CLOCK

    @property
    def venue(self) -> Any:
        return self.venues.venues.venue("backpack")

    @property
    def url(self) -> str:
        return self.venues.url("backpack")

    def account(self, index: int = 0) -> dict[str, str]:
        return self.venues.accounts_document()["backpack"]["accounts"][index]

    def config(self, *, name: str = "backpack", account: dict[str, str] | None = None, window_ms: int = 5000,
               timeout_secs: float = 5.0, read_retries: int = 3, base_url: str | None = None) -> ConnectorConfig:
        account = account or self.account()
        return ConnectorConfig(
            name=name,
            venue="backpack",
            base_url=base_url or self.url,
            options={"window_ms": window_ms},
            secrets={
                "api_key": Secret(account["api_key"], source="paper"),
                "api_secret": Secret(account["api_secret"], source="paper"),
            },
            timeout_secs=timeout_secs,
            read_retries=read_retries,
        )

    def run(self, scenario: Callable[[BackpackConnector], Awaitable[T]], **config: Any) -> T:
        """Run ``scenario(connector)`` in a fresh event loop with a started connector, closed afterwards."""

        async def main() -> T:
            async with BackpackConnector(self.config(**config), clock=self.clock) as connector:
                connector.resolve_poll_secs = 0.05
                connector.resting_poll_secs = 0.1
                return await scenario(connector)

        return asyncio.run(main())

    def engine(self, action: Callable[[], T]) -> T:
        """Run ``action()`` in the venue's event loop (the matching engine is only touched from there)."""
        return self.venues.call_sync(action)

    def arm(self, kind: str, **options: Any) -> None:
        self.venues.arm("backpack", kind, **options)

    def state(self) -> dict[str, Any]:
        return self.venues.state("backpack")

    def orders(self, client_id: int | None = None) -> list[dict[str, Any]]:
        """Every order the venue recorded for the default account (optionally only one clientId)."""
        return [
            order for order in self.state()["orders"]
            if order["account"] == "backpack" and (client_id is None or order["client_id"] == client_id)
        ]

    def open_orders(self) -> list[dict[str, Any]]:
        return [order for order in self.state()["open_orders"] if order["account"] == "backpack"]

    def signed_size(self, symbol: str = ETH, account: str = "backpack") -> Decimal:
        return self.engine(lambda: self.venue.exchange.account(account).size(symbol))

    def audit(self) -> list[str]:
        return self.venues.exchange_audit()

    def shock(self, percent: str) -> None:
        """Move every mid by ``percent`` percent at once (resting orders the move crosses fill at their price)."""
        self.engine(lambda: self.venues.venues.market.shock(Decimal(percent)))

    def best_bid_ask(self, symbol: str = ETH) -> tuple[Decimal, Decimal]:
        return self.engine(lambda: self.venue.exchange.best_bid_ask(symbol))


@pytest.fixture
def paper_backpack(paper_venues_factory: Callable[..., ThreadedPaperVenues]) -> PaperBackpack:
    return PaperBackpack(paper_venues_factory(kinds=["backpack"]))


async def in_thread(action: Callable[[], T]) -> T:
    """Call a blocking venue helper from inside a scenario without stalling the connector's event loop."""
    return await asyncio.to_thread(action)


async def eventually(condition: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until ``condition()`` (a blocking check, run in a thread) holds; fail the test if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(condition):
        if loop.time() >= deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


class SkewedClock(SystemClock):
    """The machine's clock with its wall time ``skew`` seconds off (changeable mid-test, like a clock step)."""

    def __init__(self, skew: float = 0.0):
        self.skew = skew

    def now(self) -> float:
        return super().now() + self.skew
