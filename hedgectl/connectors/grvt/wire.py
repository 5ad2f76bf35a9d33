"""GRVT's wire formats: the hosts of each environment, error bodies mapped into hedgectl's exception tree, and venue
documents (instruments, orders, positions, account summary, fills, tickers) parsed into the connector's data types.

Importing this module imports neither eth-account nor aiohttp: read-only commands parse GRVT answers with it alone.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import Balance, Fill, MarketRules, OrderReport, Position, TopOfBook
from hedgectl.connectors.fields import decimal_field
from hedgectl.decimals import ZERO, to_decimal
from hedgectl.errors import (
    AuthError,
    BelowMinimumSize,
    ConfigError,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    VenueError,
    VenueProtocolError,
    VenueUnavailable,
)
from hedgectl.model.client_ids import ClientIdRange
from hedgectl.model.orders import Side

VENUE = "grvt"
NANOS_PER_SECOND = 1_000_000_000

#: Client order ids in [2^63, 2^64-1]: the venue asks API clients to stay out of the web UI's [0, 2^63-1].
GRVT_RANGE = ClientIdRange(low=2**63, high=2**64 - 1, units_per_second=1000, fan_out=64)

DONE_STATUSES = frozenset({"FILLED", "CANCELLED", "REJECTED"})


@dataclass(frozen=True)
class Environment:
    """One GRVT environment: its name, chain id and the hosts of its three services."""

    name: str
    chain_id: int
    edge: str
    trades: str
    market_data: str


def _grvt_hosts(name: str, domain: str, chain_id: int) -> Environment:
    return Environment(name, chain_id, f"https://edge.{domain}", f"https://trades.{domain}",
                       f"https://market-data.{domain}")


ENVIRONMENTS: dict[str, Environment] = {
    "prod": _grvt_hosts("prod", "grvt.io", 325),
    "testnet": _grvt_hosts("testnet", "testnet.grvt.io", 326),
    "staging": _grvt_hosts("staging", "staging.gravitymarkets.io", 327),
    "dev": _grvt_hosts("dev", "dev.gravitymarkets.io", 327),
}


@dataclass(frozen=True)
class Hosts:
    """Where the connector sends each family of requests."""

    edge: str
    trades: str
    market_data: str


def resolve_hosts(base_url: str, environment: str, *, edge_url: str | None = None,
                  market_data_url: str | None = None) -> Hosts:
    """The three hosts of a connector: ``base_url`` is the trading host.

    When ``base_url`` is a known GRVT trading host, the other two follow its environment (the prod default gives way
    to another ``environment``); any other URL (a paper venue, a proxy) serves all three unless overridden.
    Raises ConfigError when ``base_url`` names one GRVT environment and ``environment`` another.
    """
    chosen = ENVIRONMENTS[environment]
    known = next((env for env in ENVIRONMENTS.values() if _same_origin(env.trades, base_url)), None)
    if known is not None:
        if known.name != environment and known.name != "prod":
            raise ConfigError(f"base_url {base_url} is GRVT {known.name}, but environment is {environment}")
        return Hosts(edge_url or chosen.edge, chosen.trades, market_data_url or chosen.market_data)
    return Hosts(edge_url or base_url, base_url, market_data_url or base_url)


def stream_url(trades_url: str) -> str:
    """The account streams beside the trading host: ``https://host`` serves ``wss://host/ws/full``."""
    parts = urllib.parse.urlsplit(trades_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws/full"


def _same_origin(left: str, right: str) -> bool:
    a, b = urllib.parse.urlparse(left), urllib.parse.urlparse(right)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


# --- errors -----------------------------------------------------------------------------------------------------

AUTH_CODES = frozenset({1000, 1001, 1008, 1012, 1400}) | frozenset(range(2000, 2009))
UNAVAILABLE_CODES = frozenset({1002, 1005, 1009})
RATE_LIMIT_CODES = frozenset({1006})
NOT_FOUND_CODES = frozenset({1004})
MARGIN_CODES = frozenset({2080})
BELOW_MINIMUM_CODES = frozenset({2062, 2063})

#: Reject reasons of an order the matching engine refused, and the error each stands for.
REJECT_REASON_ERRORS: dict[str, type[VenueError]] = {
    "BELOW_MARGIN": InsufficientMargin,
    "UNAUTHORISED": AuthError,
    "SESSION_KEY_EXPIRED": AuthError,
    "NO_TRADE_PERMISSION": AuthError,
    "SUB_ACCOUNT_NOT_FOUND": AuthError,
}


def error_body(text: str) -> tuple[int | None, str]:
    """The ``(code, message)`` of an answer body; plain text gives ``(None, text)``."""
    try:
        document = json.loads(text)
    except ValueError:
        return None, text.strip()[:300]
    if not isinstance(document, dict):
        return None, text.strip()[:300]
    code = document.get("code")
    message = str(document.get("message") or text.strip()[:300])
    try:
        return (int(code) if code is not None else None), message
    except (TypeError, ValueError):
        return None, message


def error_for(status: int, code: int | None, message: str, *, connector: str | None = None) -> VenueError:
    """The exception for a GRVT error, chosen by its code first and its HTTP status second."""
    where = dict(venue=VENUE, connector=connector, code=code, status=status)
    described = message or f"HTTP {status}"
    if code in RATE_LIMIT_CODES or (code is None and status == 429):
        return RateLimited(described, **where)
    if code in AUTH_CODES:
        return AuthError(described, **where)
    if code in UNAVAILABLE_CODES:
        return VenueUnavailable(described, **where)
    if code in NOT_FOUND_CODES:
        return OrderNotFound(described, **where)
    if code in MARGIN_CODES:
        return InsufficientMargin(described, **where)
    if code in BELOW_MINIMUM_CODES:
        return BelowMinimumSize(described, **where)
    if code is not None and 1000 < code < 8000 and status < 500:
        return InvalidOrder(described, **where)
    if status >= 500:
        return VenueUnavailable(described, **where)
    if status in (401, 403):
        return AuthError(described, **where)
    if 400 <= status < 500:
        return InvalidOrder(described, **where)
    return VenueProtocolError(f"unexpected answer: {described}", **where)


def error_from_response(status: int, text: str, *, connector: str | None = None) -> VenueError:
    code, message = error_body(text)
    return error_for(status, code, message, connector=connector)


def embedded_error(document: Any, status: int, *, connector: str | None = None) -> VenueError | None:
    """A 2xx answer whose body carries a non-zero ``code`` is an error (the venue's SDK reads it so too)."""
    if isinstance(document, dict) and document.get("code") and "result" not in document:
        code, message = error_body(json.dumps(document))
        return error_for(int(document.get("status") or status), code, message, connector=connector)
    return None


def result(document: Any, kind: type, what: str) -> Any:
    """``document["result"]`` checked to be a ``kind``; VenueProtocolError otherwise."""
    if not isinstance(document, dict) or "result" not in document:
        raise VenueProtocolError(f"{what}: answer has no result", venue=VENUE)
    value = document["result"]
    if not isinstance(value, kind):
        raise VenueProtocolError(f"{what}: expected a JSON {kind.__name__} result, got {type(value).__name__}",
                                 venue=VENUE)
    return value


# --- documents ----------------------------------------------------------------------------------------------------


def _decimal(document: dict[str, Any], key: str, *, default: Decimal | None = None) -> Decimal | None:
    return decimal_field(document, key, venue=VENUE, default=default)


def _required(document: dict[str, Any], key: str) -> Decimal:
    return decimal_field(document, key, venue=VENUE, required=True)


def _first(values: Any, what: str) -> Decimal:
    """The first leg's value of a per-leg list (``traded_size``, ``avg_fill_price``)."""
    if not isinstance(values, list) or not values:
        return ZERO
    try:
        return to_decimal(values[0], what=what)
    except ValueError as exc:
        raise VenueProtocolError(f"{what}: {exc}", venue=VENUE) from None


def seconds(nanos: Any) -> float | None:
    try:
        return int(str(nanos)) / NANOS_PER_SECOND
    except ValueError:
        return None


def nanos(seconds_value: float) -> int:
    return int(seconds_value * NANOS_PER_SECOND)


@dataclass(frozen=True)
class Instrument:
    """A GRVT instrument: the rules orders obey and what signing needs (asset id, base decimals)."""

    symbol: str
    base: str
    quote: str
    asset_id: str
    base_decimals: int
    tick_size: Decimal
    min_size: Decimal
    min_notional: Decimal = ZERO

    def rules(self) -> MarketRules:
        # The venue refuses sizes off a multiple of the minimum ("order size too granular"), so the step is min_size.
        return MarketRules(
            symbol=self.symbol,
            base_asset=self.base,
            step_size=self.min_size,
            tick_size=self.tick_size,
            min_size=self.min_size,
            min_notional=self.min_notional,
        )


def instrument(document: Any) -> Instrument:
    if not isinstance(document, dict):
        raise VenueProtocolError("instrument: expected a JSON object", venue=VENUE)
    tick = _required(document, "tick_size")
    minimum = _required(document, "min_size")
    if tick <= 0 or minimum <= 0:
        raise VenueProtocolError(f"{document.get('instrument')}: tick {tick} / min size {minimum} must be positive",
                                 venue=VENUE)
    asset_id = str(document.get("instrument_hash") or "")
    try:
        int(asset_id, 16)
        base_decimals = int(document["base_decimals"])
    except (KeyError, TypeError, ValueError):
        raise VenueProtocolError(f"{document.get('instrument')}: bad instrument_hash or base_decimals",
                                 venue=VENUE) from None
    return Instrument(
        symbol=str(document.get("instrument")),
        base=str(document.get("base")),
        quote=str(document.get("quote")),
        asset_id=asset_id,
        base_decimals=base_decimals,
        tick_size=tick,
        min_size=minimum,
        min_notional=_decimal(document, "min_notional", default=ZERO),
    )


def _leg(order: dict[str, Any]) -> dict[str, Any]:
    legs = order.get("legs")
    if not isinstance(legs, list) or not legs or not isinstance(legs[0], dict):
        raise VenueProtocolError("order without legs", venue=VENUE)
    return legs[0]


def _client_order_index(order: dict[str, Any]) -> int | None:
    metadata = order.get("metadata") or {}
    text = str(metadata.get("client_order_id") or "")
    return int(text) if text.isdigit() else None


def order_status(order: dict[str, Any]) -> tuple[str, str]:
    """``(status, reject_reason)`` of an order document; an order without state is PENDING."""
    state = order.get("state") or {}
    return str(state.get("status") or "PENDING"), str(state.get("reject_reason") or "UNSPECIFIED")


def order_report(order: Any) -> OrderReport:
    """An order document (create answer, open order, order lookup) as an OrderReport."""
    if not isinstance(order, dict):
        raise VenueProtocolError("order: expected a JSON object", venue=VENUE)
    leg = _leg(order)
    state = order.get("state") or {}
    status, reason = order_status(order)
    filled = _first(state.get("traded_size"), "traded_size")
    average = _first(state.get("avg_fill_price"), "avg_fill_price")
    order_id = order.get("order_id")
    metadata = order.get("metadata") or {}
    return OrderReport(
        client_order_index=_client_order_index(order),
        venue_order_id=str(order_id) if order_id not in (None, "", "0x00", "0x0") else None,
        symbol=str(leg.get("instrument")),
        side=Side.BUY if leg.get("is_buying_asset") else Side.SELL,
        size=_required(leg, "size"),
        filled_size=filled,
        done=status in DONE_STATUSES,
        status=status if reason == "UNSPECIFIED" else f"{status}:{reason}",
        average_price=average if filled and average else None,
        price=_decimal(leg, "limit_price") or None,
        reduce_only=bool(order.get("reduce_only")),
        created_at=seconds(metadata.get("create_time")),
    )


def reject_error(order: dict[str, Any], *, connector: str | None = None) -> VenueError | None:
    """The error a REJECTED order stands for (None for any other status)."""
    status, reason = order_status(order)
    if status != "REJECTED":
        return None
    error_class = REJECT_REASON_ERRORS.get(reason, InvalidOrder)
    return error_class(f"order rejected: {reason}", venue=VENUE, connector=connector, code=reason)


def position(document: Any, *, connector: str) -> Position:
    """A ``positions`` row; ``size`` is signed (negative = short)."""
    if not isinstance(document, dict):
        raise VenueProtocolError("position: expected a JSON object", venue=VENUE)
    liquidation = _decimal(document, "est_liquidation_price")
    return Position(
        connector=connector,
        venue=VENUE,
        symbol=str(document.get("instrument")),
        signed_size=_required(document, "size"),
        entry_price=_decimal(document, "entry_price"),
        mark_price=_decimal(document, "mark_price"),
        unrealized_pnl=_decimal(document, "unrealized_pnl"),
        realized_pnl=_decimal(document, "realized_pnl"),
        liquidation_price=liquidation if liquidation else None,
    )


def balance(document: Any, *, connector: str) -> Balance:
    """``account_summary``: total equity, what is available for new orders, and the settle-currency balance."""
    if not isinstance(document, dict):
        raise VenueProtocolError("account summary: expected a JSON object", venue=VENUE)
    settle = str(document.get("settle_currency") or "USDT")
    spot = [row for row in document.get("spot_balances") or [] if isinstance(row, dict)]
    collateral = next((_decimal(row, "balance") for row in spot if row.get("currency") == settle), None)
    return Balance(
        connector=connector,
        venue=VENUE,
        asset=settle,
        equity=_required(document, "total_equity"),
        available=_required(document, "available_balance"),
        collateral=collateral,
    )


def fill(document: Any) -> Fill:
    """A ``fill_history`` row; liquidation fills carry ``is_liquidation``."""
    if not isinstance(document, dict):
        raise VenueProtocolError("fill: expected a JSON object", venue=VENUE)
    client_order_id = str(document.get("client_order_id") or "")
    order_id = document.get("order_id")
    return Fill(
        symbol=str(document.get("instrument")),
        side=Side.BUY if document.get("is_buyer") else Side.SELL,
        size=_required(document, "size"),
        price=_required(document, "price"),
        fee=_decimal(document, "fee", default=ZERO),
        kind="liquidation" if document.get("is_liquidation") else "trade",
        at=seconds(document.get("event_time")) or 0.0,
        order_id=str(order_id) if order_id not in (None, "", "0x00") else None,
        client_order_index=int(client_order_id) if client_order_id.isdigit() and client_order_id != "0" else None,
    )


def top_of_book(document: Any) -> TopOfBook:
    """A ``ticker`` result: best bid and ask with their sizes, and the mark price."""
    if not isinstance(document, dict):
        raise VenueProtocolError("ticker: expected a JSON object", venue=VENUE)

    def price(key: str) -> Decimal | None:
        value = _decimal(document, key)
        return value if value else None

    return TopOfBook(
        symbol=str(document.get("instrument")),
        bid=price("best_bid_price"),
        bid_size=price("best_bid_size"),
        ask=price("best_ask_price"),
        ask_size=price("best_ask_size"),
        mark=price("mark_price"),
    )
