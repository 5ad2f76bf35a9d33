"""The Lighter connector's reads: markets and books, the account's positions, balance and trades, and its orders.

Read-only paths (positions, balance, market rules, book) never load the SDK; authenticated reads (orders, trades)
need an auth token from the signer, which loads it on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import Balance, Fill, MarketRules, OrderReport, Position, TopOfBook
from hedgectl.connectors.lighter.wire import VENUE, decimal_field, int_field, is_not_found, is_working, list_field
from hedgectl.decimals import ROUND_DOWN, ROUND_FLOOR, ZERO, step_of_decimals
from hedgectl.errors import AuthError, InvalidOrder, VenueError, VenueProtocolError
from hedgectl.model.orders import Side


logger = logging.getLogger(__name__)


TRADES_PAGE = 100
MAX_TRADE_PAGES = 20


@dataclass(frozen=True)
class LighterMarket:
    """A Lighter market: the venue-neutral rules plus what signing needs (market id, decimals) and fee rates."""

    rules: MarketRules
    market_id: int
    size_decimals: int
    price_decimals: int
    taker_fee: Decimal  # fraction of notional
    maker_fee: Decimal


class LighterReads:
    """Markets, book, account, positions, balance, fills and orders of one Lighter account (mixed into the
    connector; the authenticated reads take their token from its signer)."""

    # --- market data -----------------------------------------------------------------------------------------

    async def _load_markets(self) -> None:
        """Every market's details in one read (symbol -> market id, decimals, minimums, fees)."""
        document = await self.with_read_retries("orderBookDetails", lambda: self._rest.get("orderBookDetails", {}))
        for detail in list_field(document, "order_book_details"):
            market = _market_from_detail(detail)
            self._markets[market.rules.symbol] = market
            self._markets_by_id[market.market_id] = market
            self._rules.setdefault(market.rules.symbol, market.rules)

    async def fetch_market_rules(self, symbol: str) -> MarketRules:
        await self._load_markets()
        market = self._markets.get(symbol)
        if market is None:
            known = ", ".join(sorted(self._markets)) or "none"
            raise InvalidOrder(f"unknown symbol {symbol!r} (markets: {known})", venue=VENUE, connector=self.name)
        return market.rules

    async def market(self, symbol: str) -> LighterMarket:
        market = self._markets.get(symbol)
        if market is None:
            await self.market_rules(symbol)
            market = self._markets[symbol]
        return market

    async def top_of_book(self, symbol: str) -> TopOfBook:
        market = await self.market(symbol)
        document = await self.with_read_retries(
            "orderBookOrders", lambda: self._rest.get("orderBookOrders", {"market_id": market.market_id, "limit": 1})
        )
        bids, asks = list_field(document, "bids"), list_field(document, "asks")
        book = TopOfBook(
            symbol=symbol,
            bid=decimal_field(bids[0], "price") if bids else None,
            bid_size=decimal_field(bids[0], "remaining_base_amount") if bids else None,
            ask=decimal_field(asks[0], "price") if asks else None,
            ask_size=decimal_field(asks[0], "remaining_base_amount") if asks else None,
        )
        self._books[symbol] = book
        return book

    async def _recent_book(self, symbol: str) -> TopOfBook:
        book = self._books.get(symbol)
        if book is None or self.clock.now() - book.at > self.book_max_age_secs:
            logger.info("%s: book of %s is missing or stale, reading it on the order path", self.name, symbol)
            book = await self.top_of_book(symbol)
        return book

    async def taker_fee_rate(self, symbol: str) -> Decimal | None:
        """The market's taker fee, from ``orderBookDetails`` (``taker_fee``, in percent)."""
        return (await self.market(symbol)).taker_fee

    # --- account ---------------------------------------------------------------------------------------------

    async def _account(self) -> dict[str, Any]:
        document = await self._rest.get("account", {"by": "index", "value": self.account_index})
        accounts = list_field(document, "accounts")
        if not accounts:
            raise AuthError(f"account {self.account_index} not found", venue=VENUE, connector=self.name)
        return accounts[0]

    async def positions(self) -> list[Position]:
        """Every open position, named by its market (matched by market id, never by the position's own text)."""
        before = self._marks.before_read()
        account = await self.with_read_retries("account", self._account)
        entries = list_field(account, "positions", required=True)
        if any(int_field(entry, "market_id") not in self._markets_by_id for entry in entries):
            await self._load_markets()  # not read yet in this process, or listed since
        positions = []
        for entry in entries:
            size = decimal_field(entry, "position")
            if size == 0:
                continue
            sign = int_field(entry, "sign")
            if sign not in (1, -1):
                raise VenueProtocolError(f"position sign {sign} is neither 1 nor -1", venue=VENUE, connector=self.name)
            market = self._markets_by_id.get(int_field(entry, "market_id"))
            if market is None:
                raise VenueProtocolError(f"position in market {entry.get('market_id')}, which the venue does not list",
                                         venue=VENUE, connector=self.name)
            value = decimal_field(entry, "position_value", required=False)
            mark = value / size if value is not None else None
            if mark is not None:
                mark = market.rules.quantize_price(mark, ROUND_FLOOR)
            liquidation = decimal_field(entry, "liquidation_price", required=False)
            positions.append(
                Position(
                    connector=self.name,
                    venue=VENUE,
                    symbol=market.rules.symbol,
                    signed_size=sign * size,
                    entry_price=decimal_field(entry, "avg_entry_price", required=False),
                    mark_price=mark,
                    unrealized_pnl=decimal_field(entry, "unrealized_pnl", required=False),
                    realized_pnl=decimal_field(entry, "realized_pnl", required=False),
                    liquidation_price=liquidation if liquidation else None,
                )
            )
        self._marks.observe(before, {position.symbol: position.signed_size for position in positions}, self._rules)
        return positions

    async def balance(self) -> Balance:
        account = await self.with_read_retries("account", self._account)
        return Balance(
            connector=self.name,
            venue=VENUE,
            asset="USDC",
            equity=decimal_field(account, "total_asset_value"),
            available=decimal_field(account, "available_balance"),
            collateral=decimal_field(account, "collateral", required=False),
        )

    async def fills(self, symbol: str | None = None, *, since: float | None = None) -> list[Fill]:
        """The account's executions, oldest first: the last page of trades, or every one back to ``since``."""
        params: dict[str, Any] = {"account_index": self.account_index}
        if symbol is not None:
            params["market_id"] = (await self.market(symbol)).market_id
        elif not self._markets:
            await self._load_markets()
        trades, _ = await self._trades_back_to(params, since)
        if any(int_field(trade, "market_id") not in self._markets_by_id for trade in trades):
            await self._load_markets()  # a market listed since the rules were read
        fills = [fill for fill in (self._fill_from_trade(trade) for trade in trades) if fill is not None]
        if since is not None:
            fills = [fill for fill in fills if fill.at >= since]
        fills.sort(key=lambda item: item.at)
        return fills

    async def _trades_back_to(self, params: dict[str, Any], since: float | None) -> tuple[list[dict[str, Any]], bool]:
        """The account's trades, newest first: one page, or pages back to ``since`` (epoch seconds); and whether they
        reach back that far (or to the account's first trade)."""
        params = {**params, "sort_by": "timestamp", "sort_dir": "desc", "limit": TRADES_PAGE}
        trades: list[dict[str, Any]] = []
        for _ in range(MAX_TRADE_PAGES):
            document = await self.with_read_retries("trades", lambda p=dict(params): self._auth_get("trades", p))
            page = list_field(document, "trades", required=True)
            trades.extend(page)
            oldest = _seconds(page[-1].get("timestamp")) if page else None
            reached = len(page) < TRADES_PAGE or (since is not None and oldest is not None and oldest < since)
            cursor = document.get("next_cursor")
            if since is None or reached or not cursor:
                return trades, reached
            params["cursor"] = cursor
        return trades, False

    def _fill_from_trade(self, trade: dict[str, Any]) -> Fill | None:
        if trade.get("bid_account_id") == self.account_index:
            side = Side.BUY
        elif trade.get("ask_account_id") == self.account_index:
            side = Side.SELL
        else:
            return None
        market = self._markets_by_id.get(int_field(trade, "market_id"))
        if market is None:
            raise VenueProtocolError(f"trade in unknown market {trade.get('market_id')}", venue=VENUE,
                                     connector=self.name)
        size = decimal_field(trade, "size")
        price = decimal_field(trade, "price")
        notional = decimal_field(trade, "usd_amount", required=False) or size * price
        is_maker_ask = bool(trade.get("is_maker_ask"))
        maker = (side is Side.SELL) == is_maker_ask
        kind = {"liquidation": "liquidation", "deleverage": "adl"}.get(str(trade.get("type") or "trade"), "trade")
        client_id = trade.get("bid_client_id" if side is Side.BUY else "ask_client_id")
        order_id = trade.get("bid_id" if side is Side.BUY else "ask_id")
        return Fill(
            symbol=market.rules.symbol,
            side=side,
            size=size,
            price=price,
            # the venue's fee rate for our role; trades carry no fee amount of their own
            fee=ZERO if kind != "trade" else notional * (market.maker_fee if maker else market.taker_fee),
            kind=kind,
            at=_seconds(trade.get("timestamp")),
            order_id=str(order_id) if order_id is not None else None,
            client_order_index=client_id if isinstance(client_id, int) and client_id > 0 else None,
        )

    # --- authenticated reads ---------------------------------------------------------------------------------

    async def _auth_get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        signer = await self._ensure_signer()
        try:
            return await self._rest.get(endpoint, params, auth_token=signer.auth_token())
        except AuthError:
            # a token the venue no longer accepts (its clock, a restart): one fresh token, once
            signer.forget_auth_token()
            return await self._rest.get(endpoint, params, auth_token=signer.auth_token())

    async def _orders_by_client_index(self, client_order_index: int, market_id: int | None = None
                                      ) -> list[dict[str, Any]]:
        """The account's orders with this client order index (in ``market_id``, when given). An order is identified
        by market and client order index alone: the meaning of the records' ``nonce`` field is not documented."""
        document = await self._auth_get(
            "accountOrders",
            {"account_index": self.account_index, "client_order_indexes": str(client_order_index)},
        )
        # integers read leniently ("7" is 7): a strict comparison would take a record served with another JSON type
        # for an absent order, the direction that can send an order twice; an unreadable one raises (unknown)
        return [
            order for order in list_field(document, "orders", required=True)
            if int_field(order, "client_order_index") == client_order_index
            and (market_id is None or order.get("market_index") is None
                 or int_field(order, "market_index") == market_id)
        ]

    def _report(self, order: dict[str, Any]) -> OrderReport:
        market = self._markets_by_id.get(int_field(order, "market_index"))
        symbol = market.rules.symbol if market else str(order.get("market_symbol") or order.get("market_index"))
        filled = decimal_field(order, "filled_base_amount")
        quote = decimal_field(order, "filled_quote_amount", required=False)
        status = str(order.get("status") or "")
        index = order.get("client_order_index")
        created = order.get("created_at") or order.get("timestamp")
        return OrderReport(
            client_order_index=index if isinstance(index, int) else None,
            venue_order_id=str(order.get("order_index")) if order.get("order_index") is not None else None,
            symbol=symbol,
            side=Side.SELL if order.get("is_ask") else Side.BUY,
            size=decimal_field(order, "initial_base_amount"),
            filled_size=filled,
            done=not is_working(status),
            status=status,
            average_price=(quote / filled) if quote and filled else None,
            price=decimal_field(order, "price", required=False),
            reduce_only=bool(order.get("reduce_only")),
            created_at=_seconds(created) if created else None,
        )

    async def find_order(self, symbol: str, client_order_index: int) -> OrderReport | None:
        await self.market(symbol)
        orders = await self.with_read_retries(
            "accountOrders", lambda: self._orders_by_client_index(client_order_index)
        )
        if not orders:
            return None
        # the same client order index may be reused once an order is final; the newest is the one asked about
        return self._report(max(orders, key=lambda order: int(order.get("order_index") or 0)))

    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        if symbol is not None:
            market_ids = [(await self.market(symbol)).market_id]
        else:
            if not self._markets:
                await self._load_markets()
            account = await self.with_read_retries("account", self._account)
            market_ids = [
                int_field(entry, "market_id")
                for entry in list_field(account, "positions", required=True)
                if int(entry.get("open_order_count") or 0) > 0
            ]
        reports = []
        for market_id in market_ids:
            document = await self.with_read_retries("accountActiveOrders", lambda m=market_id: self._auth_get(
                "accountActiveOrders", {"account_index": self.account_index, "market_id": m}
            ))
            reports.extend(self._report(order) for order in list_field(document, "orders"))
        return [report for report in reports if not report.done]

    async def _tx_document(self, tx_hash: str) -> dict[str, Any] | None:
        """The venue's record of a transaction, or None while it has none (or cannot be asked): the order records
        read alongside remain the main source."""
        try:
            return await self._rest.get("tx", {"by": "hash", "value": tx_hash})
        except VenueError as exc:
            if not is_not_found(exc):
                logger.info("%s: status of transaction %s... not read: %s", self.name, tx_hash[:16], exc)
            return None


def _market_from_detail(detail: dict[str, Any]) -> LighterMarket:
    size_decimals = int_field(detail, "size_decimals")
    price_decimals = int_field(detail, "price_decimals")
    supported_size = detail.get("supported_size_decimals")
    supported_price = detail.get("supported_price_decimals")
    step_decimals = min(size_decimals, supported_size) if isinstance(supported_size, int) else size_decimals
    tick_decimals = min(price_decimals, supported_price) if isinstance(supported_price, int) else price_decimals
    symbol = str(detail.get("symbol") or "")
    market_id = int_field(detail, "market_id")
    rules = MarketRules(
        symbol=symbol,
        base_asset=symbol,
        step_size=step_of_decimals(step_decimals),
        tick_size=step_of_decimals(tick_decimals),
        min_size=decimal_field(detail, "min_base_amount"),
        min_notional=decimal_field(detail, "min_quote_amount", required=False) or ZERO,
        market_id=market_id,
        max_leverage=_max_leverage(detail),
    )
    return LighterMarket(
        rules=rules,
        market_id=market_id,
        size_decimals=size_decimals,
        price_decimals=price_decimals,
        taker_fee=(decimal_field(detail, "taker_fee", required=False) or ZERO) / 100,
        maker_fee=(decimal_field(detail, "maker_fee", required=False) or ZERO) / 100,
    )


def _max_leverage(detail: dict[str, Any]) -> Decimal | None:
    """10,000 / the market's lowest initial margin fraction (basis points): ``min_initial_margin_fraction``, else
    ``default_initial_margin_fraction``. None when neither is published."""
    for key in ("min_initial_margin_fraction", "default_initial_margin_fraction"):
        try:
            fraction = decimal_field(detail, key, required=False)
        except VenueError:
            continue
        if fraction is not None and fraction > 0:
            return (Decimal(10_000) / fraction).to_integral_value(rounding=ROUND_DOWN)
    return None


def _seconds(timestamp: Any) -> float:
    """A venue timestamp (ms, or s, or µs) as epoch seconds."""
    value = float(timestamp or 0)
    if value > 1e14:
        return value / 1e6
    if value > 1e11:
        return value / 1e3
    return value
