"""A venue account's WebSocket stream as an accelerator beside the REST reads: one connection per account, resubscribed
after every disconnect with backoff, counted as down when silent beyond its heartbeat window, and trusted again only
after a reconciliation by REST. A stream that cannot be kept up degrades to the REST path, logged once.

Venue clients subclass ``AccountStream`` and provide the subscribe frames and the handling of a frame; the frames'
facts reach the connector through the same report values its REST reads produce.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.connectors.base import OrderReport
from hedgectl.connectors.confirmation import Confirmations
from hedgectl.errors import OrderStateError
from hedgectl.text import visible

logger = logging.getLogger(__name__)

#: The largest frame a stream accepts; an account frame is a few kB, a hostile one is cut off here.
MAX_FRAME_BYTES = 1024 * 1024
#: Backoff between reconnects: first delay, factor, ceiling (s); reset after a healthy connection.
BACKOFF_FIRST_SECS = 0.25
BACKOFF_FACTOR = 2.0
BACKOFF_MAX_SECS = 30.0
#: A connection that stayed up this long resets the backoff.
HEALTHY_SECS = 30.0

Reconcile = Callable[[], Awaitable[None]]


class StreamState(str, enum.Enum):
    """Where a stream stands; only ``UP`` is trusted."""

    STARTING = "starting"
    RECONCILING = "reconciling"  # connected and subscribed, REST reconciliation not yet done
    UP = "up"
    DOWN = "down"
    CLOSED = "closed"


class StreamGap(Exception):
    """A frame showed that earlier frames were missed (a sequence gap): reconcile before trusting the stream."""


class StreamClosed(Exception):
    """The venue ended the subscription (an error frame, a shutdown notice): reconnect."""


class ChangeSignal(asyncio.Event):
    """The stream's ``changed`` event, which also calls its listeners (synchronously) each time it is set: a waiter
    may miss a set another consumer cleared, a listener sees every one."""

    def __init__(self) -> None:
        super().__init__()
        self._listeners: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` at every set from now on; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return stop

    def set(self) -> None:
        super().set()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener only shows what was pushed; it never breaks the stream
                logger.exception("stream change listener failed")


class AccountStream:
    """One account's stream. ``reconcile`` runs (by REST) after every connect, reconnect and gap before the stream
    counts as up; ``silence_secs`` without any frame makes it count as down at once, and closes it to reconnect.

    Subclasses implement ``subscribe`` (send the subscribe frames on a fresh connection) and ``handle`` (one parsed
    JSON frame; raise ``StreamGap`` or ``StreamClosed``), and may set ``keepalive_secs`` with ``keepalive_frame``.
    """

    #: the venue's name in logs
    venue = "venue"
    #: send ``keepalive_frame()`` this often (None: the venue needs no client frames)
    keepalive_secs: float | None = None

    def __init__(self, name: str, url: str, *, reconcile: Reconcile, clock: Clock = SYSTEM_CLOCK,
                 silence_secs: float = 40.0, heartbeat_secs: float = 15.0, rng: random.Random | None = None):
        self.name = name
        self.url = url
        self.clock = clock
        self.silence_secs = silence_secs
        self.heartbeat_secs = heartbeat_secs
        self._reconcile = reconcile
        self._rng = rng or random.Random()
        self.state = StreamState.STARTING
        #: set whenever a frame changed what the connector knows (a report applied, a position moved)
        self.changed = ChangeSignal()
        self._last_frame_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None
        self._degraded_logged = False
        self._gap = asyncio.Event()
        self.connects = 0
        self.reconciliations = 0
        #: how many liquidations (or deleveragings) of the account the stream pushed so far, by symbol: a consumer
        #: keeps the count it last saw and acts when it grows (the venue's own fact, whatever the stream's state)
        self.liquidation_counts: dict[str, int] = {}
        self._liquidation_waiters: set[asyncio.Future[None]] = set()

    # ----- what subclasses provide -------------------------------------------------------------------------------

    async def subscribe(self, ws: Any) -> None:
        raise NotImplementedError

    async def handle(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    def keepalive_frame(self) -> dict[str, Any] | None:
        return None

    def position_of(self, symbol: str) -> Decimal | None:
        """The signed position of ``symbol`` the stream last pushed (or reconciled), None when it never said."""
        return None

    def liquidation_pushed(self) -> asyncio.Future[None]:
        """A future the next pushed liquidation resolves (cancel it when no longer waiting); unlike ``changed``,
        nobody clears it for another consumer."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._liquidation_waiters.add(future)
        future.add_done_callback(self._liquidation_waiters.discard)
        return future

    def _count_liquidation(self, symbol: str) -> None:
        self.liquidation_counts[symbol] = self.liquidation_counts.get(symbol, 0) + 1
        self.changed.set()
        for waiter in list(self._liquidation_waiters):
            if not waiter.done():
                waiter.set_result(None)

    async def connect_headers(self) -> dict[str, str]:
        """Headers of the WebSocket upgrade (a venue that authenticates the connection itself); none by default."""
        return {}

    # ----- state ---------------------------------------------------------------------------------------------

    @property
    def up(self) -> bool:
        """Trusted: reconciled since the last (re)connect, and heard from within the heartbeat window."""
        return self.state is StreamState.UP and self.clock.monotonic() - self._last_frame_at <= self.silence_secs

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stream {self.name}")
        return self._task

    async def close(self) -> None:
        self.state = StreamState.CLOSED
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one JSON frame on the current connection (dropped when there is none)."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.send_str(json.dumps(frame, separators=(",", ":")))

    def report_gap(self) -> None:
        """A consumer found the stream's facts inconsistent: reconcile by REST before trusting it again."""
        self._gap.set()

    # ----- the connection loop -------------------------------------------------------------------------------

    async def _run(self) -> None:
        import aiohttp

        delay = BACKOFF_FIRST_SECS
        async with aiohttp.ClientSession() as session:
            while self.state is not StreamState.CLOSED:
                started = self.clock.monotonic()
                try:
                    await self._connection(session)
                    reason = "closed by the venue"
                except asyncio.CancelledError:
                    raise
                except StreamClosed as exc:
                    reason = str(exc)
                except Exception as exc:  # a stream never takes the connector down: REST carries on
                    reason = f"{type(exc).__name__}: {exc}"[:200]
                if self.state is StreamState.CLOSED:
                    return
                self._went_down(reason)
                if self.clock.monotonic() - started >= HEALTHY_SECS:
                    delay = BACKOFF_FIRST_SECS
                # pacing of the wire, not a window: real time, also under a simulated clock
                await asyncio.sleep(delay * (1 + 0.25 * self._rng.random()))
                delay = min(delay * BACKOFF_FACTOR, BACKOFF_MAX_SECS)

    def _went_down(self, reason: str) -> None:
        reason = visible(reason, 200)  # may carry the venue's own words
        was_up = self.state is StreamState.UP
        self.state = StreamState.DOWN
        self._ws = None
        self.changed.set()
        if not self._degraded_logged:
            logger.warning("%s: %s stream down (%s); confirming by REST until it is back", self.name, self.venue,
                           reason)
            self._degraded_logged = True
        elif was_up:
            logger.info("%s: %s stream down again (%s)", self.name, self.venue, reason)
        else:
            logger.debug("%s: %s stream still down (%s)", self.name, self.venue, reason)

    async def _connection(self, session: Any) -> None:
        import aiohttp

        async with session.ws_connect(self.url, heartbeat=self.heartbeat_secs, autoping=True,
                                      max_msg_size=MAX_FRAME_BYTES, headers=await self.connect_headers()) as ws:
            self._ws = ws
            self.connects += 1
            self._last_frame_at = self.clock.monotonic()
            await self.subscribe(ws)
            self.state = StreamState.RECONCILING
            reconciler = asyncio.get_running_loop().create_task(self._reconcile_then_trust())
            keepalive = asyncio.get_running_loop().create_task(self._keepalive()) if self.keepalive_secs else None
            try:
                while True:
                    if self._gap.is_set():
                        self._gap.clear()
                        if reconciler.done():
                            self.state = StreamState.RECONCILING
                            reconciler = asyncio.get_running_loop().create_task(self._reconcile_then_trust())
                    if self.clock.monotonic() - self._last_frame_at > self.silence_secs:
                        raise StreamClosed(f"silent for more than {self.silence_secs:g}s")
                    try:
                        message = await ws.receive(timeout=min(self.heartbeat_secs, self.silence_secs))
                    except TimeoutError:
                        continue
                    if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                        aiohttp.WSMsgType.CLOSED):
                        raise StreamClosed(f"closed by the venue (code {ws.close_code})")
                    if message.type is aiohttp.WSMsgType.ERROR:
                        raise StreamClosed(f"connection error: {ws.exception()!r}"[:200])
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        continue
                    self._last_frame_at = self.clock.monotonic()
                    frame = _parse(message.data)
                    if frame is None:
                        logger.debug("%s: unreadable %s stream frame ignored", self.name, self.venue)
                        continue
                    try:
                        await self.handle(frame)
                    except StreamGap:
                        self._gap.set()
            finally:
                for task in (reconciler, keepalive):
                    if task is not None and not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
                self._ws = None

    async def _reconcile_then_trust(self) -> None:
        try:
            await self._reconcile()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # not trusted: the REST path carries on, and the next gap or reconnect tries again
            logger.info("%s: %s stream reconciliation failed: %s", self.name, self.venue, str(exc)[:200])
            return
        self.reconciliations += 1
        if self.state is StreamState.RECONCILING:
            self.state = StreamState.UP
            if self._degraded_logged:
                logger.info("%s: %s stream up again", self.name, self.venue)
                self._degraded_logged = False
        self.changed.set()

    async def _keepalive(self) -> None:
        assert self.keepalive_secs is not None
        while True:
            await asyncio.sleep(self.keepalive_secs)
            frame = self.keepalive_frame()
            if frame is not None:
                await self.send(frame)


def _parse(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, str) or len(data) > MAX_FRAME_BYTES:
        return None
    try:
        frame = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return frame if isinstance(frame, dict) else None


class StreamingConnector:
    """What a connector with an account stream has (mixed into it): the stream, opened by ``prepare`` unless the
    connector's ``streams`` option is false, and the hooks its frames use. A pushed order report goes to the
    connector's confirmation core through its one entry, ``apply_report``, exactly as a REST read's does."""

    stream: AccountStream | None = None
    streams_enabled: bool = True
    confirmations: Confirmations
    name: str

    def _stream_options(self, options: dict[str, Any], default_url: str) -> None:
        self.ws_url = options.get("ws_url") or default_url
        self.streams_enabled = options.get("streams", True) is not False
        self.stream = None

    def _new_stream(self) -> AccountStream:
        raise NotImplementedError

    def open_stream(self) -> None:
        """Start the account stream (unless disabled); it connects, reconciles and is trusted in the background."""
        if not self.streams_enabled or self.stream is not None:
            return
        self.stream = self._new_stream()
        self.stream.start()

    async def close_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            await stream.close()

    @property
    def streaming(self) -> bool:
        """The stream is up and trusted (reconciled since its last connect, heard from within its window)."""
        return self.stream is not None and self.stream.up

    def pushed_position(self, symbol: str) -> Decimal | None:
        """The position the stream last pushed, only while the stream is trusted (None otherwise). It may size a
        reduce-only close order at once; it is never proof that a position is flat."""
        if not self.streaming:
            return None
        assert self.stream is not None
        return self.stream.position_of(symbol)

    def pushed_liquidations(self, symbol: str) -> int:
        """How many liquidations of ``symbol`` the stream has pushed so far (0 without a stream): a consumer acts when
        the count grows past the one it saw, which may start an emergency exit and proves nothing else."""
        return self.stream.liquidation_counts.get(symbol, 0) if self.stream is not None else 0

    def pushed_report(self, report: OrderReport, reason: str | None = None,
                      info: dict[str, Any] | None = None) -> bool:
        """Apply an order report the stream pushed, as a REST read's is applied; whether an order of ours took it."""
        try:
            return self.confirmations.apply_report(report, reason=reason, info=info) is not None
        except OrderStateError as exc:
            # a pushed report that contradicts what the venue already said is left to the REST reads
            logger.info("%s: pushed report of order %s not applied: %s", self.name, report.client_order_index, exc)
            return False

    def wake_confirmations(self) -> None:
        """Every order being confirmed reads by REST now (after the stream reconnected and reconciled)."""
        for watch in self.confirmations.watches.values():
            watch.wake.set()


def without_streams(config: Any) -> Any:
    """``config`` with every connector's account stream switched off: the REST-only path (``--no-streams``)."""
    import dataclasses

    connectors = {
        name: dataclasses.replace(connector, options={**connector.options, "streams": False})
        for name, connector in config.connectors.items()
    }
    return dataclasses.replace(config, connectors=connectors)
