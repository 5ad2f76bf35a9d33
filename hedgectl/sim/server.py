"""The aiohttp base every paper venue builds on: start/stop on a port, ``/_sim/`` inspection and fault routes, and the
middleware that applies request-level faults (latency, error, rate_limit, down).

A venue subclasses ``PaperVenue`` and provides its routes, its state document, how a request maps to an account name,
and its own bodies for 5xx, 429, 504 and unknown routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.sim.faults import DropMode, Fault, FaultBoard, FaultError, FaultKind
from hedgectl.sim.market import Market

if TYPE_CHECKING:
    from hedgectl.sim.exchange import Exchange

logger = logging.getLogger(__name__)

SIM_PREFIX = "/_sim/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PaperVenue:
    """Base of a paper venue server. ``name`` is the venue kind ("backpack", "lighter", "telegram").

    Subclasses implement ``add_routes``, ``state`` and usually ``account_for``, ``error_response``,
    ``rate_limit_response``, ``gateway_timeout_response`` and ``not_found_response``; for the runner they also
    implement ``create_default_accounts``, ``accounts_section``, ``snapshot`` and ``restore``.
    """

    name = "venue"

    def __init__(self, market: Market) -> None:
        self.market = market
        #: the venue's own time: request windows, order expiry, record timestamps and lag windows
        self.clock: Clock = SYSTEM_CLOCK
        self.faults = FaultBoard(self.name, market.rng(f"faults:{self.name}"))
        self.faults.on_arm(FaultKind.DOWN, self._arm_down)
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._down_task: asyncio.Task[None] | None = None
        self._down = False
        self._up_at = 0.0
        self.up_event = asyncio.Event()
        self.arrivals: deque[tuple[float, str, str]] | None = None

    # ----- what subclasses provide ------------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """The venue's ``/_sim/state`` document (JSON-able)."""
        raise NotImplementedError

    async def account_for(self, request: web.Request) -> str | None:
        """The account name a request acts for (to scope faults); None when it names none."""
        return None

    def error_response(self, fault: Fault) -> web.StreamResponse:
        return web.Response(status=fault.status, text="Internal Server Error")

    def rate_limit_response(self, fault: Fault) -> web.StreamResponse:
        return web.Response(status=429, text="Too Many Requests")

    def gateway_timeout_response(self) -> web.StreamResponse:
        return web.Response(status=504, text="Gateway Timeout")

    def not_found_response(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="Not Found")

    def create_default_accounts(self) -> None:
        """Create the accounts a fresh run starts with (funded, with fresh keys)."""

    def accounts_section(self) -> dict[str, Any]:
        """This venue's section of the accounts file (``{"url": ..., ...}``)."""
        return {"url": self.url}

    def snapshot(self) -> dict[str, Any]:
        """What the state file keeps of this venue (accounts, keys, collateral, positions)."""
        return {}

    def restore(self, data: dict[str, Any]) -> None:
        """Recreate the venue's accounts from ``snapshot()`` output."""

    def record_arrivals(self, limit: int = 100_000) -> deque[tuple[float, str, str]]:
        """Record when each API request reaches this venue, as ``(time.perf_counter(), method, path)`` (the latest
        ``limit``), to measure a client's latency from the venue's side; returns the record."""
        self.arrivals = deque(maxlen=limit)
        return self.arrivals

    # ----- lifecycle --------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def is_down(self) -> bool:
        return self._down

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        app.router.add_get(SIM_PREFIX + "state", self._sim_state)
        app.router.add_get(SIM_PREFIX + "faults", self._sim_list_faults)
        app.router.add_post(SIM_PREFIX + "faults", self._sim_arm_fault)
        app.router.add_delete(SIM_PREFIX + "faults", self._sim_clear_faults)
        self.add_routes(app.router)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0 = an ephemeral port, then ``self.port`` holds the one chosen)."""
        self.host = host
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await self._listen(port)
        self.port = self._runner.addresses[0][1]
        self.up_event.set()
        logger.info("paper %s listening on %s", self.name, self.url)

    async def stop(self) -> None:
        if self._down_task is not None:
            self._down_task.cancel()
            try:
                await self._down_task
            except asyncio.CancelledError:
                pass
            self._down_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None
        self.up_event.clear()

    async def _listen(self, port: int) -> None:
        self._site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await self._site.start()

    async def go_down(self, seconds: float) -> None:
        """Refuse connections for ``seconds``: close the listening socket and open connections, then reopen the port.

        Going down again while down extends the outage to ``seconds`` from now.
        """
        loop = asyncio.get_running_loop()
        self._up_at = loop.time() + seconds
        if self._down:
            return
        self._down = True
        self.up_event.clear()
        if self._site is not None:
            await self._site.stop()
            self._site = None
        server = self._runner.server if self._runner is not None else None
        for connection in list(server.connections if server is not None else []):
            connection.force_close()
        logger.info("paper %s down for %ss", self.name, seconds)
        self._down_task = loop.create_task(self._come_back_up())

    async def _come_back_up(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._up_at - loop.time()) > 0:
            await asyncio.sleep(delay)
        if self._runner is not None:
            await self._listen(self.port)
        self._down = False
        self.up_event.set()
        logger.info("paper %s up again on %s", self.name, self.url)

    async def _arm_down(self, fault: Fault) -> None:
        await self.go_down(fault.seconds)

    def now_ms(self) -> int:
        """The venue's time in ms since the epoch."""
        return int(self.clock.now() * 1000)

    def now_ns(self) -> int:
        """The venue's time in ns since the epoch (to the microsecond)."""
        return round(self.clock.now() * 1_000_000) * 1000

    def lag_cutoff_ms(self, request: web.Request, account: str | None, now_ms: int | None = None) -> int | None:
        """With a ``lag`` fault armed for ``account`` (and this request's path), the newest record time (ms) its
        order, trade and transaction listings may show; None without one. Each call uses one of the fault's count."""
        fault = self.faults.take(FaultKind.LAG, account, request.path)
        if fault is None:
            return None
        return (self.now_ms() if now_ms is None else now_ms) - fault.ms

    def arm_engine_faults(self, exchange: Exchange) -> None:
        """Serve ``liquidate`` (an account of ``exchange``) and ``price_move`` (the shared market) on this venue."""

        def liquidate(fault: Fault) -> None:
            exchange.liquidate(fault.account)
            streams = getattr(self, "streams", None)
            if streams is not None:
                streams.publish()  # a liquidation is pushed as it happens

        def price_move(fault: Fault) -> None:
            self.market.shock(fault.percent, fault.symbol)

        self.faults.on_arm(FaultKind.LIQUIDATE, liquidate)
        self.faults.on_arm(FaultKind.PRICE_MOVE, price_move)

    # ----- fault application ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await self._apply_faults(request, handler)
        except ConnectionResetError:
            # The client went away while its request was being read (killed, timed out, a body cut short): nobody
            # is left to answer, and it is the client's business, not an error of the venue.
            logger.debug("paper %s: client left during %s %s", self.name, request.method, _loggable(request.path))
            return web.Response(status=400, text="client went away")

    async def _apply_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(SIM_PREFIX):
            return await handler(request)
        if self.arrivals is not None:
            self.arrivals.append((time.perf_counter(), request.method, request.path))
        if self._down:
            self.drop_connection(request)
            return web.Response(status=503)
        one_way = 0.0
        if self.faults.faults:
            account = await self.account_for(request)
            path = request.path
            latency = self.faults.take(FaultKind.LATENCY, account, path)
            if latency is not None:
                # a round trip of L is L/2 to the venue and L/2 back: what the venue does happens half-way, which
                # is also when its streams can push it (another L/2 to the client)
                one_way = self.faults.latency_seconds(latency) / 2
                await asyncio.sleep(one_way)
            rate_limit = self.faults.take(FaultKind.RATE_LIMIT, account, path)
            if rate_limit is not None:
                return self.rate_limit_response(rate_limit)
            error = self.faults.take(FaultKind.ERROR, account, path)
            if error is not None:
                return self.error_response(error)
        try:
            response = await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            response = self.not_found_response(request)
        if one_way and not response.prepared:
            await asyncio.sleep(one_way)
        return response

    @staticmethod
    def drop_connection(request: web.Request) -> None:
        """Close the client's connection without an answer (the handler's return value is then never sent)."""
        if request.transport is not None:
            request.transport.close()
        if request.protocol is not None:
            request.protocol.force_close()

    async def lose_answer(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        """Apply a ``drop_after_execute`` fault after the venue has executed the request."""
        if fault.mode is DropMode.GATEWAY_TIMEOUT:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            return self.gateway_timeout_response()
        self.drop_connection(request)
        return web.Response(status=504)

    # ----- /_sim/ routes ----------------------------------------------------------------------------------------

    async def _sim_state(self, request: web.Request) -> web.StreamResponse:
        document = self.state()
        document["faults"] = self.faults.listing()
        return json_response(document)

    async def _sim_list_faults(self, request: web.Request) -> web.StreamResponse:
        return json_response({"faults": self.faults.listing()})

    async def _sim_arm_fault(self, request: web.Request) -> web.StreamResponse:
        try:
            data = json.loads(await request.read() or b"null")
            fault = Fault.from_json(data)
            if fault.kind is FaultKind.DOWN:
                return await self._arm_down_over_http(request, fault)
            await self.faults.arm(fault)
        except (FaultError, KeyError) as exc:
            return json_response({"error": str(exc).strip("'\"")}, status=400)
        except ValueError:  # not JSON, not UTF-8, or a number too long to read
            return json_response({"error": "body must be a JSON fault description"}, status=400)
        return json_response({"fault": fault.to_json()})

    async def _arm_down_over_http(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        # The answer must reach the client before the connections close, so it is written out first.
        self.faults.admit(fault)
        response = json_response({"fault": fault.to_json()})
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        await self.faults.arm(fault)
        return response

    async def _sim_clear_faults(self, request: web.Request) -> web.StreamResponse:
        kind = request.query.get("kind")
        try:
            cleared = self.faults.clear(FaultKind(kind) if kind else None)
        except ValueError:
            return json_response({"error": f"unknown fault kind {kind!r}"}, status=400)
        return json_response({"cleared": cleared})


def json_response(data: Any, status: int = 200) -> web.Response:
    """A compact JSON answer with ``Content-Type: application/json``."""
    return web.Response(
        status=status, body=json.dumps(data, separators=(",", ":")).encode(), content_type="application/json"
    )


def _loggable(path: str) -> str:
    """A request path fit for a log: the Telegram Bot API carries the bot token in its path (``/bot<token>/...``)."""
    return re.sub(r"^/bot[^/]*", "/bot***", path)
