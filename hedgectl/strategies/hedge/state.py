"""The state one hedge cycle carries through its phases (legs, plan, baseline and expected positions, the live
status) and the plumbing every part uses: reporting events and phases, reading every leg, notifying."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.model import HedgeConfig
from hedgectl.connectors.base import Position
from hedgectl.errors import PreflightFailed, VenueError
from hedgectl.model.orders import OrderIntent
from hedgectl.journal import Journal
from hedgectl.registry import ROLES
from hedgectl.strategies.hedge.base import EmergencyExit, EventSink, HedgeLeg, HedgeNotifier, VenueSpacing
from hedgectl.strategies.hedge.phases import Phase, check_move
from hedgectl.strategies.hedge.plan import HedgePlan
from hedgectl.strategies.hedge.status import CycleStatus, LegStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long the end of a cycle waits for its notifications to be delivered.
NOTIFY_DRAIN_SECS = 20.0


class CycleState:
    """One cycle's state and plumbing; ``HedgeCycle`` puts the phases on top of it."""

    def __init__(
        self,
        legs: dict[str, HedgeLeg],
        params: HedgeConfig,
        *,
        journal: Journal,
        data_dir: Path,
        notifier: HedgeNotifier | None = None,
        on_event: EventSink | None = None,
        on_readings: Callable[[CycleStatus], Any] | None = None,
        rng: random.Random | None = None,
        dry_run: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        spacing: VenueSpacing | None = None,
    ):
        missing = [role for role in ROLES if role not in legs]
        if missing:
            raise PreflightFailed(f"hedge roles without a connector: {', '.join(missing)}")
        self.legs = legs
        self.params = params
        self.journal = journal
        self.data_dir = data_dir
        self.notifier = notifier
        self.on_event = on_event
        self.on_readings = on_readings
        self.rng = rng or random.Random()
        self.dry_run = dry_run
        self.clock = clock
        #: waits, before an order that may wait (L2's entry, the close at the end), until no other loop of this
        #: machine opened or ended a cycle on the roles' venues within a second; None: orders never wait
        self.spacing = spacing
        self.status = CycleStatus(
            direction=params.direction,
            legs={
                role: LegStatus(role=role, connector=leg.connector.name, venue=leg.connector.venue, symbol=leg.symbol)
                for role, leg in legs.items()
            },
        )
        self.phase = Phase.PREFLIGHT
        self.cycle_id: str | None = None
        self.plan: HedgePlan | None = None
        self._baseline: dict[str, Decimal] = {}
        self._baseline_price: dict[str, Decimal | None] = {}
        #: each leg's position as this cycle's own confirmed fills say (baseline plus fills); reads verify it
        self._expected: dict[str, Decimal] = {}
        self._expected_nonzero: set[str] = set()
        self._warned_liquidation: set[str] = set()
        #: each leg's count of liquidations its account stream had pushed when the cycle started trading
        self._liquidations_seen: dict[str, int] = {}
        self._started_at = self.clock.now()
        self._stop = asyncio.Event()
        self._l1_client_order_index: int | None = None
        self._l1_intent: OrderIntent | None = None
        #: when the BP entry's fill became known (time.perf_counter()): where the naked window starts
        self.bp_filled_at = 0.0
        self.naked_window_ms: float | None = None
        self._notifications: set[asyncio.Task] = set()

    # --- plumbing --------------------------------------------------------------------------------------------

    def _emit(self, name: str, text: str, **data: Any) -> None:
        """Report an event to the status, the log and the event sink; reporting never breaks trading."""
        self.status.log(text)
        logger.info("%s", text)
        if self.on_event is not None:
            try:
                self.on_event(name, data, text)
            except Exception as exc:  # a closed pipe or a broken view must not stop a flatten
                logger.warning("event output failed (%s: %s); events go to the log only", type(exc).__name__, exc)
                self.on_event = None

    def _enter(self, phase: Phase, **data: Any) -> None:
        check_move(self.phase, phase)
        self.phase = phase
        self.status.phase = phase.value
        if self.cycle_id is not None:
            try:
                self.journal.set_phase(self.cycle_id, phase.value, **data)
            except Exception as exc:  # the phase is a report; the orders' intents are what recovery needs
                logger.error("journal: phase %s not recorded: %s", phase.value, exc)
        self._emit("phase", f"phase: {phase.value}", phase=phase.value, **data)

    def _account_keys(self) -> list[str]:
        return [leg.connector.account_id() for leg in self.legs.values()]

    # --- the legs' positions ---------------------------------------------------------------------------------

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the operator's stop; True when it came."""
        return await self.clock.wait(self._stop, seconds)

    async def _stopped_or_pushed_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the operator's stop, or less when a leg's account stream pushes a change (or
        has pushed a liquidation not acted on yet): the monitor then looks at once, and the poll stays the
        watchdog. True when the stop came."""
        streams = self._streams()
        if not streams:
            return await self._stopped_within(seconds)
        woken = asyncio.Event()
        for stream in streams:
            stream.changed.clear()
        if self._pushed_liquidation() is not None:  # pushed while the legs were being read
            return self._stop.is_set()
        waiters = [asyncio.ensure_future(event.wait()) for event in [self._stop, *(s.changed for s in streams)]]
        for waiter in waiters:
            waiter.add_done_callback(lambda _: woken.set())
        try:
            await self.clock.wait(woken, seconds)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._stop.is_set()

    def _streams(self) -> list[Any]:
        return [stream for stream in (getattr(leg.connector, "stream", None) for leg in self.legs.values())
                if stream is not None]

    async def _unless_liquidation_pushed(self, step: Awaitable[T]) -> T:
        """Run one of the monitor's REST steps, cut short by a liquidation a leg's stream pushes meanwhile: the exit
        (EmergencyExit) then starts at once instead of after the step's round trips."""
        streams = self._streams()
        task = asyncio.ensure_future(step)
        waiters: dict[int, asyncio.Future[None]] = {}
        try:
            while True:
                role = self._pushed_liquidation()
                if role is not None:
                    raise EmergencyExit(self._pushed_liquidation_reason(role))
                if task.done():
                    return task.result()
                for index, stream in enumerate(streams):
                    if index not in waiters or waiters[index].done():
                        waiters[index] = stream.liquidation_pushed()  # a liquidation of another market re-arms
                await asyncio.wait([task, *waiters.values()], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters.values():
                waiter.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _pushed_liquidation_reason(self, role: str) -> str:
        return f"{role} ({self.legs[role].connector.name}) was liquidated (pushed by its account stream)"

    def _liquidation_counts(self) -> dict[str, int]:
        counts = {}
        for role, leg in self.legs.items():
            pushed = getattr(leg.connector, "pushed_liquidations", None)
            counts[role] = pushed(leg.symbol) if pushed is not None else 0
        return counts

    def _pushed_liquidation(self) -> str | None:
        """The first leg whose account stream pushed a liquidation since the cycle started trading, if any."""
        for role, count in self._liquidation_counts().items():
            if count > self._liquidations_seen.get(role, 0):
                return role
        return None

    def _pushed_size(self, role: str) -> Decimal | None:
        """The leg's position as its account stream (while trusted) last pushed it: may size a first reduce-only
        close, never proves a position flat."""
        leg = self.legs[role]
        pushed = getattr(leg.connector, "pushed_position", None)
        return pushed(leg.symbol) if pushed is not None else None

    def _show_pushed_positions(self) -> Callable[[], None]:
        """Show in the status every position a leg's trusted account stream pushes, at once; returns the function
        that stops it. Display only: the cycle decides from REST reads, and the next read replaces what is shown."""
        stops = []
        for role, leg in self.legs.items():
            stream = getattr(leg.connector, "stream", None)
            pushed = getattr(leg.connector, "pushed_position", None)
            if stream is None or pushed is None or not hasattr(stream.changed, "listen"):
                continue
            last = {"size": pushed(leg.symbol)}

            def on_change(role: str = role, symbol: str = leg.symbol, pushed: Any = pushed,
                          last: dict = last) -> None:
                # ``changed`` is also set by order reports: only a position that moved since the last push is news
                size = pushed(symbol)
                if size is None or size == last["size"]:
                    last["size"] = size
                    return
                last["size"] = size
                if self.status.show_pushed(role, size) and self.on_readings is not None:
                    self.on_readings(self.status)

            stops.append(stream.changed.listen(on_change))

        def stop() -> None:
            for one in stops:
                one()

        return stop

    async def _read_all(self) -> dict[str, Position | VenueError]:
        """One concurrent read of every leg; a failure is kept as the error (unknown), never as zero."""

        async def one(role: str) -> tuple[str, Position | VenueError]:
            leg = self.legs[role]
            try:
                return role, await leg.connector.position(leg.symbol)
            except VenueError as exc:
                return role, exc

        results = dict(await asyncio.gather(*(one(role) for role in self.legs)))
        for role, value in results.items():
            leg_status = self.status.legs[role]
            if isinstance(value, VenueError):
                leg_status.position_error = str(value)
            else:
                leg_status.set_position(value.signed_size, source="venue")
                leg_status.mark_price = value.mark_price
                leg_status.liquidation_price = value.liquidation_price
                leg_status.latency_ms = self.legs[role].connector.last_latency_ms
        if self.on_readings is not None:
            self.on_readings(self.status)
        return results

    async def _read_all_known(self) -> dict[str, Decimal]:
        """Every leg's signed size, retrying unknown legs; EmergencyExit if one stays unknown."""
        for attempt in range(4):
            results = await self._read_all()
            if not any(isinstance(v, VenueError) for v in results.values()):
                return {role: value.signed_size for role, value in results.items()}
            await self.clock.sleep(0.25 * (2**attempt))
        unknown = [f"{role}: {value}" for role, value in results.items() if isinstance(value, VenueError)]
        raise EmergencyExit("positions unknown: " + "; ".join(unknown))

    def _add_fill(self, role: str, signed_size: Decimal) -> None:
        """Count a confirmed fill in the leg's expected position; the view shows it until the next read."""
        self._expected[role] += signed_size
        if signed_size:
            self.status.legs[role].set_position(self._expected[role], source="fills")

    # --- notifications ---------------------------------------------------------------------------------------

    async def _notify(self, method: str, *args: Any) -> None:
        """Send a notification in the background: a slow or failing notifier never holds up the cycle."""
        if self.notifier is None:
            return

        async def deliver() -> None:
            try:
                await getattr(self.notifier, method)(*args)
            except Exception as exc:  # a notification must never break trading
                logger.warning("notification %s failed: %s", method, exc)

        task = asyncio.get_running_loop().create_task(deliver(), name=f"notify:{method}")
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _drain_notifications(self) -> None:
        """At the end, give pending notifications a bounded time to be delivered."""
        if not self._notifications:
            return
        done, pending = await asyncio.wait(set(self._notifications), timeout=NOTIFY_DRAIN_SECS)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("%d notification(s) not delivered in time", len(pending))
