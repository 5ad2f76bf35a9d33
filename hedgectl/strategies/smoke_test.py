"""The connector smoke test: a tracking limit order that chases the book until filled, a reduce-only market order
that closes it, then proof from the venue that the position and the open orders are back where they started.

Each step is timed and reported; when one fails, the test puts the position back and says what, if anything, it
could not close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import Connector
from hedgectl.decimals import plain
from hedgectl.errors import VenueError
from hedgectl.execution.flatten import flatten_position, read_position
from hedgectl.model.orders import OrderState, Side
from hedgectl.execution.outcome import send_and_wait
from hedgectl.execution.tracking_limit import TrackingLimitError, place_tracking_limit_order
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.strategies.min_order import minimum_order_size

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmokeStep:
    """One step of the test as it ended; ``data`` holds what the step found (sizes, orders) for JSON."""

    name: str
    ok: bool
    detail: str
    latency_ms: float
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "latency_ms": round(self.latency_ms, 1),
            **self.data,
        }


@dataclass
class SmokeReport:
    """The whole test: its steps in order, the position before and after, and anything it could not close."""

    connector: str
    symbol: str
    side: Side | None = None
    size: Decimal | None = None
    before: Decimal | None = None
    after: Decimal | None = None
    steps: list[SmokeStep] = field(default_factory=list)
    left_open: list[str] = field(default_factory=list)  # what could not be closed or read at the end

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "symbol": self.symbol,
            "ok": self.ok,
            "side": self.side.value if self.side else None,
            "size": None if self.size is None else plain(self.size),
            "position_before": None if self.before is None else plain(self.before),
            "position_after": None if self.after is None else plain(self.after),
            "steps": [step.as_dict() for step in self.steps],
            "left_open": self.left_open,
        }


class StepFailed(Exception):
    """A step ended badly; the steps after it are skipped and the clean-up runs."""


StepListener = Callable[[SmokeStep], None]


class SmokeTest:
    """One smoke test of one connector on one market."""

    def __init__(
        self,
        connectors: ConnectorSet,
        name: str,
        symbol: str,
        *,
        side: Side | None = None,
        size: Decimal | None = None,
        chase_timeout: float = 60.0,
        order_timeout: float = 15.0,
        on_step: StepListener | None = None,
    ):
        self.connectors = connectors
        self.name = name
        self.symbol = symbol
        self.side = side
        self.size = size
        self.chase_timeout = chase_timeout
        self.order_timeout = order_timeout
        self.on_step = on_step
        self.report = SmokeReport(connector=name, symbol=symbol)
        self._orders_before: set[str] = set()

    async def run(self) -> SmokeReport:
        connector = await self.connectors.get(self.name)
        try:
            await self._step("prepare", lambda: self._prepare(connector))
            filled = await self._step("tracking limit", lambda: self._chase(connector))
            await self._step("reduce-only market", lambda: self._close(connector, filled))
            await self._step("position back", lambda: self._check_position(connector))
            await self._step("nothing resting", lambda: self._check_orders(connector))
        except StepFailed:
            await self._clean_up(connector)
        except asyncio.CancelledError:
            # interrupted mid-test (a stop signal): still leave nothing behind before giving up
            await self._clean_up(connector)
            if self.report.before is not None:
                # the interruption may have cut off a request on its way: look again once it can no longer land
                horizon = connector.landing_horizon_secs
                logger.warning("%s: smoke test stopped; looking again in %.0f s for an order still on its way",
                               self.name, horizon)
                await connector.clock.sleep(horizon)
                await self._clean_up(connector)
            raise
        return self.report

    async def _step(self, name: str, body: Callable[[], Awaitable[tuple[Any, str, dict[str, Any]]]]) -> Any:
        started = time.monotonic()
        try:
            value, detail, data = await body()
        except (VenueError, TrackingLimitError, StepFailed) as exc:
            logger.warning("%s: smoke test step %s failed: %s", self.name, name, exc)
            self._record(SmokeStep(name, False, str(exc), (time.monotonic() - started) * 1000))
            raise StepFailed(name) from exc
        self._record(SmokeStep(name, True, detail, (time.monotonic() - started) * 1000, data))
        return value

    def _record(self, step: SmokeStep) -> None:
        self.report.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)

    async def _prepare(self, connector: Connector) -> tuple[None, str, dict[str, Any]]:
        await connector.check()
        rules = await connector.prepare(self.symbol)
        position = await read_position(connector, self.symbol)
        self.report.before = position.signed_size
        self._orders_before = {_order_key(o) for o in await connector.open_orders(self.symbol)}
        book = await connector.top_of_book(self.symbol)
        size = self.size if self.size is not None else minimum_order_size(rules, book.mid)
        size = rules.fit_size(size)
        # the entry adds to an existing position, so that the reduce-only exit can take exactly it back
        side = self.side or (Side.of_signed(position.signed_size) if position.signed_size else Side.BUY)
        self.report.side, self.report.size = side, size
        detail = (
            f"{side.value} {plain(size)} (min {plain(rules.min_size)}, step {plain(rules.step_size)}); "
            f"position {plain(position.signed_size)}"
        )
        return None, detail, {"position": plain(position.signed_size), "size": plain(size)}

    async def _chase(self, connector: Connector) -> tuple[Decimal, str, dict[str, Any]]:
        side, size = self.report.side, self.report.size
        try:
            result = await place_tracking_limit_order(
                connector, self.symbol, side, size, timeout_secs=self.chase_timeout
            )
        except TrackingLimitError as exc:
            filled = exc.result.filled_size
            orders = len(exc.result.orders)
            raise StepFailed(f"{exc} (filled {plain(filled)} of {plain(size)} with {orders} orders)") from exc
        detail = (
            f"filled {plain(result.filled_size)} at {_price(result.average_price)} with {len(result.orders)} "
            f"order{'s' if len(result.orders) != 1 else ''}"
        )
        data = {
            "filled_size": plain(result.filled_size),
            "average_price": None if result.average_price is None else plain(result.average_price),
            "orders": [o.intent.client_order_index for o in result.orders],
        }
        return result.filled_size, detail, data

    async def _close(self, connector: Connector, filled: Decimal) -> tuple[None, str, dict[str, Any]]:
        slippage = self.connectors.config.hedge.slippage.get(connector.venue)
        side = self.report.side.opposite
        retried: list[str] = []
        while True:
            intent = await connector.build_intent(self.symbol, side, filled, reduce_only=True)
            outcome = await send_and_wait(connector, intent, timeout=self.order_timeout, max_slippage=slippage)
            if retried or outcome.state != OrderState.CANCELLED.value or outcome.filled_size != 0:
                break
            # cancelled with nothing filled (the price left the order's bound while the chase ran): nothing moved,
            # and the connector reads the book afresh for the next market order, so one more is safe and fair
            retried.append(f"{intent.client_order_index} ({outcome.reason or 'cancelled'})")
            logger.info("%s: close %s cancelled unfilled, sending it once more", self.name, retried[0])
        data = {
            "client_order_index": intent.client_order_index,
            "state": outcome.state,
            "filled_size": plain(outcome.filled_size),
        }
        if retried:
            data["retried_after"] = retried[0]
        if outcome.state != OrderState.FILLED.value:
            raise StepFailed(
                f"market order {intent.client_order_index} ended {outcome.state} with {plain(outcome.filled_size)} "
                f"of {plain(filled)} filled" + (f" ({outcome.reason})" if outcome.reason else "")
            )
        price = outcome.snapshot.average_price if outcome.snapshot else None
        return None, f"{side.value} {plain(filled)} filled at {_price(price)}", data

    async def _check_position(self, connector: Connector) -> tuple[None, str, dict[str, Any]]:
        after = (await read_position(connector, self.symbol)).signed_size
        self.report.after = after
        if after != self.report.before:
            raise StepFailed(f"position is {plain(after)}, it was {plain(self.report.before)}")
        return None, f"position {plain(after)}, as before", {"position": plain(after)}

    async def _check_orders(self, connector: Connector) -> tuple[None, str, dict[str, Any]]:
        left = [o for o in await connector.open_orders(self.symbol) if _order_key(o) not in self._orders_before]
        if left:
            raise StepFailed(f"{len(left)} order(s) of the test still open: {', '.join(_order_key(o) for o in left)}")
        return None, "no order of the test is open", {}

    async def _clean_up(self, connector: Connector) -> None:
        """Cancel what the test left resting and bring the position back; record what could not be."""
        report = self.report
        if report.before is None:
            return  # nothing was sent: the failure came before the first order
        try:
            for order in await connector.open_orders(self.symbol):
                if _order_key(order) not in self._orders_before and order.client_order_index is not None:
                    await connector.cancel_order(self.symbol, order.client_order_index)
        except VenueError as exc:
            report.left_open.append(f"{self.name} {self.symbol}: open orders unknown ({exc})")
        slippage = self.connectors.config.hedge.slippage.get(connector.venue)
        started = time.monotonic()
        result = await flatten_position(
            connector, self.symbol, target=report.before, max_slippage=slippage, order_timeout=self.order_timeout
        )
        report.after = result.after
        if result.before is not None and result.before != report.before:
            self._record(SmokeStep(
                "restore", result.reached, result.describe(), (time.monotonic() - started) * 1000,
                {"orders": len(result.orders)},
            ))
        if not result.reached:
            logger.error("%s: smoke test left something behind: %s", self.name, result.describe())
            report.left_open.append(result.describe())


def _order_key(order) -> str:
    return str(order.client_order_index if order.client_order_index is not None else order.venue_order_id)


def _price(value: Decimal | None) -> str:
    return "?" if value is None else plain(value)
