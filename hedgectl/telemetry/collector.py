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
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hedgectl.telemetry.protocol import AUTH_HEADER, is_valid_bot_name, offline_after_ms

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 10123
# A heartbeat is a few hundred bytes; the limit leaves room for extra fields without inviting memory abuse.
DEFAULT_MAX_BODY_BYTES = 16 * 1024
# Bounds memory when something posts under ever new names; prune or restart to make room.
DEFAULT_MAX_BOTS = 10_000

Clock = Callable[[], float]


def _wall_clock_ms() -> float:
    return time.time() * 1000.0


@dataclass
class _Heartbeat:
    payload: dict[str, Any]
    received_ms: float
    offline_after_ms: float


def _reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


def _error(status: int, message: str) -> web.Response:
    return _reply(status, {"status": "error", "error": message})


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    # 1e400 parses to inf, which would make /api/status invalid JSON for strict readers.
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


class HeartbeatStore:
    """Latest heartbeat per bot name, with the online rule of the old collector (younger than 2 x its interval)."""

    def __init__(self, *, clock_ms: Clock = _wall_clock_ms, max_bots: int = DEFAULT_MAX_BOTS) -> None:
        self._clock_ms = clock_ms
        self._max_bots = max_bots
        self._bots: dict[str, _Heartbeat] = {}

    def __len__(self) -> int:
        return len(self._bots)

    def put(self, name: str, payload: dict[str, Any]) -> bool:
        """Store `payload` as the latest heartbeat of `name`; False when the store is full and `name` is new."""
        if name not in self._bots and len(self._bots) >= self._max_bots:
            return False
        self._bots[name] = _Heartbeat(payload, self._clock_ms(), offline_after_ms(payload))
        return True

    def status(self) -> dict[str, Any]:
        """The /api/status document: `{"now", "bots": [{"name", "online", "last_update_ms_ago", "payload"}]}`."""
        now = self._clock_ms()
        bots = []
        for name, beat in self._bots.items():
            age = now - beat.received_ms
            bots.append(
                {
                    "name": name,
                    "online": age < beat.offline_after_ms,
                    "last_update_ms_ago": max(0, round(age)),
                    "payload": beat.payload,
                }
            )
        return {"now": round(now), "bots": bots}

    def prune(self, older_ms: float | None = None) -> list[str]:
        """Forget bots silent for more than `older_ms` (default: the offline ones); returns their names."""
        now = self._clock_ms()
        removed = [
            name
            for name, beat in self._bots.items()
            if now - beat.received_ms >= (beat.offline_after_ms if older_ms is None else older_ms)
        ]
        for name in removed:
            del self._bots[name]
        return removed


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
) -> web.Application:
    """The collector as an aiohttp application; with `token`, every route demands it in the x-auth-token header."""
    if token is not None and not token:
        raise ValueError("collector token must not be empty; pass None to disable authentication")
    heartbeats = store if store is not None else HeartbeatStore()

    async def ingest(request: web.Request) -> web.Response:
        name = request.match_info["bot_name"]
        if not is_valid_bot_name(name):
            return _error(
                400, "bad bot name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _error(413, f"body over {max_body_bytes} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body over {max_body_bytes} bytes")
        try:
            payload = json.loads(body, parse_constant=_reject_json_constant, parse_float=_finite_float)
        except (ValueError, RecursionError):
            return _error(400, "body is not valid JSON")
        if not isinstance(payload, dict):
            return _error(400, "body must be a JSON object")
        if not heartbeats.put(name, payload):
            return _error(507, "collector holds too many bots; prune first")
        return _reply(200, {"status": "ok"})

    async def status(_request: web.Request) -> web.Response:
        return _reply(200, heartbeats.status(), headers={"Cache-Control": "no-store"})

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

    app = web.Application(middlewares=[_auth_middleware(token)], client_max_size=max_body_bytes)
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
    ) -> None:
        self._host = host
        self._port = port
        self.store = store if store is not None else HeartbeatStore()
        self._app = create_app(token=token, store=self.store, max_body_bytes=max_body_bytes)
        # The access log costs a noticeable share of each request at high heartbeat rates, so it is opt-in.
        self._runner = web.AppRunner(self._app, access_log=logging.getLogger("aiohttp.access") if access_log else None)
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"CollectorServer(url={self._url!r})"

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("collector is not running")
        return self._url

    async def start(self) -> str:
        """Bind and start serving; returns the base URL (http://host:port)."""
        sock = _bind(self._host, self._port)
        try:
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
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
    server = CollectorServer(host=host, port=port, token=token, max_body_bytes=max_body_bytes, access_log=access_log)
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
