"""The tracking limit order (the "chaser"): a post-only limit order kept at the top of the book until it fills.

Venue-neutral, over the Connector interface only. The order is re-priced when the book moves away from it by more than
a threshold, only what remains is re-posted after a partial fill, and when time runs out the working order is
cancelled and confirmed final before ``TrackingLimitTimeoutError`` is raised, so nothing is left open.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from hedgectl.decimals import ZERO, plain
from hedgectl.errors import HedgectlError, PostOnlyRejected, VenueError
from hedgectl.model.orders import OrderSnapshot, Side, TrackingLimitOrder, TransitionListener

if TYPE_CHECKING:
    from hedgectl.connectors.base import Connector

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingLimitResult:
    """What a tracking limit order achieved: the size asked, what filled, and every order it used (final states)."""

    connector: str
    symbol: str
    side: Side
    size: Decimal
    orders: tuple[OrderSnapshot, ...] = field(default=())

    @property
    def filled_size(self) -> Decimal:
        return sum((order.filled_size for order in self.orders), ZERO)

    @property
    def remaining_size(self) -> Decimal:
        return self.size - self.filled_size

    @property
    def average_price(self) -> Decimal | None:
        filled = self.filled_size
        if filled == 0:
            return None
        return sum((order.filled_notional for order in self.orders), ZERO) / filled

    @property
    def complete(self) -> bool:
        return self.filled_size == self.size


class TrackingLimitError(HedgectlError):
    """A tracking limit order stopped before filling completely; ``result`` says what filled and which orders ran."""

    def __init__(self, message: str, result: TrackingLimitResult):
        super().__init__(message)
        self.result = result


class TrackingLimitTimeoutError(TrackingLimitError):
    """The tracking limit order did not fill within its time; its last order was cancelled and confirmed final."""


class _Chase:
    """One run of the chaser; holds its settings and the orders it has used so far."""

    def __init__(
        self,
        connector: Connector,
        symbol: str,
        side: Side,
        *,
        timeout_secs: float,
        reprice_threshold: Decimal,
        poll_secs: float,
        post_only: bool,
        reduce_only: bool,
        cancel_confirm_secs: float,
        listeners: list[TransitionListener] | None,
    ):
        self.connector = connector
        self.symbol = symbol
        self.side = side
        self.timeout_secs = timeout_secs
        self.reprice_threshold = reprice_threshold
        self.poll_secs = poll_secs
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.cancel_confirm_secs = cancel_confirm_secs
        self.listeners = listeners
        self.size = ZERO
        self.orders: list[OrderSnapshot] = []
        self.working: TrackingLimitOrder | None = None
        loop = asyncio.get_running_loop()
        self._now = loop.time
        self.deadline = loop.time() + timeout_secs

    def result(self) -> TrackingLimitResult:
        return TrackingLimitResult(self.connector.name, self.symbol, self.side, self.size, tuple(self.orders))

    def _own_side(self, bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
        """The price a passive order of our side joins: the best bid for a buy, the best ask for a sell."""
        return bid if self.side is Side.BUY else ask

    def _moved_away(self, best: Decimal, price: Decimal) -> bool:
        """True when the best price on our side is better than ours by more than the threshold."""
        gap = best - price if self.side is Side.BUY else price - best
        return gap > price * self.reprice_threshold

    async def run(self, size: Decimal) -> TrackingLimitResult:
        rules = await self.connector.prepare(self.symbol)
        self.size = rules.quantize_size(size)
        rules.check_size(self.size, reduce_only=self.reduce_only)
        try:
            while True:
                remaining = self.size - self.result().filled_size
                if remaining <= 0:
                    return self.result()
                if self._now() >= self.deadline:
                    raise TrackingLimitTimeoutError(
                        f"{self.connector.name}: tracking {self.side.value} of {plain(self.size)} {self.symbol} "
                        f"filled {plain(self.size - remaining)} in {self.timeout_secs:g}s; nothing left open",
                        self.result(),
                    )
                if remaining < rules.min_size and not self.reduce_only:
                    raise TrackingLimitError(
                        f"{self.connector.name}: remaining {plain(remaining)} {self.symbol} is below the minimum "
                        f"{plain(rules.min_size)} and cannot be posted",
                        self.result(),
                    )
                await self._post_and_work(remaining)
        except BaseException:
            await self._leave_nothing_open()
            raise

    async def _post_and_work(self, remaining: Decimal) -> None:
        """Post ``remaining`` at the top of the book and work it until it is final (filled, or cancelled to move)."""
        try:
            book = await self.connector.top_of_book(self.symbol)
        except VenueError as exc:
            logger.info("%s: reading the book for the chase: %s", self.connector.name, exc)
            await asyncio.sleep(self.poll_secs)
            return
        price = self._own_side(book.bid, book.ask)
        if price is None:
            logger.info("%s: %s has no %s side to join", self.connector.name, self.symbol, self.side.value)
            await asyncio.sleep(self.poll_secs)
            return
        try:
            self.working = await self.connector.submit_limit_order(
                self.symbol, self.side, remaining, price,
                post_only=self.post_only, reduce_only=self.reduce_only, listeners=self.listeners,
            )
        except PostOnlyRejected:
            logger.info("%s: post-only at %s would have taken; re-reading the book", self.connector.name, plain(price))
            return
        logger.info("%s: chasing %s %s %s at %s (order %d)", self.connector.name, self.side.value, plain(remaining),
                    self.symbol, plain(price), self.working.client_order_index)
        final = await self._work(self.working, price)
        self.working = None
        self.orders.append(final)

    async def _work(self, order: TrackingLimitOrder, price: Decimal) -> OrderSnapshot:
        while True:
            snapshot = order.snapshot()
            if snapshot.is_final:
                return snapshot
            if self._now() >= self.deadline:
                return await self._cancel_and_confirm(order)
            try:
                book = await self.connector.top_of_book(self.symbol)
            except VenueError as exc:
                logger.info("%s: reading the book while chasing: %s", self.connector.name, exc)
            else:
                best = self._own_side(book.bid, book.ask)
                if best is not None and self._moved_away(best, price):
                    logger.info("%s: book moved to %s, away from %s; re-pricing", self.connector.name, plain(best),
                                plain(price))
                    return await self._cancel_and_confirm(order)
            await order.next_update(timeout=max(0.0, min(self.poll_secs, self.deadline - self._now())))

    async def _cancel_and_confirm(self, order: TrackingLimitOrder) -> OrderSnapshot:
        """Cancel ``order`` and wait until the venue reports it final (a fill racing the cancel is counted)."""
        try:
            await order.cancel()
        except VenueError as exc:
            logger.warning("%s: cancelling order %d: %s", self.connector.name, order.client_order_index, exc)
        snapshot = await order.wait_final(self.cancel_confirm_secs)
        if not snapshot.is_final:
            self.working = order
            raise TrackingLimitError(
                f"{self.connector.name}: order {order.client_order_index} on {self.symbol} was not confirmed "
                f"cancelled within {self.cancel_confirm_secs:g}s and may still be open ({snapshot.state.value})",
                self.result(),
            )
        return snapshot

    async def _leave_nothing_open(self) -> None:
        """On any early exit, cancel the working order (best effort: the caller's error is what propagates)."""
        order, self.working = self.working, None
        if order is None or order.snapshot().is_final:
            return
        # the cancel goes on even when this wait is cancelled (a second stop signal): its end is then reported
        # here, never left to asyncio as an unretrieved exception
        cancelling = asyncio.ensure_future(order.cancel())
        cancelling.add_done_callback(lambda task: self._cancel_done(task, order.client_order_index))
        try:
            await asyncio.shield(cancelling)
            final = await order.wait_final(self.cancel_confirm_secs)
        except (VenueError, asyncio.CancelledError) as exc:
            logger.error("%s: order %d may still be open: %s", self.connector.name, order.client_order_index, exc)
            return
        self.orders.append(final)
        if not final.is_final:
            logger.error("%s: order %d not confirmed cancelled (%s)", self.connector.name, order.client_order_index,
                         final.state.value)

    def _cancel_done(self, task: asyncio.Task, client_order_index: int) -> None:
        if task.cancelled() or task.exception() is None:
            return
        logger.warning("%s: cancelling order %d failed, it may still be open: %s", self.connector.name,
                       client_order_index, task.exception())


async def place_tracking_limit_order(
    connector: Connector,
    symbol: str,
    side: Side,
    size: Decimal,
    *,
    timeout_secs: float = 60.0,
    reprice_threshold: Decimal = Decimal("0.0002"),
    poll_secs: float = 0.5,
    post_only: bool = True,
    reduce_only: bool = False,
    cancel_confirm_secs: float = 10.0,
    listeners: list[TransitionListener] | None = None,
) -> TrackingLimitResult:
    """Buy or sell ``size`` with passive limit orders that follow the top of the book, within ``timeout_secs``.

    ``reprice_threshold`` is the fraction of the price (0.0002 = 2 bps) by which the best price on our side may move
    away before the order is cancelled and re-posted there. Returns the result once the whole size filled; raises
    TrackingLimitTimeoutError (with ``result``) when time runs out, after cancelling and confirming the last order.
    """
    chase = _Chase(
        connector, symbol, side,
        timeout_secs=timeout_secs, reprice_threshold=reprice_threshold, poll_secs=poll_secs, post_only=post_only,
        reduce_only=reduce_only, cancel_confirm_secs=cancel_confirm_secs, listeners=listeners,
    )
    return await chase.run(size)
