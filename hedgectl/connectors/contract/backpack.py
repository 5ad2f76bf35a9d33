"""Backpack's contract: every read the connector relies on, through its own signed HTTP helper, and the fields it
reads from each answer (``connectors/backpack/wire.py`` and ``connector.py``)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from hedgectl.connectors.backpack import wire
from hedgectl.connectors.backpack.connector import BackpackConnector
from hedgectl.connectors.backpack.order_reads import HISTORY_NEWEST_FIRST
from hedgectl.connectors.contract.report import UNUSABLE_ERRORS, ClockReading, ConnectorReport, MarketFacts, error_text
from hedgectl.connectors.contract.schema import (
    ANY,
    BOOL,
    DECIMAL,
    DIGITS,
    INTEGER,
    LIST,
    OBJECT,
    TEXT,
    Drift,
    Expect,
    as_decimal,
    describe,
    not_negative,
    one_of,
    positive,
    validate,
)
from hedgectl.errors import OrderNotFound, VenueError

SIDES = one_of("Bid", "Ask")

MARKET = (
    Expect("symbol", TEXT),
    Expect("baseSymbol", TEXT, required=False),
    Expect("filters.price.tickSize", DECIMAL, check=positive),
    Expect("filters.quantity.stepSize", DECIMAL, check=positive),
    Expect("filters.quantity.minQuantity", DECIMAL, required=False, check=not_negative),
)
DEPTH = (
    Expect("bids", LIST),
    Expect("asks", LIST),
)
POSITION = (
    Expect("[]", OBJECT),
    Expect("[].symbol", TEXT),
    Expect("[].netQuantity", DECIMAL),
    Expect("[].entryPrice", DECIMAL, required=False),
    Expect("[].markPrice", DECIMAL, required=False),
    Expect("[].pnlUnrealized", DECIMAL, required=False),
    Expect("[].pnlRealized", DECIMAL, required=False),
    Expect("[].estLiquidationPrice", DECIMAL, required=False),
)
COLLATERAL = (
    Expect("netEquity", DECIMAL),
    Expect("netEquityAvailable", DECIMAL),
    Expect("collateral[]", OBJECT, required=False),
    Expect("collateral[].collateralValue", DECIMAL, required=False),
)
ORDER = (
    Expect("[]", OBJECT),
    Expect("[].side", TEXT, check=SIDES),
    Expect("[].status", TEXT),
    Expect("[].id", ANY),
    Expect("[].symbol", TEXT),
    Expect("[].clientId", DIGITS, required=False),
    Expect("[].quantity", DECIMAL, required=False),
    Expect("[].executedQuantity", DECIMAL, required=False),
    Expect("[].executedQuoteQuantity", DECIMAL, required=False),
    Expect("[].price", DECIMAL, required=False),
    Expect("[].reduceOnly", BOOL, required=False),
    Expect("[].createdAt", ANY, required=False),
)
ORDER_HISTORY = (*ORDER, Expect("[].expiryReason", TEXT, required=False))
FILL = (
    Expect("[]", OBJECT),
    Expect("[].side", TEXT, check=SIDES),
    Expect("[].symbol", TEXT),
    Expect("[].quantity", DECIMAL),
    Expect("[].price", DECIMAL),
    Expect("[].fee", DECIMAL, required=False),
    Expect("[].timestamp", ANY),
    Expect("[].orderId", ANY, required=False),
    Expect("[].clientId", DIGITS, required=False),
    Expect("[].systemOrderType", TEXT, required=False),
)
ACCOUNT = (Expect("leverageLimit", DECIMAL, required=False, check=positive),)
TIME = (Expect("time", INTEGER),)

#: How many rows of each history the check asks for: enough to see real rows, few enough to stay light.
HISTORY_ROWS = 50


async def check_backpack(connector: BackpackConnector, symbols: list[str], report: ConnectorReport) -> None:
    request = connector._request

    async def read(path: str, params: dict[str, Any] | None = None, instruction: str | None = None) -> Any:
        return await connector.with_read_retries(path, lambda: request("GET", path, params, instruction=instruction))

    # a bare integer: wrapped so that its drift has a name
    before = time.time()
    server_time = await report.read("venue clock", "GET /api/v1/time",
                                    lambda: _wrapped(read("/api/v1/time")), TIME)
    after = time.time()
    if server_time is not None and as_decimal(server_time["time"]) is not None:
        offset = int(server_time["time"]) - (before + after) * 500
        report.clock = ClockReading(offset, round((after - before) * 1000, 1), "GET /api/v1/time")

    for symbol in symbols:
        market = await report.read(f"market {symbol}", f"GET /api/v1/market?symbol={symbol}",
                                   lambda s=symbol: read("/api/v1/market", {"symbol": s}), MARKET)
        if isinstance(market, dict) and not report.checks[-1].drifts:
            if market.get("symbol") != symbol:
                report.extend_last([_drift("symbol", f"the market asked for ({symbol})", market.get("symbol"))])
            else:
                report.markets.append(_facts(market))
        await report.read(f"book {symbol}", f"GET /api/v1/depth?symbol={symbol}",
                          lambda s=symbol: read("/api/v1/depth", {"symbol": s, "limit": 5}), DEPTH)

    account = await report.read("account", "GET /api/v1/account (accountQuery)",
                                lambda: read("/api/v1/account", instruction="accountQuery"), ACCOUNT)
    if isinstance(account, dict) and account.get("leverageLimit") is not None:
        limit = as_decimal(account["leverageLimit"])
        report.checks[-1].detail = f"account leverage limit {account['leverageLimit']}"
        report.markets = [_with_leverage(facts, limit, "account leverageLimit") for facts in report.markets]
    await report.read("positions", "GET /api/v1/position (positionQuery)",
                      lambda: read("/api/v1/position", instruction="positionQuery"), POSITION)
    await report.read("balance", "GET /api/v1/capital/collateral (collateralQuery)",
                      lambda: read("/api/v1/capital/collateral", instruction="collateralQuery"), COLLATERAL)
    for symbol in symbols:
        await report.read(f"open orders {symbol}", f"GET /api/v1/orders?symbol={symbol} (orderQueryAll)",
                          lambda s=symbol: read("/api/v1/orders", {"symbol": s}, "orderQueryAll"), ORDER)
        await report.read(
            f"order history {symbol}", f"GET /wapi/v1/history/orders?symbol={symbol} (orderHistoryQueryAll)",
            lambda s=symbol: read("/wapi/v1/history/orders", {
                "symbol": s, "limit": HISTORY_ROWS, "offset": 0, "sortDirection": HISTORY_NEWEST_FIRST,
            }, "orderHistoryQueryAll"), ORDER_HISTORY)
        await report.read(f"fills {symbol}", f"GET /wapi/v1/history/fills?symbol={symbol} (fillHistoryQueryAll)",
                          lambda s=symbol: read("/wapi/v1/history/fills", {
                              "symbol": s, "limit": HISTORY_ROWS, "offset": 0}, "fillHistoryQueryAll"), FILL)
        await _order_by_client_id(connector, read, symbol, report)


async def _order_by_client_id(connector: BackpackConnector, read, symbol: str, report: ConnectorReport) -> None:
    """A lost answer is resolved by asking for the order by clientId: an order that does not rest must come back as
    RESOURCE_NOT_FOUND (read as "not resting"), anything else would stall the resolution."""
    client_id = connector.client_id_range.low
    name = f"order by clientId {symbol}"
    request = f"GET /api/v1/order?symbol={symbol}&clientId={client_id} (orderQuery)"
    try:
        document = await read("/api/v1/order", {"symbol": symbol, "clientId": client_id}, "orderQuery")
    except OrderNotFound:
        report.record(name, request, [], detail="an order that does not rest answers RESOURCE_NOT_FOUND")
        return
    except VenueError as exc:
        if isinstance(exc, UNUSABLE_ERRORS):
            report.fail(name, request, exc)
        report.drift(name, request, "(answer)", "the resting order, or RESOURCE_NOT_FOUND when none rests",
                     describe(error_text(report.connector, exc)))
        return
    report.record(name, request, validate([document], ORDER_HISTORY))


async def _wrapped(value) -> dict[str, Any]:
    return {"time": await value}


def _drift(path: str, expected: str, got: Any) -> Drift:
    return Drift(path, expected, describe(got))


def _facts(market: dict[str, Any]) -> MarketFacts:
    rules = wire.market_rules(market)  # the maximum leverage as the preflight reads it
    leverage = rules.max_leverage
    return MarketFacts(rules.symbol, rules.step_size, rules.tick_size, rules.min_size, None, leverage,
                       "market imfFunction.base" if leverage is not None else None)


def _with_leverage(facts: MarketFacts, limit: Decimal | None, source: str) -> MarketFacts:
    if limit is None or (facts.max_leverage is not None and facts.max_leverage <= limit):
        return facts
    return MarketFacts(facts.symbol, facts.step_size, facts.tick_size, facts.min_size, facts.min_notional, limit,
                       source)
