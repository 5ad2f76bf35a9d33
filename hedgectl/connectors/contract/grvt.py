"""GRVT's contract: the API key login, then every read the connector relies on through its own POST helper, and
the fields it reads from each answer (``connectors/grvt/wire.py`` and ``connector.py``)."""

from __future__ import annotations

from typing import Any

from hedgectl.connectors.contract.clock import DateClock
from hedgectl.connectors.contract.report import UNUSABLE_ERRORS, ConnectorReport, MarketFacts, error_text
from hedgectl.connectors.contract.schema import (
    BOOL,
    DECIMAL,
    DIGITS,
    INTEGER,
    OBJECT,
    TEXT,
    Drift,
    Expect,
    describe,
    hex_text,
    int_between,
    not_negative,
    positive,
    validate,
)
from hedgectl.connectors.grvt import wire
from hedgectl.connectors.grvt.connector import GrvtConnector
from hedgectl.errors import OrderNotFound, VenueError

INSTRUMENT = (
    Expect("result", OBJECT),
    Expect("result.instrument", TEXT),
    Expect("result.instrument_hash", TEXT, check=hex_text),
    Expect("result.base", TEXT),
    Expect("result.quote", TEXT),
    Expect("result.base_decimals", INTEGER, check=int_between(0, 18)),
    Expect("result.tick_size", DECIMAL, check=positive),
    Expect("result.min_size", DECIMAL, check=positive),
    Expect("result.min_notional", DECIMAL, required=False, check=not_negative),
)
TICKER = (
    Expect("result", OBJECT),
    Expect("result.best_bid_price", DECIMAL, required=False),
    Expect("result.best_bid_size", DECIMAL, required=False),
    Expect("result.best_ask_price", DECIMAL, required=False),
    Expect("result.best_ask_size", DECIMAL, required=False),
    Expect("result.mark_price", DECIMAL, required=False),
)
SUMMARY = (
    Expect("result", OBJECT),
    Expect("result.total_equity", DECIMAL),
    Expect("result.available_balance", DECIMAL),
    Expect("result.settle_currency", TEXT, required=False),
    Expect("result.spot_balances[]", OBJECT, required=False),
    Expect("result.spot_balances[].currency", TEXT, required=False),
    Expect("result.spot_balances[].balance", DECIMAL, required=False),
)
POSITIONS = (
    Expect("result[]", OBJECT),
    Expect("result[].instrument", TEXT),
    Expect("result[].size", DECIMAL),
    Expect("result[].entry_price", DECIMAL, required=False),
    Expect("result[].mark_price", DECIMAL, required=False),
    Expect("result[].unrealized_pnl", DECIMAL, required=False),
    Expect("result[].realized_pnl", DECIMAL, required=False),
    Expect("result[].est_liquidation_price", DECIMAL, required=False),
)


def _orders(prefix: str) -> tuple[Expect, ...]:
    return (
        Expect(f"{prefix}legs[]", OBJECT),
        Expect(f"{prefix}legs[].instrument", TEXT),
        Expect(f"{prefix}legs[].size", DECIMAL),
        Expect(f"{prefix}legs[].is_buying_asset", BOOL),
        Expect(f"{prefix}legs[].limit_price", DECIMAL, required=False),
        Expect(f"{prefix}order_id", TEXT, required=False),
        Expect(f"{prefix}reduce_only", BOOL, required=False),
        Expect(f"{prefix}metadata", OBJECT, required=False),
        Expect(f"{prefix}metadata.client_order_id", DIGITS, required=False),
        Expect(f"{prefix}metadata.create_time", DIGITS, required=False),
        Expect(f"{prefix}state", OBJECT, required=False),
        Expect(f"{prefix}state.status", TEXT, required=False),
        Expect(f"{prefix}state.reject_reason", TEXT, required=False),
        Expect(f"{prefix}state.traded_size[]", DECIMAL, required=False),
        Expect(f"{prefix}state.avg_fill_price[]", DECIMAL, required=False),
    )


OPEN_ORDERS = (Expect("result[]", OBJECT), *_orders("result[]."))
ORDER = (Expect("result", OBJECT), *_orders("result."))
FILLS = (
    Expect("result[]", OBJECT),
    Expect("result[].instrument", TEXT),
    Expect("result[].is_buyer", BOOL),
    Expect("result[].size", DECIMAL, check=positive),
    Expect("result[].price", DECIMAL, check=positive),
    Expect("result[].fee", DECIMAL, required=False),
    Expect("result[].event_time", DIGITS),
    Expect("result[].order_id", TEXT, required=False),
    Expect("result[].client_order_id", DIGITS, required=False),
    Expect("result[].is_liquidation", BOOL, required=False),
    Expect("next", TEXT, required=False),
)
LOGIN = (Expect("sub_account_id", DIGITS, required=False),)
FILL_ROWS = 100


async def check_grvt(connector: GrvtConnector, symbols: list[str], report: ConnectorReport) -> None:
    clock = DateClock()
    http = await connector._client()
    clock.attach(http)
    try:
        await _reads(connector, symbols, report)
    finally:
        clock.detach(http)
        report.clock = clock.reading


async def _reads(connector: GrvtConnector, symbols: list[str], report: ConnectorReport) -> None:
    async def login() -> dict[str, Any]:
        await connector._ensure_session()
        return {"sub_account_id": str(connector._sub_account_id) if connector._sub_account_id is not None else None}

    await report.read("login", "POST <edge>/auth/api_key/login", login, LOGIN,
                      detail="a session cookie for the API key")
    sub_account = await connector._sub_account()

    def trades(name: str, body: dict[str, Any]):
        return lambda: connector.with_read_retries(name, lambda: connector._trades(name, dict(body), name))

    def market_data(name: str, body: dict[str, Any]):
        return lambda: connector.with_read_retries(name, lambda: connector._market_data(name, dict(body), name))

    for symbol in symbols:
        document = await report.read(f"market {symbol}", "POST full/v1/instrument",
                                     market_data("instrument", {"instrument": symbol}), INSTRUMENT)
        if isinstance(document, dict) and not report.checks[-1].drifts:
            found = document["result"].get("instrument")
            if found != symbol:
                report.extend_last([Drift("result.instrument", f"the market asked for ({symbol})", describe(found))])
            else:
                rules = wire.instrument(document["result"]).rules()
                report.markets.append(MarketFacts(rules.symbol, rules.step_size, rules.tick_size, rules.min_size,
                                                  rules.min_notional))
        await report.read(f"book {symbol}", "POST full/v1/ticker", market_data("ticker", {"instrument": symbol}),
                          TICKER)

    account = {"sub_account_id": str(sub_account)}
    await report.read("account and balance", "POST full/v1/account_summary", trades("account_summary", account),
                      SUMMARY)
    await report.read("positions", "POST full/v1/positions",
                      trades("positions", {**account, "kind": ["PERPETUAL"]}), POSITIONS)
    await report.read("open orders", "POST full/v1/open_orders",
                      trades("open_orders", {**account, "kind": ["PERPETUAL"]}), OPEN_ORDERS)
    await report.read("fills", "POST full/v1/fill_history",
                      trades("fill_history", {**account, "kind": ["PERPETUAL"], "limit": FILL_ROWS}), FILLS)
    await _order_by_client_id(connector, account, report)


async def _order_by_client_id(connector: GrvtConnector, account: dict[str, str], report: ConnectorReport) -> None:
    """Orders are confirmed by client order id: an id the venue does not hold must answer 1004 (read as "no such
    order", which lets an order that never landed be proven absent)."""
    client_id = connector.client_id_range.low
    name, request = "order by client order id", f"POST full/v1/order (client_order_id {client_id})"
    try:
        document = await connector.with_read_retries("order", lambda: connector._trades(
            "order", {**account, "client_order_id": str(client_id)}, "order lookup"))
    except OrderNotFound:
        report.record(name, request, [], detail="an unknown client order id answers 1004 Data Not Found")
        return
    except VenueError as exc:
        if isinstance(exc, UNUSABLE_ERRORS):
            report.fail(name, request, exc)
        report.drift(name, request, "(answer)", "the order, or code 1004 for an unknown client order id",
                     describe(error_text(report.connector, exc)))
        return
    report.record(name, request, validate(document, ORDER))


