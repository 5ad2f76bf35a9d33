"""Paper Lighter for the Lighter connector tests: the venue on an ephemeral loopback port, connectors configured for
its accounts, and direct views of what the venue itself recorded (orders, positions, nonces, audit).

Test modules import the ``paper_lighter`` fixture from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession, web

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.model import ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.connectors.lighter import LighterConnector
from hedgectl.sim.runner import ThreadedPaperVenues

from .loopback import serve

T = TypeVar("T")
#: A scripted answer for one path: called with the request and its body, it may ``forward`` them to the venue.
Route = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]

ETH = "ETH"


@dataclass
class PaperLighter:
    """Paper Lighter for one test, with helpers that read the venue's own state (never through hedgectl)."""

    venues: ThreadedPaperVenues
    #: the connectors' clock; the same as the venues' when a test runs on simulated time
    clock: Clock = SYSTEM_CLOCK

    @property
    def venue(self) -> Any:
        return self.venues.venues.venue("lighter")

    @property
    def url(self) -> str:
        return self.venues.url("lighter")

    def account(self, name: str = "lighter1") -> dict[str, Any]:
        accounts = self.venues.accounts_document()["lighter"]["accounts"]
        return next(account for account in accounts if account["name"] == name)

    def config(self, name: str = "lighter1", *, timeout_secs: float = 5.0, read_retries: int = 3,
               nonce_manager: str = "optimistic", base_url: str | None = None,
               connector_name: str | None = None) -> ConnectorConfig:
        account = self.account(name)
        return ConnectorConfig(
            name=connector_name or name,
            venue="lighter",
            base_url=base_url or self.url,
            options={
                "account_index": account["account_index"],
                "api_key_index": account["api_key_index"],
                "chain_id": None,
                "nonce_manager": nonce_manager,
            },
            secrets={"private_key": Secret(account["api_private_key"], source="paper")},
            timeout_secs=timeout_secs,
            read_retries=read_retries,
        )

    def child_config_source(self, name: str = "lighter1", *, connector_name: str | None = None) -> str:
        """Python source that builds ``config`` for account ``name`` in a child process; the private key is read
        from the first line of the child's stdin (it never appears on a command line)."""
        config = self.config(name, connector_name=connector_name)
        return (
            "import sys\n"
            "from hedgectl.config.model import ConnectorConfig\n"
            "from hedgectl.config.secrets import Secret\n"
            f"config = ConnectorConfig(name={config.name!r}, venue='lighter', base_url={config.base_url!r}, "
            f"options={config.options!r}, secrets={{'private_key': Secret(sys.stdin.readline().strip())}})\n"
        )

    def connector(self, name: str = "lighter1", *, data_dir: Path | None = None, **config: Any) -> LighterConnector:
        connector = LighterConnector(self.config(name, **config), data_dir=data_dir, clock=self.clock)
        # keep waits short in tests; the schedules themselves are what production uses
        connector.resolve_timeout_secs = 3.0
        connector.confirm_timeout_secs = 5.0
        return connector

    def run(self, scenario: Callable[[LighterConnector], Awaitable[T]], name: str = "lighter1", **config: Any) -> T:
        """Run ``scenario(connector)`` in a fresh event loop with a started connector, closed afterwards."""

        async def main() -> T:
            async with self.connector(name, **config) as connector:
                return await scenario(connector)

        return asyncio.run(main())

    def arm(self, kind: str, **options: Any) -> None:
        self.venues.arm("lighter", kind, **options)

    def state(self) -> dict[str, Any]:
        return self.venues.state("lighter")

    def orders(self, name: str = "lighter1", client_order_index: int | None = None) -> list[dict[str, Any]]:
        """Every order the venue recorded for account ``name`` (optionally one client order index), oldest first."""
        index = self.account(name)["account_index"]
        return [
            order for order in self.state()["lighter"]["orders"]
            if order["owner_account_index"] == index
            and (client_order_index is None or order["client_order_index"] == client_order_index)
        ]

    def open_orders(self, name: str = "lighter1") -> list[dict[str, Any]]:
        return [order for order in self.state()["open_orders"] if order["account"] == name]

    def signed_size(self, name: str = "lighter1", symbol: str = ETH) -> Decimal:
        return self.venues.call_sync(lambda: self.venue.exchange.account(name).size(symbol))

    def next_nonce(self, name: str = "lighter1") -> int:
        account = self.account(name)
        entry = next(item for item in self.state()["lighter"]["accounts"] if item["name"] == name)
        return next(key["next_nonce"] for key in entry["api_keys"]
                    if key["api_key_index"] == account["api_key_index"])

    def audit(self) -> list[str]:
        """Duplicate executions of a client order index, or fills beyond an order's size (empty when all is well)."""
        return self.venues.exchange_audit()

    async def sdk_market_order(self, name: str, *, is_ask: bool, base_amount: int, client_order_index: int,
                               worst_price: int) -> None:
        """Trade as another client of the account would: the unmodified SDK with its own nonce manager."""
        import lighter

        account = self.account(name)
        client = lighter.SignerClient(url=self.url, account_index=account["account_index"],
                                      api_private_keys={account["api_key_index"]: account["api_private_key"]})
        try:
            _, response, error = await client.create_market_order(
                market_index=0, client_order_index=client_order_index, base_amount=base_amount,
                avg_execution_price=worst_price, is_ask=is_ask,
            )
        finally:
            await client.close()
        assert error is None and response.code == 200, (error, response)


class LighterProxy:
    """A loopback HTTP proxy in front of paper Lighter, for answers the paper venue does not give by itself (an index
    that lags, a degraded document): a request goes through unchanged unless the test scripted its path with ``on``.

    Run it inside the test's event loop (``async with``); ``received`` lists the paths asked, in order.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.routes: dict[str, Route] = {}
        self.received: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    def on(self, path: str, route: Route) -> None:
        self.routes[path] = route

    async def forward(self, request: web.Request, body: bytes) -> web.Response:
        """Send ``request`` to paper Lighter as it came, and its answer back as it came."""
        assert self._session is not None
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("content-type", "authorization", "accept")}
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                         headers=headers) as answer:
            content = await answer.read()
            return web.Response(status=answer.status, body=content,
                                content_type=answer.content_type or "application/json")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(request.path)
        route = self.routes.get(request.path)
        return await (route(request, body) if route is not None else self.forward(request, body))

    async def __aenter__(self) -> LighterProxy:
        self._session = ClientSession()
        self._runner, self.url = await serve(self._handle)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()


@pytest.fixture
def paper_lighter(paper_venues_factory: Callable[..., ThreadedPaperVenues]) -> PaperLighter:
    return PaperLighter(paper_venues_factory(kinds=["lighter"]))
