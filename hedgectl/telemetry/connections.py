"""Connection limits of the collector's server: a cap on open connections and timeouts for idle and slow clients.

aiohttp waits for a request's headers as long as the client likes, so a few hundred slow clients could hold the
collector's sockets forever. Each connection's protocol is wrapped here: it is closed when it sends nothing for
`idle_timeout_secs`, or when a request that has begun does not reach the application within `header_timeout_secs`.
The body has its own timeout where the application reads it (`body_timeout_secs`), and so has sending the status
document (`send_timeout_secs`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

_BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b'Content-Length: 58\r\n\r\n{"status":"error","error":"collector has too many clients"}'
)


@dataclass(frozen=True)
class ConnectionLimits:
    """How long the collector waits for a client, and how many it serves at once."""

    header_timeout_secs: float = 10.0
    body_timeout_secs: float = 10.0
    # The whole /api/status answer must be read by the client within this time.
    send_timeout_secs: float = 30.0
    idle_timeout_secs: float = 60.0
    max_connections: int = 1000

    def __post_init__(self) -> None:
        for name in ("header_timeout_secs", "body_timeout_secs", "send_timeout_secs", "idle_timeout_secs"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be above 0")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


class _GuardedProtocol(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection and closes it when the client is too slow or too quiet."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._receiving_headers = False
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self._guard.admit(self, transport):
            self._refused = True
            transport.write(_BUSY_ANSWER)
            transport.close()
            return
        self._transport = transport
        self._inner.connection_made(transport)
        self._arm(self._guard.limits.idle_timeout_secs, "idle")

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_request and not self._receiving_headers:
            # The first byte of a request starts its header clock; more bytes do not extend it.
            self._receiving_headers = True
            self._arm(self._guard.limits.header_timeout_secs, "headers")
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._cancel_timer()
        if self._transport is not None:
            self._guard.release(self._transport)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if not self._refused:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if not self._refused:
            self._inner.resume_writing()

    def request_started(self) -> None:
        self._in_request = True
        self._receiving_headers = False
        self._cancel_timer()

    def request_finished(self) -> None:
        self._in_request = False
        self._arm(self._guard.limits.idle_timeout_secs, "idle")

    def _arm(self, delay: float, what: str) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay, self._expire, what)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, what: str) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            logger.debug("closing a connection: %s timeout", what)
            self._transport.close()


class ConnectionGuard:
    """Counts the open connections of one server and finds the guarded protocol of a request's transport."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: dict[asyncio.BaseTransport, _GuardedProtocol] = {}
        self._at_cap_logged = False

    def __len__(self) -> int:
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for `loop.create_server` that guards what `factory` makes."""
        return lambda: _GuardedProtocol(factory(), self)

    def admit(self, protocol: _GuardedProtocol, transport: asyncio.BaseTransport) -> bool:
        if len(self._open) >= self.limits.max_connections:
            if not self._at_cap_logged:
                logger.warning(
                    "collector at its cap of %d connections; refusing new ones", self.limits.max_connections
                )
                self._at_cap_logged = True
            return False
        self._open[transport] = protocol
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        self._open.pop(transport, None)
        if len(self._open) < self.limits.max_connections:
            self._at_cap_logged = False

    def protocol_of(self, transport: Any) -> _GuardedProtocol | None:
        return self._open.get(transport)

    def middleware(self) -> Any:
        """An aiohttp middleware (the outermost) that stops the header clock of the request's connection."""

        @web.middleware
        async def track(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
            protocol = self.protocol_of(request.transport)
            if protocol is not None:
                protocol.request_started()
            try:
                return await handler(request)
            finally:
                if protocol is not None:
                    protocol.request_finished()

        return track


class GuardedSite(web.SockSite):
    """A SockSite whose connections pass through a ConnectionGuard."""

    def __init__(self, runner: web.BaseRunner, sock: Any, guard: ConnectionGuard, **options: Any) -> None:
        super().__init__(runner, sock, **options)
        self._guard = guard

    async def start(self) -> None:
        # BaseSite.start registers the site with the runner; SockSite.start would serve unguarded.
        await super(web.SockSite, self).start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.wrap(server), sock=self._sock, backlog=self._backlog
        )
