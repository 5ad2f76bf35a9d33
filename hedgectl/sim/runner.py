"""Start, stop and drive the paper venues together: ``PaperVenues`` for async code, ``ThreadedPaperVenues`` for sync
code (CLI, pytest fixtures), and ``serve`` for ``hedgectl sim serve``.

Venue kinds are looked up in ``VENUE_KINDS`` (kind -> "module:Class"); each class is a ``PaperVenue`` subclass built as
``Class(market)``. All venues of one run share one ``Market`` and so one seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.sim.faults import Fault, FaultKind
from hedgectl.sim.market import Market, plain
from hedgectl.sim.server import PaperVenue

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Venue kind -> "module:Class". The order is the order of the accounts document. A venue kind whose module is not
# importable is skipped with a warning, so the runner works while a venue is still being built.
VENUE_KINDS: dict[str, str] = {
    "backpack": "hedgectl.sim.backpack:PaperBackpack",
    "lighter": "hedgectl.sim.lighter:PaperLighter",
    "grvt": "hedgectl.sim.grvt:PaperGrvt",
    "telegram": "hedgectl.sim.telegram:PaperTelegram",
}

STATE_FILE_VERSION = 1


def venue_class(kind: str) -> type[PaperVenue]:
    """Import and return the class registered for venue ``kind``."""
    try:
        target = VENUE_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown paper venue {kind!r}; one of {', '.join(VENUE_KINDS)}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def write_private_json(path: Path, document: Any) -> None:
    """Write JSON atomically (temp file + rename) with mode 0600: the documents hold paper keys and tokens."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
        os.chmod(temp_name, 0o600)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


class PaperVenues:
    """Every paper venue of one run, in the running event loop.

    ``ports`` maps venue kind to port (0 or missing = ephemeral). ``kinds`` chooses the venues (default: every
    registered kind). ``tick_seconds`` is how often the mids take a random-walk step (0 = never; tests
    move prices with ``market.advance`` or the price_move fault). ``clock`` is the venues' time (request windows,
    order expiry, record times, lag windows). ``state_file``, when given, is read at start (if it
    exists) and written after every tick and at stop.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        seed: int = 0,
        kinds: Iterable[str] | None = None,
        tick_seconds: float = 1.0,
        volatility_scale: Decimal = Decimal("1"),
        state_file: str | os.PathLike[str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.host = host
        self.ports = dict(ports or {})
        self.seed = seed
        self.kinds = list(kinds) if kinds is not None else list(VENUE_KINDS)
        self.tick_seconds = tick_seconds
        self.state_file = Path(state_file) if state_file is not None else None
        self.market = Market(seed=seed, volatility_scale=volatility_scale)
        self.venues: dict[str, PaperVenue] = {kind: venue_class(kind)(self.market) for kind in self.kinds}
        self.clock = clock
        for venue in self.venues.values():
            venue.clock = clock
        self._ticker: asyncio.Task[None] | None = None
        self._started = False

    def venue(self, kind: str) -> PaperVenue:
        try:
            return self.venues[kind]
        except KeyError:
            raise ValueError(f"paper venue {kind!r} is not running; running: {', '.join(self.venues)}") from None

    def url(self, kind: str) -> str:
        return self.venue(kind).url

    async def start(self) -> None:
        """Restore or create the accounts, then start every venue; returns once all listen."""
        if not self._load_state():
            for venue in self.venues.values():
                venue.create_default_accounts()
        started: list[PaperVenue] = []
        try:
            for kind, venue in self.venues.items():
                await venue.start(self.host, self.ports.get(kind, 0))
                started.append(venue)
        except BaseException:
            for venue in started:
                await venue.stop()
            raise
        self._started = True
        self.save_state()
        if self.tick_seconds > 0 or self.state_file is not None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._started:
            self.save_state()
        for venue in self.venues.values():
            await venue.stop()
        self._started = False

    async def __aenter__(self) -> PaperVenues:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _tick_forever(self) -> None:
        interval = self.tick_seconds if self.tick_seconds > 0 else 1.0
        while True:
            await asyncio.sleep(interval)
            if self.tick_seconds > 0:
                self.market.advance()
            self.save_state()

    def accounts_document(self) -> dict[str, Any]:
        """The accounts file: ``{"backpack": {"url", "accounts": [...]}, "lighter": {...}, "telegram": {...}}``."""
        return {kind: venue.accounts_section() for kind, venue in self.venues.items()}

    async def arm(self, kind: str, fault_kind: FaultKind | str, **options: Any) -> Fault:
        """Arm a fault on venue ``kind``; ``options`` are the fault's JSON options (account, count, ms, ...)."""
        fault = Fault.from_json({"kind": FaultKind(fault_kind).value, **options})
        return await self.venue(kind).faults.arm(fault)

    def clear(self, kind: str, fault_kind: FaultKind | str | None = None) -> int:
        return self.venue(kind).faults.clear(FaultKind(fault_kind) if fault_kind else None)

    def state(self, kind: str) -> dict[str, Any]:
        """Venue ``kind``'s ``/_sim/state`` document, read directly."""
        venue = self.venue(kind)
        document = venue.state()
        document["faults"] = venue.faults.listing()
        return json.loads(json.dumps(document))

    def save_state(self) -> None:
        if self.state_file is None:
            return
        document = {
            "version": STATE_FILE_VERSION,
            "seed": self.seed,
            "mid_prices": {base: plain(mid) for base, mid in self.market.mids.items()},
            "venues": {kind: venue.snapshot() for kind, venue in self.venues.items()},
        }
        write_private_json(self.state_file, document)

    def _load_state(self) -> bool:
        if self.state_file is None or not self.state_file.exists():
            return False
        document = json.loads(self.state_file.read_text())
        if document.get("version") != STATE_FILE_VERSION:
            raise ValueError(f"{self.state_file}: unsupported paper state version {document.get('version')!r}")
        for base, mid in document.get("mid_prices", {}).items():
            if base in self.market.mids:
                self.market.mids[base] = Decimal(mid)
        for kind, venue in self.venues.items():
            snapshot = document.get("venues", {}).get(kind)
            if snapshot:
                venue.restore(snapshot)
            else:
                venue.create_default_accounts()
        logger.info("paper venues restored from %s", self.state_file)
        return True


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


class ThreadedPaperVenues:
    """``PaperVenues`` in a background thread with its own event loop, for synchronous callers.

    ``start()`` returns once every server accepts connections; ``stop()`` stops the servers and joins the thread.
    Usable as a context manager. The keyword arguments are those of ``PaperVenues``.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.venues: PaperVenues | None = None

    def start(self) -> ThreadedPaperVenues:
        if self._thread is not None:
            raise RuntimeError("paper venues already started")
        self._thread = threading.Thread(target=self._run, name="paper-venues", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        for venue in self.venues.venues.values():
            if not _accepts_connections(venue.host, venue.port):
                self.stop()
                raise RuntimeError(f"paper {venue.name} does not accept connections on {venue.url}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.venues = loop.run_until_complete(self._create_and_start())
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.venues.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _create_and_start(self) -> PaperVenues:
        venues = PaperVenues(**self._options)
        await venues.start()
        return venues

    def call(self, function: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run ``function()``'s coroutine in the venues' loop and return its result."""
        if self._loop is None or self.venues is None:
            raise RuntimeError("paper venues not started")
        return asyncio.run_coroutine_threadsafe(function(), self._loop).result(timeout)

    def call_sync(self, function: Callable[[], T], timeout: float = 30.0) -> T:
        """Run a plain function in the venues' loop (engine state is only touched from there)."""

        async def wrapper() -> T:
            return function()

        return self.call(wrapper, timeout)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> ThreadedPaperVenues:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- conveniences for tests and the CLI -------------------------------------------------------------------

    def url(self, kind: str) -> str:
        return self.venues.url(kind)

    def accounts_document(self) -> dict[str, Any]:
        return self.call_sync(self.venues.accounts_document)

    def arm(self, kind: str, fault_kind: FaultKind | str, **options: Any) -> Fault:
        return self.call(lambda: self.venues.arm(kind, fault_kind, **options))

    def clear(self, kind: str, fault_kind: FaultKind | str | None = None) -> int:
        return self.call_sync(lambda: self.venues.clear(kind, fault_kind))

    def state(self, kind: str) -> dict[str, Any]:
        return self.call_sync(lambda: self.venues.state(kind))

    def exchange_audit(self) -> list[str]:
        """Duplicate executions or over-fills on any venue's engine (empty when all is well)."""

        def audit() -> list[str]:
            problems = []
            for kind, venue in self.venues.venues.items():
                exchange = getattr(venue, "exchange", None)
                if exchange is not None:
                    problems.extend(f"{kind}: {problem}" for problem in exchange.audit())
            return problems

        return self.call_sync(audit)


async def serve(
    *,
    accounts_out: str | os.PathLike[str] | None = None,
    on_ready: Callable[[PaperVenues], None] | None = None,
    stop_event: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Run the paper venues until SIGINT/SIGTERM (or ``stop_event``), for ``hedgectl sim serve``.

    The accounts file is written (atomically, mode 0600) only once every server accepts connections; ``on_ready``
    is then called with the running venues (the CLI prints where they are). ``options`` are those of ``PaperVenues``.
    """
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    venues = PaperVenues(**options)
    try:
        await venues.start()
        try:
            if accounts_out is not None:
                write_private_json(Path(accounts_out), venues.accounts_document())
            if on_ready is not None:
                on_ready(venues)
            await stop.wait()
        finally:
            await venues.stop()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    logger.info("paper venues stopped")


def run_serve(**options: Any) -> None:
    """Blocking ``serve`` in a fresh event loop (what the CLI command calls)."""
    asyncio.run(serve(**options))
