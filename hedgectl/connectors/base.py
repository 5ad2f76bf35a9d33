"""The connector interface every venue implements, and the venue-neutral data it returns.

A connector reads and trades one venue account. Reads that fail raise a ``VenueError``; they never return zero.
An order is described by an ``OrderIntent`` (built and journaled before it is sent) and worked through an
``OrderTracker`` whose final state comes from the venue, not from "the request was accepted".
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, TypeVar

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.model import ConnectorConfig
from hedgectl.decimals import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ZERO, is_multiple, plain, quantize
from hedgectl.errors import BelowMinimumSize, InvalidOrder, RateLimited, VenueUnavailable
from hedgectl.model.client_ids import ClientIdAllocator, ClientIdRange
from hedgectl.model.orders import (
    OrderIntent,
    OrderType,
    Side,
    TrackingLimitOrder,
    TrackingMarketOrder,
    TransitionListener,
)
from hedgectl.retry import RetryPolicy, retry

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class MarketRules:
    """A market's trading rules at one venue; sizes and prices leaving the process obey them."""

    symbol: str
    base_asset: str
    step_size: Decimal
    tick_size: Decimal
    min_size: Decimal
    min_notional: Decimal = ZERO
    market_id: int | None = None
    #: the highest leverage the market allows (1 / its lowest initial margin fraction); None when not published
    max_leverage: Decimal | None = None

    def quantize_size(self, size: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
        return quantize(size, self.step_size, rounding)

    def quantize_price(self, price: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
        return quantize(price, self.tick_size, rounding)

    def worst_price(self, touch: Decimal, slippage: Decimal, side: Side) -> Decimal:
        """The worst price an order may execute at: ``touch`` moved by ``slippage`` against the order, rounded to the
        tick towards the touch (never looser than the bound), and never below one tick."""
        if side is Side.BUY:
            return self.quantize_price(touch * (1 + slippage), ROUND_FLOOR)
        return max(self.quantize_price(touch * (1 - slippage), ROUND_CEILING), self.tick_size)

    def fit_size(self, size: Decimal, *, reduce_only: bool = False) -> Decimal:
        """``size`` rounded down to the step and checked; a positive size that rounds to nothing names the step and
        the minimum rather than the zero it became."""
        quantized = self.quantize_size(size)
        if size > 0 and quantized <= 0:
            raise BelowMinimumSize(
                f"{self.symbol}: size {plain(size)} rounds down to 0 at the step {plain(self.step_size)}; "
                f"the minimum size is {plain(self.min_size)}"
            )
        self.check_size(quantized, reduce_only=reduce_only)
        return quantized

    def check_size(self, size: Decimal, *, reduce_only: bool = False) -> None:
        """Raise InvalidOrder unless ``size`` is a positive multiple of the step at or above the minimum."""
        if size <= 0:
            raise InvalidOrder(f"{self.symbol}: size must be positive, got {plain(size)}")
        if not is_multiple(size, self.step_size):
            raise InvalidOrder(f"{self.symbol}: size {plain(size)} is not a multiple of the step {plain(self.step_size)}")
        if size < self.min_size and not reduce_only:
            raise BelowMinimumSize(
                f"{self.symbol}: size {plain(size)} is below the minimum {plain(self.min_size)}"
            )


@dataclass(frozen=True)
class TopOfBook:
    """The best bid and ask of a market (with their sizes, and the mark when the venue gives one)."""

    symbol: str
    bid: Decimal | None
    bid_size: Decimal | None
    ask: Decimal | None
    ask_size: Decimal | None
    mark: Decimal | None = None
    at: float = field(default_factory=time.time)

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return self.mark
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class Position:
    """A signed position as the venue reported it (negative = short). A flat market has ``signed_size == 0``."""

    connector: str
    venue: str
    symbol: str
    signed_size: Decimal
    entry_price: Decimal | None = None
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    liquidation_price: Decimal | None = None
    at: float = field(default_factory=time.time)

    @property
    def is_flat(self) -> bool:
        return self.signed_size == 0

    def liquidation_distance(self) -> Decimal | None:
        """Relative distance from mark to the liquidation price (0.1 = 10 %), or None when not known."""
        if not self.liquidation_price or not self.mark_price or self.signed_size == 0:
            return None
        return abs(self.mark_price - self.liquidation_price) / self.mark_price


@dataclass(frozen=True)
class Balance:
    """Account collateral in the quote asset (USDC)."""

    connector: str
    venue: str
    asset: str
    equity: Decimal  # collateral plus unrealised PnL
    available: Decimal  # what new orders can use
    collateral: Decimal | None = None


@dataclass(frozen=True)
class OrderReport:
    """An order as the venue reports it; ``done`` means the venue will fill no more of it."""

    client_order_index: int | None
    venue_order_id: str | None
    symbol: str
    side: Side
    size: Decimal
    filled_size: Decimal
    done: bool
    status: str
    average_price: Decimal | None = None
    fee: Decimal | None = None
    price: Decimal | None = None
    reduce_only: bool = False
    created_at: float | None = None


@dataclass(frozen=True)
class Fill:
    """One execution on the account; ``kind`` is "trade", "liquidation" or "adl"."""

    symbol: str
    side: Side
    size: Decimal
    price: Decimal
    fee: Decimal
    kind: str
    at: float
    order_id: str | None = None
    client_order_index: int | None = None


def _transient(error: BaseException) -> bool:
    """A read failure that may pass: the venue could not be reached, failed, or asked us to slow down."""
    return isinstance(error, (VenueUnavailable, RateLimited))


def tls_context(*urls: str) -> ssl.SSLContext:
    """The TLS context for an HTTP client of ``urls`` (every URL it sends to; none given: any URL).

    Every client that may speak TLS shares one context: loading the trusted certificates costs about 20 ms, which a
    command reading four venues would otherwise pay four times before its first request. A client of plain-HTTP
    URLs only (a paper venue, a local proxy) makes no handshake, so it does not load them: its context trusts no
    certificate, and a handshake through it would be refused."""
    if urls and all(url.lower().startswith("http://") for url in urls):
        return _no_tls_context()
    return _shared_tls_context()


@functools.cache
def _shared_tls_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()


@functools.cache
def _no_tls_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifying (CERT_REQUIRED, hostnames checked), trusting nothing


class Connector(abc.ABC):
    """One venue account. Use as ``async with connector:``; every read raises on failure, never returns zero."""

    venue: ClassVar[str]
    client_id_range: ClassVar[ClientIdRange]
    #: how reads are retried; ``attempts`` comes from the connector's ``read_retries``
    read_retry_policy: ClassVar[RetryPolicy] = RetryPolicy(first_delay_secs=0.05, max_delay_secs=1.0)
    #: how reads wait between attempts (a test or a simulated clock replaces it on the instance)
    retry_sleep: Callable[[float], Awaitable[None]] = staticmethod(asyncio.sleep)

    def __init__(self, config: ConnectorConfig, *, data_dir: Path | None = None, clock: Clock = SYSTEM_CLOCK):
        self.config = config
        self.name = config.name
        #: where this connector's windows, deadlines and polling waits read the time
        self.clock = clock
        state_path = None
        if data_dir is not None:
            state_path = data_dir / "client_ids" / f"{self.venue}-{self.account_key()}.json"
        self.client_ids = ClientIdAllocator(self.client_id_range, state_path=state_path)
        self._rules: dict[str, MarketRules] = {}
        self.last_latency_ms: float | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def start(self) -> None:
        """Open connections; no venue request is required here."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""

    @abc.abstractmethod
    def account_key(self) -> str:
        """A stable id of the venue account (and api key) at this venue's host, for locks and client id files."""

    def account_id(self) -> str:
        """The account's id across venues: what locks and the journal key on."""
        return f"{self.venue}-{self.account_key()}"

    @property
    def landing_horizon_secs(self) -> float:
        """How long after it was sent an order request may still reach the venue and execute. An order the venue
        has no trace of counts as never landed only once it is older than this (e.g. after a crash, where the
        request may still sit in a socket or a queue). Venues whose requests carry an expiry override it."""
        return 10.0

    @abc.abstractmethod
    async def check(self) -> None:
        """Prove the venue answers and accepts our credentials (an authenticated read); raise otherwise."""

    async def prepare(self, symbol: str) -> MarketRules:
        """Load everything an order on ``symbol`` needs (rules, signer, nonce) so the order path does no extra I/O."""
        return await self.market_rules(symbol)

    # --- market data -----------------------------------------------------------------------------------------

    async def market_rules(self, symbol: str) -> MarketRules:
        rules = self._rules.get(symbol)
        if rules is None:
            rules = await self.fetch_market_rules(symbol)
            self._rules[symbol] = rules
        return rules

    def cached_market_rules(self, symbol: str) -> MarketRules | None:
        return self._rules.get(symbol)

    @abc.abstractmethod
    async def fetch_market_rules(self, symbol: str) -> MarketRules:
        """Read the market's step, tick and minimum from the venue; InvalidOrder for an unknown symbol."""

    @abc.abstractmethod
    async def top_of_book(self, symbol: str) -> TopOfBook: ...

    async def taker_fee_rate(self, symbol: str) -> Decimal | None:
        """The account's taker fee on ``symbol`` as a fraction of notional (0.0005 = 5 bp); None when the venue does
        not publish it. Estimates only: the fills' own fees are what PnL counts."""
        return None

    # --- account ---------------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def positions(self) -> list[Position]:
        """Every non-flat position of the account."""

    async def position(self, symbol: str) -> Position:
        """The signed position in ``symbol``; an explicit zero when the venue lists none (it answered)."""
        for position in await self.positions():
            if position.symbol == symbol:
                return position
        return Position(connector=self.name, venue=self.venue, symbol=symbol, signed_size=ZERO)

    @abc.abstractmethod
    async def balance(self) -> Balance: ...

    @abc.abstractmethod
    async def fills(self, symbol: str | None = None, *, since: float | None = None) -> list[Fill]:
        """Recent executions on the account (trades and liquidations), oldest first."""

    # --- orders ----------------------------------------------------------------------------------------------

    async def build_intent(
        self,
        symbol: str,
        side: Side,
        size: Decimal,
        *,
        order_type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        client_order_index: int | None = None,
    ) -> OrderIntent:
        """Quantize ``size`` (down) and ``price`` to the market, check the minimum, allocate a client order index."""
        rules = await self.market_rules(symbol)
        quantized = rules.fit_size(size, reduce_only=reduce_only)
        if order_type is OrderType.LIMIT:
            if price is None or price <= 0:
                raise InvalidOrder(f"{symbol}: a limit order needs a positive price")
            # round a buy down and a sell up, so the price is never worse than asked
            price = rules.quantize_price(price, ROUND_FLOOR if side is Side.BUY else ROUND_CEILING)
        elif price is not None:
            price = rules.quantize_price(price)
        index = client_order_index if client_order_index is not None else self.client_ids.next()
        if not self.client_id_range.contains(index):
            raise InvalidOrder(f"client order index {index} is outside {self.venue}'s range")
        return OrderIntent(
            connector=self.name,
            venue=self.venue,
            symbol=symbol,
            side=side,
            size=quantized,
            order_type=order_type,
            client_order_index=index,
            price=price,
            reduce_only=reduce_only,
            post_only=post_only,
        )

    @abc.abstractmethod
    async def submit_order(
        self,
        intent: OrderIntent,
        *,
        max_slippage: Decimal | None = None,
        listeners: list[TransitionListener] | None = None,
    ) -> TrackingMarketOrder | TrackingLimitOrder:
        """Send the order; the returned handle reaches a final state from the venue's own reports.

        Definite refusals raise (after moving the tracker to FAILED and notifying listeners). A lost answer is
        resolved by client order index inside the handle's task, never by resending blindly.
        """

    async def presign(self, intent: OrderIntent, *, max_slippage: Decimal | None = None) -> None:
        """Do the slow part of sending ``intent`` ahead (a venue whose signing takes milliseconds signs it now), so
        that a later ``submit_order`` of exactly this intent goes out at once. Nothing is sent. No-op by default."""

    async def submit_market_order(
        self,
        symbol: str,
        side: Side,
        size: Decimal,
        *,
        reduce_only: bool = False,
        max_slippage: Decimal | None = None,
        client_order_index: int | None = None,
        listeners: list[TransitionListener] | None = None,
    ) -> TrackingMarketOrder:
        intent = await self.build_intent(
            symbol, side, size, reduce_only=reduce_only, client_order_index=client_order_index
        )
        return await self.submit_order(intent, max_slippage=max_slippage, listeners=listeners)

    async def submit_limit_order(
        self,
        symbol: str,
        side: Side,
        size: Decimal,
        price: Decimal,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        client_order_index: int | None = None,
        listeners: list[TransitionListener] | None = None,
    ) -> TrackingLimitOrder:
        intent = await self.build_intent(
            symbol,
            side,
            size,
            order_type=OrderType.LIMIT,
            price=price,
            reduce_only=reduce_only,
            post_only=post_only,
            client_order_index=client_order_index,
        )
        return await self.submit_order(intent, listeners=listeners)

    @abc.abstractmethod
    async def cancel_order(self, symbol: str, client_order_index: int) -> None: ...

    @abc.abstractmethod
    async def cancel_all(self, symbol: str | None = None) -> None: ...

    @abc.abstractmethod
    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]: ...

    @abc.abstractmethod
    async def find_order(self, symbol: str, client_order_index: int) -> OrderReport | None:
        """The venue's record of the order with this client order index, or None when the venue has none."""

    # --- helpers for implementations -------------------------------------------------------------------------

    async def with_read_retries(self, what: str, read: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent read, retrying transient failures (unavailable, rate limited) with backoff; a venue's
        Retry-After is waited for when it is short (``read_retry_policy``), a longer one is raised at once."""
        policy = dataclasses.replace(self.read_retry_policy, attempts=max(1, self.config.read_retries))
        return await retry(read, policy=policy, retry_on=_transient, what=f"{self.name}: {what}",
                           sleep=self.retry_sleep, log=logger)
