"""Fixtures for the paper-venue tests: a minimal signed Backpack client written from the wire facts."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

from hedgectl.sim.backpack.signature import SIGNED_ROUTES, signing_string
from hedgectl.sim.runner import ThreadedPaperVenues



@dataclass
class BackpackTestClient:
    """Signs and sends Backpack requests; ``signed_headers`` lets a test tamper with any part."""

    url: str
    api_key: str
    api_secret: str
    http: httpx.Client

    def signed_headers(self, method: str, path: str, params: Any = None, *, timestamp: int | None = None,
                       window: int | None = 5000, secret: str | None = None) -> dict[str, str]:
        timestamp = timestamp if timestamp is not None else int(time.time() * 1000)
        message = signing_string(SIGNED_ROUTES[(method, path)], params or {}, str(timestamp),
                                 str(window if window is not None else 5000))
        key = SigningKey(base64.b64decode(secret or self.api_secret)[:32])
        headers = {
            "X-API-Key": self.api_key,
            "X-Signature": base64.b64encode(key.sign(message.encode()).signature).decode(),
            "X-Timestamp": str(timestamp),
            "Content-Type": "application/json; charset=utf-8",
        }
        if window is not None:
            headers["X-Window"] = str(window)
        return headers

    def request(self, method: str, path: str, params: Any = None, **signing: Any) -> httpx.Response:
        headers = self.signed_headers(method, path, params, **signing)
        if method == "GET":
            return self.http.get(self.url + path, params=params, headers=headers)
        content = json.dumps(params) if params is not None else None
        return self.http.request(method, self.url + path, content=content, headers=headers)

    def market(self, side: str, quantity: str, symbol: str = "ETH_USDC_PERP", **extra: Any) -> httpx.Response:
        return self.request("POST", "/api/v1/order",
                            {"symbol": symbol, "side": side, "orderType": "Market", "quantity": quantity, **extra})

    def signed_size(self, symbol: str = "ETH_USDC_PERP") -> str:
        rows = self.request("GET", "/api/v1/position").json()
        return next((row["netQuantity"] for row in rows if row["symbol"] == symbol), "0")


@pytest.fixture
def backpack_venues(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["backpack"])


@pytest.fixture
def backpack(backpack_venues: ThreadedPaperVenues) -> Iterator[BackpackTestClient]:
    section = backpack_venues.accounts_document()["backpack"]
    account = section["accounts"][0]
    with httpx.Client(timeout=10) as http:
        yield BackpackTestClient(section["url"], account["api_key"], account["api_secret"], http)


@pytest.fixture(autouse=True)
def quiet_raw_test_clients(caplog: pytest.LogCaptureFixture) -> None:
    """Venue tests call the paper APIs with raw httpx clients, whose INFO line carries the URL (for Telegram, the
    bot token in its path); hedgectl's own clients mask it. Keep the test clients' lines out of the secret scan."""
    caplog.set_level("WARNING", logger="httpx")
