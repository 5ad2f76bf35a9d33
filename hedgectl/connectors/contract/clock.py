"""The venue's clock from the HTTP ``Date`` header of the connector's own requests, for venues without a time
endpoint hedgectl reads: every origin server with a clock sends one (RFC 9110, 6.6.1), to the second."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import httpx

from hedgectl.connectors.contract.report import ClockReading

#: A ``Date`` header is truncated to the whole second.
DATE_RESOLUTION_MS = 1000.0


class DateClock:
    """Watches an httpx client's requests and keeps the last answer's ``Date`` against the local clock."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._sent: dict[int, float] = {}
        self.reading: ClockReading | None = None

    def attach(self, client: httpx.AsyncClient) -> None:
        hooks = client.event_hooks
        hooks.setdefault("request", []).append(self._on_request)
        hooks.setdefault("response", []).append(self._on_response)
        client.event_hooks = hooks

    def detach(self, client: httpx.AsyncClient) -> None:
        hooks = client.event_hooks
        for name, hook in (("request", self._on_request), ("response", self._on_response)):
            if hook in hooks.get(name, []):
                hooks[name].remove(hook)
        client.event_hooks = hooks

    async def _on_request(self, request: httpx.Request) -> None:
        self._sent[id(request)] = self._clock()

    async def _on_response(self, response: httpx.Response) -> None:
        received = self._clock()
        sent = self._sent.pop(id(response.request), received)
        header = response.headers.get("date")
        if not header:
            return
        try:
            venue = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError):
            return
        # the venue's second began at ``venue``: its midpoint against the midpoint of our round trip
        offset_ms = (venue + 0.5 - (sent + received) / 2) * 1000
        self.reading = ClockReading(offset_ms, DATE_RESOLUTION_MS, "HTTP Date header")
