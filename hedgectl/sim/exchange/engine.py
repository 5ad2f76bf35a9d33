"""One paper venue's matching engine and accounts: books around the shared mid, orders, fills, margin, liquidation.

An ``Exchange`` is venue-neutral: it speaks Decimals, engine enums and account names. The HTTP venues (Backpack,
Lighter) translate their wire formats to ``Exchange.submit_order`` and friends, and translate ``Order``/``Fill``
records back. Every order ever submitted stays in ``Exchange.orders`` so that tests and the chaos checker can prove
that each client order id executed at most once and that nothing filled beyond its quantity.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any

from hedgectl.sim.exchange.book import Level, quantity_for_quote, synthetic_levels, within
from hedgectl.sim.exchange.records import (
    USD_QUANTUM,
    ZERO,
    Account,
    AccountSummary,
    CancelReason,
    Fill,
    Order,
    OrderRejected,
    OrderStatus,
    OrderType,
    RuleViolation,
    Side,
    TimeInForce,
    Trade,
    TradeKind,
)
from hedgectl.sim.market import (
    DEFAULT_BOOK_SHAPES,
    BookShape,
    Market,
    MarketRules,
    is_multiple,
    plain,
    quantize_down,
)

logger = logging.getLogger(__name__)


class Exchange:
    """A paper venue's engine: market rules, books, accounts and order lifecycle, quoting around ``market``.

    ``venue`` names the venue in logs and state; ``basis`` (fraction per base asset, e.g. 0.0002) offsets this venue's
    reference price from the shared mid; ``book_shapes`` set the synthetic depth per base asset.
    All methods are synchronous and must be called from one thread (the venue servers' event loop).
    """

    def __init__(
        self,
        market: Market,
        venue: str,
        rules: dict[str, MarketRules],
        *,
        basis: dict[str, Decimal] | None = None,
        book_shapes: dict[str, BookShape] | None = None,
        default_leverage: Decimal | None = None,
        first_order_id: int = 1,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.market = market
        self.venue = venue
        self.rules = dict(rules)
        self.basis = dict(basis or {})
        self.book_shapes = {**DEFAULT_BOOK_SHAPES, **(book_shapes or {})}
        self.default_leverage = default_leverage
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.accounts: dict[str, Account] = {}
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.trades: list[Trade] = []
        self._orders_by_id: dict[int, Order] = {}
        self._resting: dict[str, list[Order]] = {symbol: [] for symbol in self.rules}
        self._order_ids = itertools.count(first_order_id)
        self._trade_ids = itertools.count(first_order_id)
        self._by_base: dict[str, list[str]] = {}
        for symbol, market_rules in self.rules.items():
            self._by_base.setdefault(market_rules.base, []).append(symbol)
        market.subscribe(self.on_market_move)

    # ----- prices and books -------------------------------------------------------------------------------------

    def rules_for(self, symbol: str) -> MarketRules:
        try:
            return self.rules[symbol]
        except KeyError:
            raise OrderRejected(RuleViolation.UNKNOWN_SYMBOL, symbol) from None

    def reference_price(self, symbol: str) -> Decimal:
        """The shared mid of the symbol's base plus this venue's basis, unrounded."""
        base = self.rules_for(symbol).base
        return self.market.mid(base) * (1 + self.basis.get(base, ZERO))

    def mark_price(self, symbol: str) -> Decimal:
        """The reference price rounded to the tick: what PnL, margin and liquidation use."""
        rules = self.rules_for(symbol)
        return self.reference_price(symbol).quantize(rules.tick_size)

    def synthetic_levels(self, symbol: str, side: Side) -> list[tuple[Decimal, Decimal]]:
        """The venue's own liquidity on one side: ``side`` BUY gives bids (best first), SELL gives asks."""
        rules = self.rules_for(symbol)
        shape = self.book_shapes.get(rules.base, BookShape())
        return synthetic_levels(self.reference_price(symbol), rules, shape, side)

    def book(self, symbol: str, depth: int = 50) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Aggregated ``(bids, asks)``, best first, synthetic liquidity plus resting account orders."""
        sides = []
        for side in (Side.BUY, Side.SELL):
            totals: dict[Decimal, Decimal] = {}
            for price, quantity in self.synthetic_levels(symbol, side):
                totals[price] = totals.get(price, ZERO) + quantity
            for order in self._resting[symbol]:
                if order.side is side:
                    totals[order.price] = totals.get(order.price, ZERO) + order.remaining
            ordered = sorted(totals.items(), reverse=side is Side.BUY)
            sides.append(ordered[:depth])
        return sides[0], sides[1]

    def best_bid_ask(self, symbol: str) -> tuple[Decimal, Decimal]:
        bids, asks = self.book(symbol, depth=1)
        return bids[0][0], asks[0][0]

    def resting_orders(self, symbol: str | None = None, account: str | None = None) -> list[Order]:
        symbols = [symbol] if symbol is not None else list(self._resting)
        return [
            order
            for name in symbols
            for order in self._resting.get(name, [])
            if account is None or order.account == account
        ]

    # ----- accounts and margin ----------------------------------------------------------------------------------

    def open_account(self, name: str, collateral: Decimal, **extra: Any) -> Account:
        """Create (or return the existing) account ``name`` funded with ``collateral``."""
        account = self.accounts.get(name)
        if account is None:
            account = self.accounts[name] = Account(name, Decimal(collateral), extra=dict(extra))
        return account

    def account(self, name: str) -> Account:
        try:
            return self.accounts[name]
        except KeyError:
            raise KeyError(f"unknown account {name!r} on {self.venue}") from None

    def initial_margin_fraction(self, account: Account, symbol: str) -> Decimal:
        rules = self.rules_for(symbol)
        leverage = account.leverage.get(symbol, self.default_leverage)
        if leverage:
            return max(rules.initial_margin_fraction, Decimal(1) / leverage)
        return rules.initial_margin_fraction

    def set_leverage(self, account_name: str, symbol: str, leverage: Decimal) -> None:
        rules = self.rules_for(symbol)
        if leverage <= 0 or leverage > rules.max_leverage:
            raise ValueError(f"leverage must be in 1..{rules.max_leverage}")
        self.account(account_name).leverage[symbol] = Decimal(leverage)

    def summary(self, account_name: str) -> AccountSummary:
        account = self.account(account_name)
        unrealized = initial = maintenance = notional = ZERO
        for symbol, position in account.positions.items():
            if position.size == 0:
                continue
            mark = self.mark_price(symbol)
            exposure = abs(position.size) * mark
            unrealized += position.unrealized_pnl(mark)
            initial += exposure * self.initial_margin_fraction(account, symbol)
            maintenance += exposure * self.rules[symbol].maintenance_margin_fraction
            notional += exposure
        order_margin = sum(
            (
                order.remaining * order.price * self.initial_margin_fraction(account, order.symbol)
                for order in self.resting_orders(account=account_name)
                if not order.reduce_only
            ),
            ZERO,
        )
        equity = account.collateral + unrealized
        return AccountSummary(
            collateral=account.collateral,
            unrealized_pnl=unrealized,
            equity=equity,
            initial_margin=initial.quantize(USD_QUANTUM),
            maintenance_margin=maintenance.quantize(USD_QUANTUM),
            open_order_margin=order_margin.quantize(USD_QUANTUM),
            available=max(ZERO, equity - initial - order_margin).quantize(USD_QUANTUM),
            notional=notional.quantize(USD_QUANTUM),
        )

    def liquidation_price(self, account_name: str, symbol: str) -> Decimal | None:
        """Mark price of ``symbol`` at which the account falls to maintenance margin, other marks held; None if flat."""
        account = self.account(account_name)
        size = account.size(symbol)
        if size == 0:
            return None
        position = account.positions[symbol]
        mmf = self.rules[symbol].maintenance_margin_fraction
        others = ZERO
        for other_symbol, other in account.positions.items():
            if other_symbol == symbol or other.size == 0:
                continue
            mark = self.mark_price(other_symbol)
            others += other.unrealized_pnl(mark) - abs(other.size) * mark * self.rules[other_symbol].maintenance_margin_fraction
        cushion = account.collateral + others
        # equity(P) = cushion + size * (P - entry) equals maintenance |size| * P * mmf at the liquidation price.
        denominator = size * (1 - mmf) if size > 0 else size * (1 + mmf)
        price = (size * position.entry_price - cushion) / denominator
        return max(ZERO, price).quantize(self.rules[symbol].tick_size)

    # ----- orders -----------------------------------------------------------------------------------------------

    def check_rules(self, symbol: str, quantity: Decimal | None, price: Decimal | None = None) -> None:
        """Raise ``OrderRejected`` when the quantity or price breaks the market's step, tick, minimum or maximum."""
        rules = self.rules_for(symbol)
        if quantity is not None:
            if quantity <= 0:
                raise OrderRejected(RuleViolation.QUANTITY_NOT_POSITIVE, plain(quantity))
            if not is_multiple(quantity, rules.step_size):
                raise OrderRejected(RuleViolation.QUANTITY_PRECISION, plain(quantity))
            if quantity < rules.min_quantity:
                raise OrderRejected(RuleViolation.QUANTITY_BELOW_MINIMUM, plain(quantity))
        if price is not None:
            if price <= 0:
                raise OrderRejected(RuleViolation.PRICE_NOT_POSITIVE, plain(price))
            if not is_multiple(price, rules.tick_size):
                raise OrderRejected(RuleViolation.PRICE_PRECISION, plain(price))
            if price > rules.max_price:
                raise OrderRejected(RuleViolation.PRICE_TOO_HIGH, plain(price))

    def submit_order(
        self,
        account_name: str,
        symbol: str,
        side: Side,
        quantity: Decimal | None,
        *,
        order_type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        client_id: int | None = None,
        worst_price: Decimal | None = None,
        quote_quantity: Decimal | None = None,
        fill_fraction: Decimal | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Order:
        """Accept, match and (for resting limit orders) book one order; returns its record in its final or open state.

        Market orders are IOC: they walk the book up to ``worst_price`` (when given) and cancel the rest. Limit orders
        match what they cross and rest unless IOC/FOK. ``quote_quantity`` sizes a market order by quote currency
        instead of ``quantity``. ``fill_fraction`` (the partial-fill fault) caps what a taker order may fill.
        Raises ``OrderRejected`` (no record created) for a rule violation; every other outcome is a recorded order,
        cancelled with a ``CancelReason`` when it could not (fully) execute.
        """
        account = self.account(account_name)
        rules = self.rules_for(symbol)
        if order_type is OrderType.LIMIT:
            if price is None:
                raise OrderRejected(RuleViolation.PRICE_MISSING)
            self.check_rules(symbol, quantity, price)
        elif quote_quantity is None:
            self.check_rules(symbol, quantity)
        if order_type is OrderType.LIMIT and quantity * price < rules.min_notional:
            raise OrderRejected(RuleViolation.NOTIONAL_BELOW_MINIMUM, plain(quantity * price))
        now = self.clock_ms()
        tif = time_in_force or (TimeInForce.IOC if order_type is OrderType.MARKET else TimeInForce.GTC)
        order = Order(
            order_id=next(self._order_ids),
            account=account_name,
            symbol=symbol,
            side=side,
            order_type=order_type,
            quantity=quantity if quantity is not None else ZERO,
            price=price,
            time_in_force=tif,
            post_only=post_only,
            reduce_only=reduce_only,
            client_id=client_id,
            created_ms=now,
            worst_price=worst_price,
            quote_quantity=quote_quantity,
            updated_ms=now,
            extra=dict(extra or {}),
        )
        self.orders.append(order)
        self._orders_by_id[order.order_id] = order
        self._execute(account, order, rules, fill_fraction)
        return order

    def _execute(self, account: Account, order: Order, rules: MarketRules, fill_fraction: Decimal | None) -> None:
        position_size = account.size(order.symbol)
        limit = order.price if order.order_type is OrderType.LIMIT else order.worst_price
        ladder = self._ladder(order.symbol, order.side, account.name)
        if order.quote_quantity is not None and order.quantity == 0:
            order.quantity = quantity_for_quote(ladder, order.quote_quantity, limit, order.side, rules)
            if order.quantity == 0:
                self._cancel(order, CancelReason.INSUFFICIENT_LIQUIDITY)
                return
        executable = order.quantity
        if order.reduce_only:
            reducible = abs(position_size) if position_size * order.side.sign < 0 else ZERO
            if reducible == 0:
                self._cancel(order, CancelReason.REDUCE_ONLY)
                return
            executable = min(executable, reducible)
        crosses = bool(ladder) and (limit is None or within(ladder[0].price, limit, order.side))
        if order.post_only and crosses:
            self._cancel(order, CancelReason.POST_ONLY_TAKER)
            return
        if not order.reduce_only and not self._margin_allows(account, order, position_size):
            self._cancel(order, CancelReason.INSUFFICIENT_MARGIN)
            return
        # a taker order: a market order, or a limit order that never rests
        if fill_fraction is not None and (order.order_type is OrderType.MARKET
                                          or order.time_in_force is not TimeInForce.GTC):
            executable = min(executable, quantize_down(order.quantity * fill_fraction, rules.step_size))
        available = sum((level.quantity for level in ladder if limit is None or within(level.price, limit, order.side)), ZERO)
        if order.time_in_force is TimeInForce.FOK and available < executable:
            self._cancel(order, CancelReason.FILL_OR_KILL)
            return
        stopped_by_limit = False
        remaining = executable
        for level in ladder:
            if remaining == 0:
                break
            if limit is not None and not within(level.price, limit, order.side):
                stopped_by_limit = True
                break
            take = min(remaining, level.quantity)
            self._trade(order, level, take, rules)
            remaining -= take
        self._settle_after_match(order, executable, ladder_exhausted=remaining > 0 and not stopped_by_limit,
                                 stopped_by_limit=stopped_by_limit)

    def _settle_after_match(self, order: Order, executable: Decimal, *, ladder_exhausted: bool, stopped_by_limit: bool) -> None:
        if order.executed_quantity == order.quantity:
            self._set_status(order, OrderStatus.FILLED)
            return
        if order.order_type is OrderType.LIMIT and order.time_in_force is TimeInForce.GTC and executable == order.quantity:
            self._set_status(order, OrderStatus.PARTIALLY_FILLED if order.executed_quantity else OrderStatus.NEW)
            self._resting[order.symbol].append(order)
            return
        if executable < order.quantity and order.executed_quantity == executable and order.reduce_only:
            reason = CancelReason.REDUCE_ONLY
        elif stopped_by_limit:
            reason = CancelReason.SLIPPAGE if order.order_type is OrderType.MARKET else CancelReason.IMMEDIATE_OR_CANCEL
        elif ladder_exhausted:
            reason = CancelReason.INSUFFICIENT_LIQUIDITY
        else:
            reason = CancelReason.IMMEDIATE_OR_CANCEL
        self._cancel(order, reason)

    def _ladder(self, symbol: str, side: Side, account_name: str) -> list[Level]:
        """What a taker on ``side`` can hit, best first: synthetic levels and other accounts' resting orders."""
        levels = [Level(price, quantity, None) for price, quantity in self.synthetic_levels(symbol, side.opposite)]
        levels.extend(
            Level(order.price, order.remaining, order)
            for order in self._resting[symbol]
            if order.side is side.opposite and order.account != account_name
        )
        # Resting account orders go ahead of synthetic liquidity at the same price (they were there first).
        levels.sort(key=lambda level: (level.price if side is Side.BUY else -level.price, level.maker is None))
        return levels

    def _margin_allows(self, account: Account, order: Order, position_size: Decimal) -> bool:
        projected = position_size + order.side.sign * order.quantity
        if abs(projected) <= abs(position_size):
            return True
        summary = self.summary(account.name)
        reference = order.price if order.order_type is OrderType.LIMIT else self.mark_price(order.symbol)
        imf = self.initial_margin_fraction(account, order.symbol)
        added = (abs(projected) - abs(position_size)) * reference * imf
        fee = order.quantity * reference * self.rules[order.symbol].taker_fee
        return summary.initial_margin + summary.open_order_margin + added + fee <= summary.equity

    def _trade(self, taker: Order, level: Level, quantity: Decimal, rules: MarketRules) -> None:
        trade_id = next(self._trade_ids)
        now = self.clock_ms()
        maker = level.maker
        self._record_fill(taker, self.accounts[taker.account], level.price, quantity, rules.taker_fee, False, trade_id, now)
        if maker is not None:
            self._record_fill(maker, self.accounts[maker.account], level.price, quantity, rules.maker_fee, True, trade_id, now)
            self._after_maker_fill(maker)
        buyer, seller = (taker, maker) if taker.side is Side.BUY else (maker, taker)
        self.trades.append(Trade(
            trade_id=trade_id, symbol=taker.symbol, price=level.price, quantity=quantity, taker_side=taker.side,
            kind=TradeKind.TRADE,
            buyer=buyer.account if buyer else None, seller=seller.account if seller else None,
            buy_order_id=buyer.order_id if buyer else None, sell_order_id=seller.order_id if seller else None,
            timestamp_ms=now,
        ))
        level.quantity -= quantity

    def _record_fill(self, order: Order, account: Account, price: Decimal, quantity: Decimal, fee_rate: Decimal,
                     is_maker: bool, trade_id: int, now: int) -> None:
        fee = (price * quantity * fee_rate).quantize(USD_QUANTUM)
        position = account.position(order.symbol)
        realized = position.apply(order.side.sign * quantity, price)
        position.fees_paid += fee
        account.collateral += realized - fee
        order.executed_quantity += quantity
        order.executed_quote += price * quantity
        order.fees += fee
        order.updated_ms = now
        order.trade_ids.append(trade_id)
        self.fills.append(Fill(
            trade_id=trade_id, order_id=order.order_id, client_id=order.client_id, account=account.name,
            symbol=order.symbol, side=order.side, price=price, quantity=quantity, fee=fee, is_maker=is_maker,
            kind=TradeKind.TRADE, timestamp_ms=now,
        ))

    def _after_maker_fill(self, maker: Order) -> None:
        if maker.remaining == 0:
            self._set_status(maker, OrderStatus.FILLED)
            self._resting[maker.symbol].remove(maker)
        else:
            self._set_status(maker, OrderStatus.PARTIALLY_FILLED)
        self._check_liquidation(self.accounts[maker.account])

    def _set_status(self, order: Order, status: OrderStatus) -> None:
        order.status = status
        order.updated_ms = self.clock_ms()

    def _cancel(self, order: Order, reason: CancelReason) -> None:
        if order in self._resting.get(order.symbol, ()):
            self._resting[order.symbol].remove(order)
        order.status = OrderStatus.CANCELLED
        order.cancel_reason = reason
        order.updated_ms = self.clock_ms()

    def order(self, order_id: int) -> Order | None:
        return self._orders_by_id.get(order_id)

    def find_orders(self, account_name: str, *, client_id: int | None = None, symbol: str | None = None) -> list[Order]:
        """Every order of the account (oldest first), optionally only those with ``client_id`` / on ``symbol``."""
        return [
            order
            for order in self.orders
            if order.account == account_name
            and (client_id is None or order.client_id == client_id)
            and (symbol is None or order.symbol == symbol)
        ]

    def cancel_order(self, account_name: str, *, order_id: int | None = None, client_id: int | None = None,
                     symbol: str | None = None) -> Order | None:
        """Cancel one resting order of the account by id or client id; None when no such order rests."""
        for order in self.resting_orders(symbol, account_name):
            if (order_id is not None and order.order_id == order_id) or (
                order_id is None and client_id is not None and order.client_id == client_id
            ):
                self._cancel(order, CancelReason.USER)
                return order
        return None

    def cancel_all(self, account_name: str, symbol: str | None = None) -> list[Order]:
        cancelled = self.resting_orders(symbol, account_name)
        for order in cancelled:
            self._cancel(order, CancelReason.USER)
        return cancelled

    # ----- market moves and liquidation -------------------------------------------------------------------------

    def on_market_move(self) -> None:
        """Fill resting orders the new prices cross, then liquidate accounts under maintenance margin."""
        for symbol, resting in self._resting.items():
            if not resting:
                continue
            bids, asks = self.synthetic_levels(symbol, Side.BUY), self.synthetic_levels(symbol, Side.SELL)
            best_bid, best_ask = bids[0][0], asks[0][0]
            for order in list(resting):
                crossed = order.price >= best_ask if order.side is Side.BUY else order.price <= best_bid
                if crossed:
                    self._fill_resting_at_limit(order)
        for account in list(self.accounts.values()):
            self._check_liquidation(account)

    def _fill_resting_at_limit(self, order: Order) -> None:
        rules = self.rules[order.symbol]
        account = self.accounts[order.account]
        quantity = order.remaining
        if order.reduce_only:
            size = account.size(order.symbol)
            reducible = abs(size) if size * order.side.sign < 0 else ZERO
            quantity = min(quantity, reducible)
            if quantity == 0:
                self._cancel(order, CancelReason.REDUCE_ONLY)
                return
        trade_id = next(self._trade_ids)
        now = self.clock_ms()
        self._record_fill(order, account, order.price, quantity, rules.maker_fee, True, trade_id, now)
        buy = order.side is Side.BUY
        self.trades.append(Trade(
            trade_id=trade_id, symbol=order.symbol, price=order.price, quantity=quantity,
            taker_side=order.side.opposite, kind=TradeKind.TRADE,
            buyer=order.account if buy else None, seller=None if buy else order.account,
            buy_order_id=order.order_id if buy else None, sell_order_id=None if buy else order.order_id,
            timestamp_ms=now,
        ))
        if order.remaining == 0:
            self._set_status(order, OrderStatus.FILLED)
            self._resting[order.symbol].remove(order)
        else:
            self._cancel(order, CancelReason.REDUCE_ONLY)

    def _check_liquidation(self, account: Account) -> None:
        if not any(position.size for position in account.positions.values()):
            return
        summary = self.summary(account.name)
        if summary.equity < summary.maintenance_margin:
            logger.info("%s: account %s under maintenance margin (equity %s < %s), liquidating",
                        self.venue, account.name, summary.equity, summary.maintenance_margin)
            self.liquidate(account.name)

    def liquidate(self, account_name: str) -> list[Fill]:
        """Close every position of the account at mark with trades of kind LIQUIDATION and cancel its orders."""
        account = self.account(account_name)
        for order in self.resting_orders(account=account_name):
            self._cancel(order, CancelReason.LIQUIDATION)
        fills = []
        now = self.clock_ms()
        for symbol, position in account.positions.items():
            if position.size == 0:
                continue
            side = Side.SELL if position.size > 0 else Side.BUY
            quantity = abs(position.size)
            price = self.mark_price(symbol)
            trade_id = next(self._trade_ids)
            self._liquidation_fill(account, symbol, side, quantity, price, trade_id, now)
            fills.append(self.fills[-1])
            self.trades.append(Trade(
                trade_id=trade_id, symbol=symbol, price=price, quantity=quantity, taker_side=side,
                kind=TradeKind.LIQUIDATION,
                buyer=account_name if side is Side.BUY else None, seller=account_name if side is Side.SELL else None,
                buy_order_id=None, sell_order_id=None, timestamp_ms=now,
            ))
        if account.collateral < 0:
            # The venue's insurance fund absorbs a negative balance; the account keeps nothing.
            account.collateral = ZERO
        return fills

    def _liquidation_fill(self, account: Account, symbol: str, side: Side, quantity: Decimal, price: Decimal,
                          trade_id: int, now: int) -> None:
        position = account.position(symbol)
        account.collateral += position.apply(side.sign * quantity, price)
        self.fills.append(Fill(
            trade_id=trade_id, order_id=None, client_id=None, account=account.name, symbol=symbol, side=side,
            price=price, quantity=quantity, fee=ZERO, is_maker=False, kind=TradeKind.LIQUIDATION, timestamp_ms=now,
        ))

    # ----- audit and persistence --------------------------------------------------------------------------------

    def audit(self, accounts: Collection[str] | None = None) -> list[str]:
        """Problems a chaos checker cares about: a client order id executed more than once, or a fill beyond intent
        (only for orders of ``accounts``, when given)."""
        problems = []
        executed: dict[tuple[str, int], int] = {}
        for order in self.orders:
            if accounts is not None and order.account not in accounts:
                continue
            if order.executed_quantity > order.quantity:
                problems.append(f"order {order.order_id} executed {plain(order.executed_quantity)} of {plain(order.quantity)}")
            if order.client_id is not None and order.executed_quantity > 0:
                key = (order.account, order.client_id)
                executed[key] = executed.get(key, 0) + 1
        problems.extend(
            f"{account}: client order id {client_id} executed {count} times"
            for (account, client_id), count in executed.items()
            if count > 1
        )
        return problems
