"""The order state machine and the handles strategies hold while an order is worked.

The legal transitions are one table, ``ORDER_STATE_TABLE``: ``(state, event) -> new state``. Anything not in it
raises ``OrderStateError``, so a FILLED order can never go back to OPEN and an accepted order is never mistaken for a
filled one. A request whose answer was lost puts the order in UNKNOWN until the venue is asked by client order index.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from hedgectl.decimals import ZERO
from hedgectl.errors import OrderStateError, VenueError


class Side(str, enum.Enum):
    """Order side; ``sign`` is +1 for buys and -1 for sells."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @classmethod
    def of_signed(cls, signed_size: Decimal) -> Side:
        """The side that increases a position in the direction of ``signed_size``'s sign."""
        if signed_size == 0:
            raise ValueError("a zero size has no side")
        return cls.BUY if signed_size > 0 else cls.SELL

    @classmethod
    def closing(cls, signed_position: Decimal) -> Side:
        """The side that reduces a position of the given signed size (sell a long, buy a short)."""
        return cls.of_signed(signed_position).opposite


class OrderType(str, enum.Enum):
    MARKET = "market"
    LIMIT = "limit"


class OrderState(str, enum.Enum):
    NEW = "new"  # built locally, nothing sent
    SUBMITTING = "submitting"  # request on the wire
    OPEN = "open"  # accepted by the venue, nothing filled yet (a resting limit, or a taker order being matched)
    PARTIALLY_FILLED = "partially_filled"  # some filled, the rest still working
    UNKNOWN = "unknown"  # the answer was lost: the order may or may not exist at the venue
    FILLED = "filled"  # fully filled (terminal)
    CANCELLED = "cancelled"  # cancelled or expired, possibly after a partial fill (terminal)
    FAILED = "failed"  # rejected, or proven never to have reached the venue (terminal)


class OrderEvent(str, enum.Enum):
    SUBMIT = "submit"  # the request is being sent
    ACCEPT = "accept"  # the venue acknowledged the order (or it was found resting)
    PARTIAL_FILL = "partial_fill"  # the filled size grew, some remains
    FILL = "fill"  # the whole size is filled
    CANCEL = "cancel"  # cancelled or expired at the venue (IOC remainder included)
    REJECT = "reject"  # the venue refused it, or it is proven absent
    LOSE_ANSWER = "lose_answer"  # the request's outcome is unknown (timeout, connection lost, 5xx after send)


S, E = OrderState, OrderEvent

#: Every legal transition. A transition missing from this table raises OrderStateError.
ORDER_STATE_TABLE: dict[tuple[OrderState, OrderEvent], OrderState] = {
    (S.NEW, E.SUBMIT): S.SUBMITTING,
    (S.NEW, E.REJECT): S.FAILED,  # refused locally before sending (below minimum, ...)
    (S.SUBMITTING, E.ACCEPT): S.OPEN,
    (S.SUBMITTING, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.SUBMITTING, E.FILL): S.FILLED,
    (S.SUBMITTING, E.CANCEL): S.CANCELLED,
    (S.SUBMITTING, E.REJECT): S.FAILED,
    (S.SUBMITTING, E.LOSE_ANSWER): S.UNKNOWN,
    (S.OPEN, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.OPEN, E.FILL): S.FILLED,
    (S.OPEN, E.CANCEL): S.CANCELLED,
    (S.OPEN, E.REJECT): S.FAILED,  # accepted by the gateway, refused by the matching engine with nothing filled
    (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.UNKNOWN, E.ACCEPT): S.OPEN,
    (S.UNKNOWN, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.UNKNOWN, E.FILL): S.FILLED,
    (S.UNKNOWN, E.CANCEL): S.CANCELLED,
    (S.UNKNOWN, E.REJECT): S.FAILED,
}
del S, E

TERMINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.FAILED})
IN_FLIGHT_STATES = frozenset({OrderState.SUBMITTING, OrderState.UNKNOWN})


@dataclass(frozen=True)
class OrderIntent:
    """What we want from a venue, fixed before anything is sent (and journaled as such)."""

    connector: str
    venue: str
    symbol: str
    side: Side
    size: Decimal
    order_type: OrderType
    client_order_index: int
    price: Decimal | None = None
    reduce_only: bool = False
    post_only: bool = False

    @property
    def signed_size(self) -> Decimal:
        return self.size * self.side.sign


@dataclass(frozen=True)
class Transition:
    """One step in an order's life, as stored by the journal."""

    at: float
    event: OrderEvent
    from_state: OrderState
    to_state: OrderState
    filled_size: Decimal
    reason: str | None = None


@dataclass(frozen=True)
class OrderSnapshot:
    """An immutable view of an order at one moment."""

    intent: OrderIntent
    state: OrderState
    filled_size: Decimal = ZERO
    average_price: Decimal | None = None
    fee: Decimal = ZERO
    venue_order_id: str | None = None
    reason: str | None = None
    error: VenueError | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    submitted_at: float | None = None
    final_at: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def remaining_size(self) -> Decimal:
        return self.intent.size - self.filled_size

    @property
    def signed_filled(self) -> Decimal:
        return self.filled_size * self.intent.side.sign

    @property
    def filled_notional(self) -> Decimal:
        return ZERO if self.average_price is None else self.filled_size * self.average_price


TransitionListener = Callable[[OrderSnapshot, Transition], None]


class OrderTracker:
    """Holds one order's state; every change goes through ``apply`` and the state table.

    Waiters are woken on every transition; ``listeners`` (the journal, a live view) are called synchronously
    with the new snapshot and the transition, so that nothing of an order lives only in memory.
    """

    def __init__(self, intent: OrderIntent, *, listeners: list[TransitionListener] | None = None):
        now = time.time()
        self._snapshot = OrderSnapshot(intent=intent, state=OrderState.NEW, created_at=now, updated_at=now)
        self.transitions: list[Transition] = []
        self._listeners = list(listeners or [])
        self._changed = asyncio.Event()
        self._version = 0

    @property
    def intent(self) -> OrderIntent:
        return self._snapshot.intent

    @property
    def state(self) -> OrderState:
        return self._snapshot.state

    def snapshot(self) -> OrderSnapshot:
        return self._snapshot

    def can_apply(self, event: OrderEvent) -> bool:
        return (self._snapshot.state, event) in ORDER_STATE_TABLE

    def apply(
        self,
        event: OrderEvent,
        *,
        filled_size: Decimal | None = None,
        average_price: Decimal | None = None,
        fee: Decimal | None = None,
        venue_order_id: str | None = None,
        reason: str | None = None,
        error: VenueError | None = None,
        info: dict[str, Any] | None = None,
    ) -> OrderSnapshot:
        """Move the order by ``event``; raise OrderStateError if the table forbids it or the fill is impossible."""
        current = self._snapshot
        key = (current.state, event)
        if key not in ORDER_STATE_TABLE:
            raise OrderStateError(
                f"order {current.intent.client_order_index} on {current.intent.connector}: "
                f"illegal transition {current.state.value} --{event.value}-->"
            )
        new_state = ORDER_STATE_TABLE[key]
        new_filled = current.filled_size if filled_size is None else filled_size
        if new_filled < current.filled_size:
            raise OrderStateError(
                f"order {current.intent.client_order_index}: filled size cannot shrink "
                f"({current.filled_size} -> {new_filled})"
            )
        if new_filled > current.intent.size:
            raise OrderStateError(
                f"order {current.intent.client_order_index}: filled {new_filled} exceeds the order size "
                f"{current.intent.size}"
            )
        if event is OrderEvent.FILL and new_filled != current.intent.size:
            raise OrderStateError(
                f"order {current.intent.client_order_index}: FILL with {new_filled} of {current.intent.size}"
            )
        if event is OrderEvent.PARTIAL_FILL and not (ZERO < new_filled < current.intent.size):
            raise OrderStateError(
                f"order {current.intent.client_order_index}: PARTIAL_FILL with {new_filled} of {current.intent.size}"
            )
        if event is OrderEvent.REJECT and new_filled != 0:
            raise OrderStateError(
                f"order {current.intent.client_order_index}: REJECT after {new_filled} filled; that is a CANCEL"
            )
        now = time.time()
        merged_info = {**current.info, **info} if info else current.info
        self._snapshot = replace(
            current,
            state=new_state,
            filled_size=new_filled,
            average_price=average_price if average_price is not None else current.average_price,
            fee=fee if fee is not None else current.fee,
            venue_order_id=venue_order_id or current.venue_order_id,
            reason=reason if reason is not None else current.reason,
            error=error if error is not None else current.error,
            updated_at=now,
            submitted_at=now if event is OrderEvent.SUBMIT else current.submitted_at,
            final_at=now if new_state in TERMINAL_STATES else None,
            info=merged_info,
        )
        transition = Transition(
            at=now, event=event, from_state=current.state, to_state=new_state, filled_size=new_filled, reason=reason
        )
        self.transitions.append(transition)
        self._version += 1
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in self._listeners:
            listener(self._snapshot, transition)
        return self._snapshot

    def apply_fill_report(
        self,
        *,
        filled_size: Decimal,
        done: bool,
        average_price: Decimal | None = None,
        fee: Decimal | None = None,
        venue_order_id: str | None = None,
        reason: str | None = None,
        info: dict[str, Any] | None = None,
    ) -> OrderSnapshot:
        """Fold a venue's report (filled so far, and whether the venue will fill no more) into the right events.

        ``done`` covers filled, cancelled, expired and an IOC remainder dropped. Repeating the report that made
        the order final is a no-op; contradicting it raises OrderStateError.
        """
        current = self._snapshot
        common = dict(average_price=average_price, fee=fee, venue_order_id=venue_order_id, info=info)
        if current.is_final and done and filled_size == current.filled_size:
            return current
        if filled_size == current.intent.size:
            return self.apply(OrderEvent.FILL, filled_size=filled_size, reason=reason, **common)
        grew = filled_size > current.filled_size
        if grew:
            self.apply(OrderEvent.PARTIAL_FILL, filled_size=filled_size, **common)
        if done:
            return self.apply(OrderEvent.CANCEL, filled_size=filled_size, reason=reason, **common)
        if not grew and current.state in IN_FLIGHT_STATES:
            return self.apply(OrderEvent.ACCEPT, **common)
        return self._snapshot

    async def next_update(self, timeout: float | None = None) -> OrderSnapshot:
        """Wait for the next transition (or the timeout) and return the snapshot then."""
        waiter = self._changed
        if timeout is None:
            await waiter.wait()
        else:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel on Python 3.11
                    await waiter.wait()
            except TimeoutError:
                pass
        return self._snapshot

    async def wait_final(self, timeout: float | None = None) -> OrderSnapshot:
        """Wait until the order is FILLED, CANCELLED or FAILED, or the timeout passes; return the snapshot."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._snapshot.is_final:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            await self.next_update(remaining)
        return self._snapshot


class TrackingOrder:
    """What a connector hands back for a submitted order: its tracker plus the work confirming it.

    The connector keeps driving the tracker (confirmation reads, fills) in ``task``; the holder waits on it.
    """

    def __init__(self, tracker: OrderTracker, *, task: asyncio.Task | None = None):
        self.tracker = tracker
        self.task = task

    @property
    def client_order_index(self) -> int:
        return self.tracker.intent.client_order_index

    @property
    def intent(self) -> OrderIntent:
        return self.tracker.intent

    def snapshot(self) -> OrderSnapshot:
        return self.tracker.snapshot()

    async def next_update(self, timeout: float | None = None) -> OrderSnapshot:
        return await self.tracker.next_update(timeout)

    async def wait_final(self, timeout: float | None = None) -> OrderSnapshot:
        """Wait for a terminal state; if the confirming task failed, its error is raised here, not lost.

        A task that fails while the order is still open or unknown ends the wait at once with its error (nothing
        else would ever move the tracker), instead of at the timeout, or never without one.
        """
        waiting = asyncio.ensure_future(self.tracker.wait_final(timeout))
        try:
            if self.task is not None and not self.task.done():
                await asyncio.wait({waiting, self.task}, return_when=asyncio.FIRST_COMPLETED)
            if self.task is not None and self.task.done() and not self.task.cancelled():
                error = self.task.exception()
                if error is not None:
                    raise error
            return await waiting
        finally:
            waiting.cancel()


class TrackingMarketOrder(TrackingOrder):
    """A market (IOC) order: it ends FILLED, CANCELLED (possibly partly filled) or FAILED on its own."""


class TrackingLimitOrder(TrackingOrder):
    """A resting limit order; ``cancel`` asks the venue to cancel what remains."""

    def __init__(self, tracker: OrderTracker, *, canceller: Callable[[], Any], task: asyncio.Task | None = None):
        super().__init__(tracker, task=task)
        self._canceller = canceller

    async def cancel(self) -> OrderSnapshot:
        """Request the cancel; the tracker moves when the venue confirms. Returns the snapshot after the request."""
        await self._canceller()
        return self.tracker.snapshot()
