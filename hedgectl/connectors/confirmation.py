"""How every connector confirms its orders from the venue: one core, used by Backpack, Lighter and GRVT alike.

The core owns the orders being confirmed (``Watch``), their background tasks and ``close()``, the handles given to
callers, the one entry through which any source of venue reports (the REST poll, a push stream) is applied to an
order (``apply_report``), the polling loop with its backoff and its rule "unreadable for too long -> ambiguous", and
the check that a cancel-all left no order open. Whichever source comes first confirms: a report applied while the
poll's read is in flight and that ends the order ends the confirmation at once (the read is abandoned). A report
that arrives through ``apply_report`` before the sender has read the send's verdict is held until it has
(``verdict_read``): a refusal pushed before the send's answer must neither turn a returned handle into a raised
error nor a raised error into a returned handle. A venue supplies what is its own: how to look an order up, what in
its report is a refusal, and how to prove that an order whose answer was lost never landed (``lost_answer``).

An order sent and never confirmed ends as ``AmbiguousOutcome`` on every venue: the callers (the cycle, flatten,
recovery) treat it as "may have executed", never as "nothing was sent".
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from hedgectl.clock import Clock
from hedgectl.connectors.base import OrderReport
from hedgectl.connectors.lost_answer import LostAnswer, LostAnswerEvent
from hedgectl.connectors.tasks import collect_task
from hedgectl.errors import AmbiguousOutcome, RateLimited, VenueError, VenueProtocolError, VenueUnavailable
from hedgectl.model.orders import (
    OrderEvent,
    OrderSnapshot,
    OrderTracker,
    OrderType,
    TrackingLimitOrder,
    TrackingMarketOrder,
)

logger = logging.getLogger(__name__)

#: Read failures that may pass: they count towards "unreadable for too long", anything else ends the confirmation.
UNREADABLE = (VenueUnavailable, RateLimited, VenueProtocolError)

#: What a venue says is a refusal in one of its reports (given its reason): the error to fail the order with and the
#: reason to record, or None.
Refusal = Callable[[OrderReport, "str | None"], "tuple[VenueError, str] | None"]


def backoff(first_secs: float, max_secs: float, factor: float = 1.5) -> Callable[[int], float]:
    """Delays growing by ``factor`` from ``first_secs`` up to ``max_secs`` (round n waits ``delay(n)``)."""
    return lambda round_: min(first_secs * factor**round_, max_secs)


def schedule(delays: Iterable[float], then_secs: float) -> Callable[[int], float]:
    """The given delays in turn, then ``then_secs`` for ever."""
    fixed = list(delays)
    return lambda round_: fixed[round_] if round_ < len(fixed) else then_secs


class Watch:
    """An order the connector is still confirming: its tracker, the event that wakes its polling loop early, the
    resolution of its lost answer (when it was lost), and what the venue keeps of it (``data``)."""

    __slots__ = ("tracker", "wake", "lost", "data", "listeners", "verdict_read", "held")

    def __init__(self, tracker: OrderTracker, *, listeners: Iterable[Any] = (), data: Any = None,
                 verdict_read: bool = True):
        self.tracker = tracker
        self.wake = asyncio.Event()
        self.listeners = list(listeners)
        self.lost: LostAnswer | None = None
        self.data = data
        #: False while the sender has not yet read the send's verdict: ``apply_report`` holds reports until then
        self.verdict_read = verdict_read
        #: the furthest report held meanwhile, with its reason and info
        self.held: tuple[OrderReport, str | None, dict[str, Any] | None] | None = None

    @property
    def client_order_index(self) -> int:
        return self.tracker.intent.client_order_index

    @property
    def is_final(self) -> bool:
        return self.tracker.snapshot().is_final

    def lose(self, connector: str, reason: str | None = None) -> LostAnswer:
        """The answer to a send of this order was lost: start (or continue) the resolution table."""
        if self.lost is None:
            self.lost = LostAnswer(self.client_order_index, listeners=self.listeners, connector=connector)
        self.lost.lose(reason)
        return self.lost


class Confirmations:
    """One connector's orders being confirmed (see the module's doc)."""

    def __init__(self, *, connector: str, venue: str, clock: Clock, refusal: Refusal, log: logging.Logger = logger):
        self.connector = connector
        self.venue = venue
        self.clock = clock
        self.refusal = refusal
        self.log = log
        self.watches: dict[int, Watch] = {}
        self.tasks: set[asyncio.Task] = set()

    # --- the registry --------------------------------------------------------------------------------------------

    def watch(self, tracker: OrderTracker, *, listeners: Iterable[Any] = (), data: Any = None,
              verdict_read: bool = True) -> Watch:
        """Register an order sent (or about to be): reports for its client order index reach it from now on. With
        ``verdict_read=False`` they are held until the sender calls ``verdict_read(watch)``."""
        watch = Watch(tracker, listeners=listeners, data=data, verdict_read=verdict_read)
        self.watches[watch.client_order_index] = watch
        return watch

    def forget(self, watch: Watch) -> None:
        if self.watches.get(watch.client_order_index) is watch:
            del self.watches[watch.client_order_index]

    def spawn(self, work: Awaitable[None], *, name: str, watch: Watch | None = None,
              on_done: Callable[[], None] | None = None) -> asyncio.Task:
        """Run an order's confirmation in the background; it outlives its caller and ends with ``close()``."""
        cleaned = False

        def clean_up() -> None:
            nonlocal cleaned
            if cleaned:
                return
            cleaned = True
            if watch is not None:
                self.forget(watch)
            if on_done is not None:
                on_done()

        async def run() -> None:
            try:
                await work
            finally:
                # before the task counts as done, so that whoever waits for it finds the order forgotten
                clean_up()

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self.tasks.add(task)

        def done(finished: asyncio.Task) -> None:
            self.tasks.discard(finished)
            clean_up()  # a task cancelled before its first step never ran ``run``
            if inspect.iscoroutine(work) and inspect.getcoroutinestate(work) == inspect.CORO_CREATED:
                work.close()
            collect_task(finished, self.log, self.connector)

        task.add_done_callback(done)
        return task

    async def close(self) -> None:
        """Stop every confirmation (their orders stay as the venue has them); safe to call twice."""
        unconfirmed = sorted(index for index, watch in self.watches.items() if not watch.is_final)
        if unconfirmed:
            self.log.warning("%s: closing while orders %s are still being confirmed", self.connector, unconfirmed)
        tasks, self.tasks = list(self.tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def handle(self, tracker: OrderTracker, task: asyncio.Task | None, *,
               canceller: Callable[[], Awaitable[None]]) -> TrackingMarketOrder | TrackingLimitOrder:
        """What the caller of ``submit_order`` holds: the tracker and the task confirming it."""
        if tracker.intent.order_type is OrderType.LIMIT:
            return TrackingLimitOrder(tracker, canceller=canceller, task=task)
        return TrackingMarketOrder(tracker, task=task)

    # --- venue reports -------------------------------------------------------------------------------------------

    def apply_report(self, report: OrderReport, *, reason: str | None = None,
                     info: dict[str, Any] | None = None) -> OrderSnapshot | None:
        """The one entry for every source of venue reports (the poll, a push stream): apply ``report`` to the order
        with its client order index, if it is being confirmed, and wake its confirmation at once. Returns the
        order's snapshot after it, or None when no order of ours waits for this report (none with that client
        order index, or one of another market or side). Before the sender has read the send's verdict the report
        is held (the furthest one) and applied when it has."""
        if report.client_order_index is None:
            return None
        watch = self.watches.get(report.client_order_index)
        if watch is None:
            return None
        intent = watch.tracker.intent
        if report.symbol != intent.symbol or report.side is not intent.side:
            return None
        if not watch.verdict_read:
            if watch.held is None or _further(report, watch.held[0]):
                watch.held = (report, reason, info)
            return watch.tracker.snapshot()
        self.apply_to(watch, report, reason=reason, info=info)
        return watch.tracker.snapshot()

    def verdict_read(self, watch: Watch) -> None:
        """The sender has read the send's verdict: the report held meanwhile (if any) is applied now."""
        watch.verdict_read = True
        held, watch.held = watch.held, None
        if held is not None and not watch.is_final:
            report, reason, info = held
            self.apply_to(watch, report, reason=reason, info=info)

    def apply_to(self, watch: Watch, report: OrderReport, *, reason: str | None = None,
                 info: dict[str, Any] | None = None) -> VenueError | None:
        """``apply`` to a watched order: a report of it also lands a lost answer, and wakes its confirmation."""
        refused = self.apply(watch.tracker, report, reason=reason, info=info)
        if watch.lost is not None and watch.lost.can_apply(LostAnswerEvent.FIND):
            watch.lost.apply(LostAnswerEvent.FIND, f"the venue reports it {report.status}")
        watch.wake.set()
        return refused

    def apply(self, tracker: OrderTracker, report: OrderReport, *, reason: str | None = None,
              info: dict[str, Any] | None = None) -> VenueError | None:
        """Fold one venue report into the tracker; returns the error when the report is a refusal (tracker
        FAILED). A report older than what the tracker knows (less filled) is ignored; one that repeats the final
        state is a no-op."""
        snapshot = tracker.snapshot()
        if snapshot.is_final:
            return None
        intent = tracker.intent
        filled = min(report.filled_size, intent.size)
        if filled < snapshot.filled_size:
            self.log.debug("%s: ignoring a stale report of order %d", self.connector, intent.client_order_index)
            return None
        refused = self.refusal(report, reason) if filled == 0 and report.done else None
        if refused is not None and tracker.can_apply(OrderEvent.REJECT):
            error, why = refused
            tracker.apply(OrderEvent.REJECT, reason=why, error=error, venue_order_id=report.venue_order_id)
            return error
        tracker.apply_fill_report(
            filled_size=filled,
            done=report.done,
            average_price=report.average_price,
            fee=report.fee,
            venue_order_id=report.venue_order_id,
            reason=reason,
            info=info,
        )
        return None

    def refuse(self, watch: Watch, error: VenueError | None, *, reason: str | None = None) -> None:
        """The venue refused the order, or it is proven never to have landed: the tracker ends FAILED."""
        if watch.tracker.can_apply(OrderEvent.REJECT):
            watch.tracker.apply(OrderEvent.REJECT, reason=reason or str(error), error=error)
        watch.wake.set()

    def ambiguous(self, watch: Watch, why: str, *, cause: BaseException | None = None) -> AmbiguousOutcome:
        """The error that ends the confirmation of an order sent and never confirmed (its lost answer, if any,
        ends ``ambiguous``)."""
        if watch.lost is not None and watch.lost.can_apply(LostAnswerEvent.GIVE_UP):
            watch.lost.apply(LostAnswerEvent.GIVE_UP, why)
        error = AmbiguousOutcome(f"order {watch.client_order_index}: {why}", venue=self.venue,
                                 connector=self.connector, client_order_index=watch.client_order_index)
        error.__cause__ = cause
        return error

    # --- polling -------------------------------------------------------------------------------------------------

    async def poll(
        self,
        watch: Watch,
        step: Callable[[], Awaitable[None]],
        *,
        delay: Callable[[int], float],
        patience_secs: float | None = None,
        overdue: Callable[[], str | None] | None = None,
    ) -> None:
        """Run ``step`` (one round of the venue's reads, applying what it finds) until the order is final.

        Before round n the loop waits ``delay(n)``, cut short by a report applied through ``apply_report``. A read
        failure in ``UNREADABLE`` is retried; once the venue has been unreadable for longer than ``patience_secs``,
        or when ``overdue`` gives a reason, the confirmation ends with AmbiguousOutcome (the tracker stays as it
        is: UNKNOWN or resting, never FAILED for want of an answer).
        """
        round_ = 0
        unreadable_since: float | None = None
        last_error: VenueError | None = None
        while not watch.is_final:
            wait = delay(round_)
            round_ += 1
            if wait > 0:
                watch.wake.clear()
                await self.clock.wait(watch.wake, wait)
                if watch.is_final:
                    return
            try:
                await self._step_unless_final(watch, step)
            except UNREADABLE as exc:
                last_error = exc
                unreadable_since = unreadable_since if unreadable_since is not None else self.clock.monotonic()
                if patience_secs is not None and self.clock.monotonic() - unreadable_since > patience_secs:
                    raise self.ambiguous(watch, f"could not be confirmed: {exc}", cause=exc) from None
                self.log.info("%s: confirming order %d: %s", self.connector, watch.client_order_index, exc)
            else:
                unreadable_since = None
            if watch.is_final:
                return
            why = overdue() if overdue is not None else None
            if why:
                if last_error is not None:
                    why += f" (last error: {last_error})"
                raise self.ambiguous(watch, why)

    @staticmethod
    async def _step_unless_final(watch: Watch, step: Callable[[], Awaitable[None]]) -> None:
        """One round of reads, racing the reports applied meanwhile (a push): once one of them ends the order, the
        round is abandoned and the confirmation ends at once."""
        reading = asyncio.ensure_future(step())
        try:
            while not reading.done():
                watch.wake.clear()
                woken = asyncio.ensure_future(watch.wake.wait())
                try:
                    await asyncio.wait({reading, woken}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    woken.cancel()
                if not reading.done() and watch.is_final:
                    reading.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reading
                    return
        except asyncio.CancelledError:
            reading.cancel()
            raise
        reading.result()

    async def verify_cancelled(
        self,
        read_open: Callable[[], Awaitable[list[OrderReport]]],
        *,
        within_secs: float,
        delay: Callable[[int], float],
    ) -> None:
        """Return once ``read_open`` lists no order; VenueError naming the ones still open after ``within_secs``.
        Every order of ours being confirmed is woken, so that what the cancel did reaches its tracker at once."""
        for watch in self.watches.values():
            watch.wake.set()
        deadline = self.clock.monotonic() + within_secs
        round_ = 0
        while True:
            still_open = await read_open()
            if not still_open:
                return
            if self.clock.monotonic() >= deadline:
                ids = ", ".join(str(order.client_order_index or order.venue_order_id) for order in still_open)
                raise VenueError(f"orders still open after cancel-all: {ids}", venue=self.venue,
                                 connector=self.connector)
            await self.clock.sleep(delay(round_))
            round_ += 1


def _further(report: OrderReport, than: OrderReport) -> bool:
    """Whether ``report`` says more than ``than``: more filled, or as much and done (a duplicate or an older,
    out-of-order report never replaces a further one)."""
    return report.filled_size > than.filled_size or (report.filled_size == than.filled_size and report.done
                                                      and not than.done)


__all__ = ["UNREADABLE", "Confirmations", "Watch", "backoff", "schedule"]
