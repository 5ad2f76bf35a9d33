"""The heartbeat collector: an aiohttp server that keeps each bot's latest heartbeat and reports who is online.

It speaks the old Node collector's protocol (POST /ingest/{botName}, GET /api/status, POST /admin/prune), so old bots,
hedgectl and the board can be mixed during a migration. docs/telemetry.md describes the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hedgectl.telemetry.connections import ConnectionGuard, ConnectionLimits, GuardedSite
from hedgectl.telemetry.ingest import MAX_BODY_BYTES, HeartbeatRejected, check_heartbeat
from hedgectl.text import visible
from hedgectl.telemetry.protocol import AUTH_HEADER, is_valid_bot_name
from hedgectl.telemetry.store import DEFAULT_MAX_BOTS, HeartbeatStore, StoreFull

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_BOTS",
    "CollectorServer",
    "ConnectionLimits",
    "HeartbeatStore",
    "ThreadedCollector",
    "create_app",
    "serve",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 10123
DEFAULT_MAX_BODY_BYTES = MAX_BODY_BYTES


def _reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


def _error(status: int, message: str) -> web.Response:
    return _reply(status, {"status": "error", "error": message})


class _ServerLog:
    """aiohttp's server logger, with one line instead of a traceback for a request that is the client's fault.

    A malformed request (a non-ASCII path, a bad header) is refused with 400 by aiohttp before any route or the token
    check runs; its text comes from the client, so it is logged escaped and on one line.
    """

    def __init__(self, target: logging.Logger) -> None:
        self._target = target

    def exception(self, msg: str, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc, HttpProcessingError):
            first_line = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else ""
            self._target.info("refused a malformed request (%d): %s", exc.code, visible(first_line, 200))
            return
        self._target.exception(msg, *args, exc_info=exc_info, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _auth_middleware(token: str | None) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = None if token is None else token.encode("utf-8")

    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if expected is not None and not _token_matches(request.headers.get(AUTH_HEADER), expected):
            return _reply(401, {"status": "unauthorized"})
        try:
            return await handler(request)
        except web.HTTPException as exc:
            return _error(exc.status, exc.reason)

    return authenticate


def _token_matches(offered: str | None, expected: bytes) -> bool:
    if offered is None:
        return False
    try:
        offered_bytes = offered.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(offered_bytes, expected)


def create_app(
    *,
    token: str | None = None,
    store: HeartbeatStore | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_secs: float = ConnectionLimits.body_timeout_secs,
    send_timeout_secs: float = ConnectionLimits.send_timeout_secs,
    guard: ConnectionGuard | None = None,
) -> web.Application:
    """The collector as an aiohttp application; with `token`, every route demands it in the x-auth-token header.

    A heartbeat body must arrive within `body_timeout_secs` and pass `ingest.check_heartbeat`; `guard` (when the app
    is served through a GuardedSite) learns when each request reaches the application.
    """
    if token is not None and not token:
        raise ValueError("collector token must not be empty; pass None to disable authentication")
    heartbeats = store if store is not None else HeartbeatStore()
    too_large = f"body over {max_body_bytes} bytes"

    async def ingest(request: web.Request) -> web.Response:
        name = request.match_info["bot_name"]
        if not is_valid_bot_name(name):
            return _error(
                400, "bad bot name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _error(413, too_large)
        try:
            async with asyncio.timeout(body_timeout_secs):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, too_large)
        except TimeoutError:
            response = _error(408, f"body not received within {body_timeout_secs:g} s")
            response.force_close()
            return response
        if len(body) > max_body_bytes:
            return _error(413, too_large)
        try:
            payload, encoded = check_heartbeat(body)
            heartbeats.put(name, payload, encoded)
        except HeartbeatRejected as exc:
            return _error(exc.status, str(exc))
        except StoreFull as exc:
            return _error(507, str(exc))
        return _reply(200, {"status": "ok"})

    async def status(request: web.Request) -> web.StreamResponse:
        # Sent in pieces with the transport's back-pressure: at the bot cap the document is megabytes, and neither a
        # copy of it nor a client that stops reading may hold the collector's memory.
        response = web.StreamResponse(headers={"Cache-Control": "no-store", "Content-Type": "application/json"})
        try:
            async with asyncio.timeout(send_timeout_secs):
                await response.prepare(request)
                if request.method != "HEAD":  # a body after HEAD's headers would be read as the next answer
                    for chunk in heartbeats.status_chunks():
                        await response.write(chunk)
                await response.write_eof()
        except TimeoutError:
            logger.debug("closing a connection: the status document was not read within %g s", send_timeout_secs)
            # close() would wait for the unread buffer to drain; this client is not reading it
            if request.transport is not None:
                request.transport.abort()
        return response

    async def prune(request: web.Request) -> web.Response:
        raw = request.query.get("older_ms")
        older_ms: float | None = None
        if raw is not None:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 15:
                return _error(400, "older_ms must be a non-negative integer number of milliseconds")
            older_ms = float(raw)
        removed = heartbeats.prune(older_ms)
        if removed:
            logger.info("pruned %d silent bots: %s", len(removed), ", ".join(removed))
        return _reply(200, {"status": "ok", "removed": removed, "remaining": len(heartbeats)})

    middlewares = [_auth_middleware(token)]
    if guard is not None:
        middlewares.insert(0, guard.middleware())
    # aiohttp's own limit is a little above ours, so an oversized body gets our 413 answer rather than its own.
    app = web.Application(middlewares=middlewares, client_max_size=max_body_bytes + 1)
    app.router.add_post("/ingest/{bot_name}", ingest)
    app.router.add_get("/api/status", status)
    app.router.add_post("/admin/prune", prune)
    return app


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class CollectorServer:
    """Runs the collector on the current event loop: `url = await server.start()`, then `await server.stop()`.

    Port 0 binds an ephemeral port; `url` tells which. Binds 127.0.0.1 unless `host` says otherwise.
    """

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        token: str | None = None,
        store: HeartbeatStore | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        access_log: bool = False,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self.store = store if store is not None else HeartbeatStore()
        self.limits = limits if limits is not None else ConnectionLimits()
        self._guard = ConnectionGuard(self.limits)
        self._app = create_app(
            token=token,
            store=self.store,
            max_body_bytes=max_body_bytes,
            body_timeout_secs=self.limits.body_timeout_secs,
            send_timeout_secs=self.limits.send_timeout_secs,
            guard=self._guard,
        )
        # The access log costs a noticeable share of each request at high heartbeat rates, so it is opt-in.
        self._runner = web.AppRunner(
            self._app,
            access_log=logging.getLogger("aiohttp.access") if access_log else None,
            logger=_ServerLog(logging.getLogger("aiohttp.server")),
            # aiohttp's keep-alive close is a backstop behind the guard's idle timeout.
            keepalive_timeout=self.limits.idle_timeout_secs,
            # After an early answer (413, 408) aiohttp reads what the client still sends, for at most this long.
            lingering_time=self.limits.body_timeout_secs,
        )
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"CollectorServer(url={self._url!r})"

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("collector is not running")
        return self._url

    @property
    def open_connections(self) -> int:
        """Connections open right now (at most `limits.max_connections`)."""
        return len(self._guard)

    async def start(self) -> str:
        """Bind and start serving; returns the base URL (http://host:port)."""
        sock = _bind(self._host, self._port)
        try:
            await self._runner.setup()
            await GuardedSite(self._runner, sock, self._guard).start()
        except BaseException:
            sock.close()
            raise
        self._url = _url_of(sock)
        logger.info("telemetry collector listening on %s", self._url)
        return self._url

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        await self._runner.cleanup()
        if self._url is not None:
            logger.info("telemetry collector on %s stopped", self._url)
        self._url = None

    async def __aenter__(self) -> CollectorServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


class ThreadedCollector:
    """The collector on its own event loop in a background thread, for synchronous callers and tests."""

    def __init__(self, **server_options: Any) -> None:
        self._options = server_options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: CollectorServer | None = None

    def __repr__(self) -> str:
        return f"ThreadedCollector(running={self._thread is not None})"

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("collector is not running")
        return self._server.url

    @property
    def store(self) -> HeartbeatStore:
        if self._server is None:
            raise RuntimeError("collector is not running")
        return self._server.store

    @property
    def open_connections(self) -> int:
        """Connections the collector holds open right now."""
        if self._server is None:
            raise RuntimeError("collector is not running")
        return self._server.open_connections

    def start(self) -> str:
        """Start the loop thread and the server; returns the base URL once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("collector already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="telemetry-collector", daemon=True)
        thread.start()
        try:
            server = asyncio.run_coroutine_threadsafe(self._make_server(), loop).result()
            url = asyncio.run_coroutine_threadsafe(server.start(), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            raise
        self._loop, self._thread, self._server = loop, thread, server
        return url

    async def _make_server(self) -> CollectorServer:
        # aiohttp objects belong to the loop they are created on.
        return CollectorServer(**self._options)

    def stop(self) -> None:
        """Stop the server and the loop thread; safe to call twice."""
        if self._loop is None or self._thread is None or self._server is None:
            return
        loop, thread, server = self._loop, self._thread, self._server
        self._loop = self._thread = self._server = None
        try:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    def __enter__(self) -> ThreadedCollector:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


async def serve(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    access_log: bool = False,
    limits: ConnectionLimits | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (or cancellation); `on_ready` gets the URL once the port is bound."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available off the main thread or on every platform; cancellation still stops the server there.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    server = CollectorServer(
        host=host, port=port, token=token, max_body_bytes=max_body_bytes, access_log=access_log, limits=limits
    )
    try:
        url = await server.start()
        try:
            if on_ready is not None:
                on_ready(url)
            await stop.wait()
        finally:
            await server.stop()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
