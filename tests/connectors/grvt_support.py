"""Paper GRVT for the GRVT connector tests: the venue on an ephemeral loopback port, connectors configured for its
account, and direct views of what the venue itself recorded (orders, positions, audit).

Test modules import the ``paper_grvt`` fixture from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.sim.runner import ThreadedPaperVenues

T = TypeVar("T")

ETH = "ETH_USDT_Perp"


@dataclass
class PaperGrvt:
    """Paper GRVT for one test, with helpers that read the venue's own state (never through hedgectl)."""

    venues: ThreadedPaperVenues
    #: the connectors' clock; the same as the venues' when a test runs on simulated time
    clock: Clock = SYSTEM_CLOCK

    @property
    def venue(self) -> Any:
        return self.venues.venues.venue("grvt")

    @property
    def url(self) -> str:
        return self.venues.url("grvt")

    def account(self) -> dict[str, Any]:
        return self.venues.accounts_document()["grvt"]["accounts"][0]

    def config(self, *, name: str = "grvt", timeout_secs: float = 5.0, read_retries: int = 3,
               base_url: str | None = None, **options: Any) -> ConnectorConfig:
        account = self.account()
        return ConnectorConfig(
            name=name,
            venue="grvt",
            base_url=base_url or self.url,
            options={"chain_id": account["chain_id"], "sub_account_id": account["sub_account_id"], **options},
            secrets={"api_key": Secret(account["api_key"], source="paper"),
                     "private_key": Secret(account["private_key"], source="paper")},
            timeout_secs=timeout_secs,
            read_retries=read_retries,
        )

    def run(self, scenario: Callable[[GrvtConnector], Awaitable[T]], **config: Any) -> T:
        """Run ``scenario(connector)`` in a fresh event loop with a started connector, closed afterwards."""

        async def main() -> T:
            async with GrvtConnector(self.config(**config), clock=self.clock) as connector:
                connector.fence_ttl_ms = 300
                connector.absence_grace_secs = 0.2
                connector.poll_max_secs = 0.1
                connector.confirm_patience_secs = 0.5
                return await scenario(connector)

        return asyncio.run(main())

    def engine(self, action: Callable[[], T]) -> T:
        """Run ``action()`` in the venue's event loop (the matching engine is only touched from there)."""
        return self.venues.call_sync(action)

    def arm(self, kind: str, **options: Any) -> None:
        self.venues.arm("grvt", kind, **options)

    def signed_size(self, symbol: str = ETH) -> Decimal:
        return self.engine(lambda: self.venue.exchange.account("grvt").size(symbol))

    def orders(self, client_order_index: int) -> list[dict[str, Any]]:
        """Every order the matching engine recorded with this client order index."""
        return [order for order in self.venues.state("grvt")["orders"] if order["client_id"] == client_order_index]

    def resting(self) -> list[dict[str, Any]]:
        return self.venues.state("grvt")["open_orders"]

    def audit(self) -> list[str]:
        return self.venues.exchange_audit()


@pytest.fixture
def paper_grvt(paper_venues_factory: Callable[..., ThreadedPaperVenues]) -> PaperGrvt:
    return PaperGrvt(paper_venues_factory(kinds=["grvt"]))
