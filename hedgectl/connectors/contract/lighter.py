"""Lighter's contract: every read the connector relies on, through its own REST helper and the SDK's signer (auth
token, api key check), and the fields it reads from each answer (``connectors/lighter/wire.py``, ``connector.py``)."""

from __future__ import annotations

from typing import Any

from hedgectl.connectors.contract.clock import DateClock
from hedgectl.connectors.contract.report import UNUSABLE_ERRORS, ConnectorReport, MarketFacts, error_text
from hedgectl.connectors.contract.schema import (
    BOOL,
    DECIMAL,
    INT,
    INTEGER,
    OBJECT,
    TEXT,
    Drift,
    Expect,
    as_decimal,
    describe,
    int_between,
    not_negative,
    one_of,
    positive,
    validate,
)
from hedgectl.connectors.lighter.connector import LighterConnector
from hedgectl.connectors.lighter.reads import TRADES_PAGE, _market_from_detail
from hedgectl.connectors.lighter.wire import is_not_found
from hedgectl.errors import HedgectlError, VenueError

DECIMALS = int_between(0, 18)


def _nonzero_position(entry: dict[str, Any]) -> bool:
    size = as_decimal(entry.get("position"))
    return size is None or size != 0


MARKETS = (
    Expect("order_book_details[]", OBJECT),
    Expect("order_book_details[].symbol", TEXT),
    Expect("order_book_details[].market_id", INTEGER),
    Expect("order_book_details[].size_decimals", INTEGER, check=DECIMALS),
    Expect("order_book_details[].price_decimals", INTEGER, check=DECIMALS),
    # read only when a JSON integer: a string would be skipped silently and the step taken finer than allowed
    Expect("order_book_details[].supported_size_decimals", INT, required=False, check=DECIMALS),
    Expect("order_book_details[].supported_price_decimals", INT, required=False, check=DECIMALS),
    Expect("order_book_details[].min_base_amount", DECIMAL, check=not_negative),
    Expect("order_book_details[].min_quote_amount", DECIMAL, required=False, check=not_negative),
    Expect("order_book_details[].taker_fee", DECIMAL, required=False),
    Expect("order_book_details[].maker_fee", DECIMAL, required=False),
)
BOOK = (
    Expect("bids[]", OBJECT, required=False),
    Expect("bids[].price", DECIMAL),
    Expect("bids[].remaining_base_amount", DECIMAL),
    Expect("asks[]", OBJECT, required=False),
    Expect("asks[].price", DECIMAL),
    Expect("asks[].remaining_base_amount", DECIMAL),
)
ACCOUNT = (
    Expect("accounts[]", OBJECT),
)
DETAILED_ACCOUNT = (
    Expect("total_asset_value", DECIMAL),
    Expect("available_balance", DECIMAL),
    Expect("collateral", DECIMAL, required=False),
    Expect("positions[]", OBJECT),
    Expect("positions[].market_id", INTEGER),
    Expect("positions[].position", DECIMAL, check=not_negative),
    Expect("positions[].sign", INTEGER, check=one_of(1, -1), when=_nonzero_position),
    Expect("positions[].avg_entry_price", DECIMAL, required=False),
    Expect("positions[].position_value", DECIMAL, required=False),
    Expect("positions[].unrealized_pnl", DECIMAL, required=False),
    Expect("positions[].realized_pnl", DECIMAL, required=False),
    Expect("positions[].liquidation_price", DECIMAL, required=False),
    Expect("positions[].open_order_count", INTEGER, required=False),
)
API_KEYS = (
    Expect("api_keys[]", OBJECT),
    Expect("api_keys[].api_key_index", INT),
    Expect("api_keys[].public_key", TEXT),
)
NONCE = (Expect("nonce", INTEGER, check=not_negative),)
ORDERS = (
    Expect("orders[]", OBJECT),
    Expect("orders[].market_index", INTEGER),
    # the connector reads it leniently ("7" is 7); anything but a JSON integer is still reported as drift
    Expect("orders[].client_order_index", INT),
    Expect("orders[].order_index", INTEGER, required=False),
    Expect("orders[].status", TEXT),
    Expect("orders[].is_ask", BOOL),
    Expect("orders[].initial_base_amount", DECIMAL),
    Expect("orders[].filled_base_amount", DECIMAL),
    Expect("orders[].filled_quote_amount", DECIMAL, required=False),
    Expect("orders[].price", DECIMAL, required=False),
    Expect("orders[].reduce_only", BOOL, required=False),
)
ACTIVE_ORDERS = (Expect("orders[]", OBJECT, required=False), *ORDERS[1:])
TRADES = (
    Expect("trades[]", OBJECT),
    Expect("trades[].market_id", INTEGER),
    Expect("trades[].size", DECIMAL, check=positive),
    Expect("trades[].price", DECIMAL, check=positive),
    Expect("trades[].usd_amount", DECIMAL, required=False),
    # compared with == against the account index and our client order indexes
    Expect("trades[].bid_account_id", INT),
    Expect("trades[].ask_account_id", INT),
    Expect("trades[].bid_client_id", INT, required=False),
    Expect("trades[].ask_client_id", INT, required=False),
    Expect("trades[].is_maker_ask", BOOL, required=False),
    Expect("trades[].type", TEXT, required=False),
    Expect("trades[].timestamp", DECIMAL, check=positive),
    Expect("trades[].tx_hash", TEXT, required=False),
    Expect("next_cursor", TEXT, required=False),
)
TX = (
    Expect("status", INT),
    Expect("executed_at", INT, required=False),
    Expect("event_info", TEXT, required=False),
)
#: A transaction hash no transaction has: the venue must answer "not found", which hedgectl reads as absence.
UNKNOWN_TX_HASH = "0" * 80


async def check_lighter(connector: LighterConnector, symbols: list[str], report: ConnectorReport) -> None:
    clock = DateClock()
    http = connector._rest._http()
    clock.attach(http)
    try:
        await _reads(connector, symbols, report)
    finally:
        clock.detach(http)
        report.clock = clock.reading


async def _reads(connector: LighterConnector, symbols: list[str], report: ConnectorReport) -> None:
    rest = connector._rest
    account_index, key_index = connector.account_index, connector.api_key_index

    def read(endpoint: str, params: dict[str, Any]):
        return lambda: connector.with_read_retries(endpoint, lambda: rest.get(endpoint, params))

    def auth_read(endpoint: str, params: dict[str, Any]):
        return lambda: connector.with_read_retries(endpoint, lambda: connector._auth_get(endpoint, params))

    details = await report.read("markets", "GET /api/v1/orderBookDetails", read("orderBookDetails", {}), MARKETS)
    market_ids: dict[str, int] = {}
    if isinstance(details, dict) and not report.checks[-1].drifts:
        by_symbol = {row.get("symbol"): row for row in details.get("order_book_details") or []}
        missing = [symbol for symbol in symbols if symbol not in by_symbol]
        report.extend_last([Drift(f"order_book_details[symbol={symbol}]", "the configured market",
                                  "no such market") for symbol in missing])
        for symbol in symbols:
            if symbol in by_symbol:
                market = _market_from_detail(by_symbol[symbol])
                market_ids[symbol] = market.market_id
                report.markets.append(_facts(market.rules, by_symbol[symbol]))
    for symbol, market_id in market_ids.items():
        await report.read(f"book {symbol}", f"GET /api/v1/orderBookOrders?market_id={market_id}",
                          read("orderBookOrders", {"market_id": market_id, "limit": 1}), BOOK)

    document = await report.read("account", f"GET /api/v1/account?by=index&value={account_index}",
                                 read("account", {"by": "index", "value": account_index}), ACCOUNT)
    accounts = document.get("accounts") if isinstance(document, dict) else None
    if isinstance(accounts, list):
        if not accounts:
            report.checks[-1].error = f"account {account_index} not found"
            report.unusable = f"account: account {account_index} not found"
            return
        if isinstance(accounts[0], dict):
            report.extend_last(validate(accounts[0], DETAILED_ACCOUNT, root="accounts[0]"))
            report.checks[-1].detail = "positions, balance and open order counts"

    await report.read("api key", f"GET /api/v1/apikeys?account_index={account_index}&api_key_index={key_index}",
                      read("apikeys", {"account_index": account_index, "api_key_index": key_index}), API_KEYS)
    try:
        signer = await connector._ensure_signer()
        await signer.check_key(timeout=connector.timeout)
    except HedgectlError as exc:
        report.fail("api key registered", "the SDK signer's check_client", exc)
    else:
        report.record("api key registered", "the SDK signer's check_client", [],
                      detail=f"api key {key_index} is the one the venue holds")
    await report.read("nonce", f"GET /api/v1/nextNonce?account_index={account_index}&api_key_index={key_index}",
                      read("nextNonce", {"account_index": account_index, "api_key_index": key_index}), NONCE)

    trades = await report.read(
        "fills", f"GET /api/v1/trades?account_index={account_index} (auth)",
        auth_read("trades", {"account_index": account_index, "sort_by": "timestamp", "sort_dir": "desc",
                             "limit": TRADES_PAGE}), TRADES, detail="the account's trades, newest first")
    for symbol, market_id in market_ids.items():
        await report.read(f"open orders {symbol}", f"GET /api/v1/accountActiveOrders?market_id={market_id} (auth)",
                          auth_read("accountActiveOrders", {"account_index": account_index, "market_id": market_id}),
                          ACTIVE_ORDERS)
    rows = trades.get("trades") if isinstance(trades, dict) else None
    rows = rows if isinstance(rows, list) else []
    client_index = next((row.get(key) for row in rows if isinstance(row, dict)
                         for key in ("bid_client_id", "ask_client_id")
                         if isinstance(row.get(key), int) and row.get(key) > 0), connector.client_id_range.low)
    await report.read("order history", f"GET /api/v1/accountOrders?client_order_indexes={client_index} (auth)",
                      auth_read("accountOrders", {"account_index": account_index,
                                                  "client_order_indexes": str(client_index)}),
                      ORDERS, detail="orders by client order index, as every order is confirmed")
    tx_hash = next((row["tx_hash"] for row in rows if isinstance(row, dict) and isinstance(row.get("tx_hash"), str)
                    and row["tx_hash"]), None)
    await _transaction(connector, tx_hash, report)


async def _transaction(connector: LighterConnector, tx_hash: str | None, report: ConnectorReport) -> None:
    """An accepted order's transaction is asked by hash: the answer must be the transaction with an integer
    ``status``, or a clean "not found" (anything else is read as "not known yet", and a refusal would wait for the
    order timeout). A hash from the account's trades may be another account's transaction the venue does not serve,
    so "not found" holds for it too."""
    value = tx_hash or UNKNOWN_TX_HASH
    name = "transaction status" if tx_hash else "transaction status (unknown hash)"
    request = f"GET /api/v1/tx?by=hash&value={value[:16]}..."
    try:
        document = await connector.with_read_retries("tx", lambda: connector._rest.get(
            "tx", {"by": "hash", "value": value}))
    except VenueError as exc:
        if is_not_found(exc):
            report.record(name, request, [], detail="the hash answers 'not found'")
        elif isinstance(exc, UNUSABLE_ERRORS):
            report.fail(name, request, exc)
        else:
            report.drift(name, request, "(answer)", "the transaction, or a 'not found' refusal (HTTP 400/404 with a "
                         "code)", describe(error_text(report.connector, exc)))
        return
    if tx_hash is None:
        report.drift(name, request, "(answer)", "a 'not found' refusal for a hash no transaction has",
                     describe(document))
        return
    report.record(name, request, validate(document, TX))


def _facts(rules, detail: dict[str, Any]) -> MarketFacts:
    source = next((key for key in ("min_initial_margin_fraction", "default_initial_margin_fraction")
                   if (as_decimal(detail.get(key)) or 0) > 0), None)
    leverage = rules.max_leverage  # as the preflight reads it (10,000 / the margin fraction, whole)
    return MarketFacts(rules.symbol, rules.step_size, rules.tick_size, rules.min_size, rules.min_notional, leverage,
                       source)
