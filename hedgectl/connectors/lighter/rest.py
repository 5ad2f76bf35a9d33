"""Plain-HTTP reads of Lighter's REST API (httpx, keep-alive), with the venue's answers mapped into the error tree.

Only reads go through here; transactions are signed and sent through lighter-sdk (``signer``). Authenticated reads
take the auth token as an argument, so this module never needs the SDK.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from hedgectl.connectors.base import tls_context
from hedgectl.connectors.lighter.wire import CODE_OK, VENUE, error_for_code
from hedgectl.errors import AuthError, RateLimited, VenueError, VenueProtocolError
from hedgectl.transport import map_transport_errors, retry_after_secs, status_row

logger = logging.getLogger(__name__)

API = "/api/v1/"


class LighterRest:
    """GET requests against one Lighter base URL; ``on_latency`` hears every round trip in milliseconds."""

    def __init__(self, base_url: str, *, timeout: float, connector: str,
                 on_latency: Callable[[float], None] | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.connector = connector
        self.on_latency = on_latency
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                verify=tls_context(self.base_url),
                timeout=httpx.Timeout(self.timeout),
                headers={"accept": "application/json"},
                limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
            )
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def get(self, endpoint: str, params: dict[str, Any], *, auth_token: str | None = None) -> dict[str, Any]:
        """GET ``/api/v1/<endpoint>``; the decoded JSON object, or a VenueError (never an empty answer)."""
        headers = {"authorization": auth_token} if auth_token else None
        started = time.perf_counter()
        try:
            with map_transport_errors(endpoint, venue=VENUE, connector=self.connector):
                response = await self._http().get(API + endpoint, params=params, headers=headers)
        finally:
            if self.on_latency is not None:
                self.on_latency((time.perf_counter() - started) * 1000)
        return self._decode(endpoint, response)

    def _decode(self, endpoint: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        row = status_row(status)
        if status == 429:
            retry_after = retry_after_secs(response.headers.get("retry-after"))
            raise RateLimited(
                f"{endpoint}: rate limited", venue=VENUE, connector=self.connector, status=429, retry_after=retry_after
            )
        if status >= 500:
            raise row.error(f"{endpoint}: HTTP {status}", venue=VENUE, connector=self.connector, status=status)
        try:
            body = response.json()
        except ValueError:
            body = None
        if row is not None and issubclass(row.error, AuthError):
            message = body.get("message", "") if isinstance(body, dict) else ""
            raise AuthError(
                f"{endpoint}: {message or 'unauthorized'}", venue=VENUE, connector=self.connector, status=status
            )
        if not isinstance(body, dict):
            raise VenueProtocolError(
                f"{endpoint}: HTTP {status} with a body that is not a JSON object",
                venue=VENUE,
                connector=self.connector,
                status=status,
            )
        code = body.get("code")
        if status != 200 or (isinstance(code, int) and code != CODE_OK):
            error = error_for_code(
                code if isinstance(code, int) else None,
                str(body.get("message") or ""),
                connector=self.connector,
                status=status,
                context=endpoint,
            )
            if type(error) is VenueError and status == 404:
                raise VenueProtocolError(error.message, venue=VENUE, connector=self.connector, code=error.code,
                                         status=status)
            raise error
        return body

