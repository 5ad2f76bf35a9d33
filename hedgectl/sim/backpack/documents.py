"""Paper Backpack's JSON answers: markets, assets, tickers, orders, fills and positions in the venue's shapes."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from hedgectl.sim.backpack.wire import (
    EXPIRY_REASONS,
    SIDE_NAMES,
    STATUS_NAMES,
    TIME_IN_FORCE_NAMES,
    decimal_text,
    iso_time,
)
from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import CancelReason, Fill, Order, OrderStatus, OrderType, TradeKind
from hedgectl.sim.market import MarketRules

ASSETS = {
    "USDC": ("USD Coin", "usd-coin", "Solana"),
    "ETH": ("Ethereum", "ethereum", "Ethereum"),
    "BTC": ("Bitcoin", "bitcoin", "Bitcoin"),
    "SOL": ("Solana", "solana", "Solana"),
}


def assets_document() -> list[dict[str, Any]]:
    """The assets list: USDC and the bases of the paper markets."""
    return [
        {
            "symbol": symbol,
            "displayName": display,
            "coingeckoId": coingecko,
            "tokens": [{
                "displayName": display, "blockchain": chain, "contractAddress": None, "depositEnabled": True,
                "minimumDeposit": "0.0001", "withdrawEnabled": True, "minimumWithdrawal": "0.001",
                "maximumWithdrawal": None, "withdrawalFee": "0.001",
            }],
        }
        for symbol, (display, coingecko, chain) in ASSETS.items()
    ]


def market_document(rules: MarketRules) -> dict[str, Any]:
    return {
        "symbol": rules.symbol,
        "baseSymbol": rules.base,
        "quoteSymbol": "USDC",
        "marketType": "PERP",
        "orderBookState": "Open",
        "filters": {
            "price": {"minPrice": decimal_text(rules.tick_size), "maxPrice": decimal_text(rules.max_price),
                      "tickSize": decimal_text(rules.tick_size)},
            "quantity": {"minQuantity": decimal_text(rules.min_quantity), "maxQuantity": None,
                         "stepSize": decimal_text(rules.step_size)},
        },
        "imfFunction": {"type": "sqrt", "base": decimal_text(rules.initial_margin_fraction), "factor": "0"},
        "mmfFunction": {"type": "sqrt", "base": decimal_text(rules.maintenance_margin_fraction), "factor": "0"},
        "fundingInterval": 3600000,
        "createdAt": "2024-01-01T00:00:00",
    }


def ticker_document(exchange: Exchange, symbol: str) -> dict[str, Any]:
    trades = [trade for trade in exchange.trades if trade.symbol == symbol]
    last = trades[-1].price if trades else exchange.mark_price(symbol)
    first = trades[0].price if trades else last
    volume = sum((trade.quantity for trade in trades), Decimal(0))
    quote_volume = sum((trade.quantity * trade.price for trade in trades), Decimal(0))
    change = last - first
    return {
        "symbol": symbol,
        "firstPrice": decimal_text(first),
        "lastPrice": decimal_text(last),
        "priceChange": decimal_text(change),
        "priceChangePercent": decimal_text((change / first).quantize(Decimal("0.000001")) if first else Decimal(0)),
        "high": decimal_text(max((trade.price for trade in trades), default=last)),
        "low": decimal_text(min((trade.price for trade in trades), default=last)),
        "volume": decimal_text(volume),
        "quoteVolume": decimal_text(quote_volume.quantize(Decimal("0.01"))),
        "trades": str(len(trades)),
    }


def order_document(order: Order) -> dict[str, Any]:
    """An engine order in Backpack's order shape."""
    status = STATUS_NAMES.get(order.status)
    if status is None:
        status = "Cancelled" if order.cancel_reason is CancelReason.USER else "Expired"
    document = {
        "id": str(order.order_id),
        "clientId": order.client_id,
        "symbol": order.symbol,
        "side": SIDE_NAMES[order.side],
        "orderType": "Market" if order.order_type is OrderType.MARKET else "Limit",
        "quantity": decimal_text(order.quantity) if order.quote_quantity is None else None,
        "quoteQuantity": decimal_text(order.quote_quantity),
        "executedQuantity": decimal_text(order.executed_quantity),
        "executedQuoteQuantity": decimal_text(order.executed_quote),
        "status": status,
        "timeInForce": TIME_IN_FORCE_NAMES[order.time_in_force],
        "selfTradePrevention": order.extra.get("selfTradePrevention", "RejectTaker"),
        "reduceOnly": order.reduce_only,
        "createdAt": order.created_ms,
        "triggerPrice": None,
        "relatedOrderId": None,
    }
    if order.order_type is OrderType.LIMIT:
        document["price"] = decimal_text(order.price)
        document["postOnly"] = order.post_only
    if order.status is OrderStatus.CANCELLED and order.cancel_reason is not CancelReason.USER:
        document["expiryReason"] = EXPIRY_REASONS.get(order.cancel_reason)
    return document


def fill_document(fill: Fill) -> dict[str, Any]:
    return {
        "tradeId": fill.trade_id,
        "orderId": str(fill.order_id) if fill.order_id is not None else None,
        "clientId": str(fill.client_id) if fill.client_id is not None else None,
        "symbol": fill.symbol,
        "side": SIDE_NAMES[fill.side],
        "price": decimal_text(fill.price),
        "quantity": decimal_text(fill.quantity),
        "fee": decimal_text(fill.fee),
        "feeSymbol": "USDC",
        "isMaker": fill.is_maker,
        "systemOrderType": "LiquidatePositionOnBook" if fill.kind is TradeKind.LIQUIDATION else None,
        "timestamp": iso_time(fill.timestamp_ms),
    }


def position_document(exchange: Exchange, account: str, symbol: str) -> dict[str, Any]:
    position = exchange.account(account).positions[symbol]
    rules = exchange.rules[symbol]
    mark = exchange.mark_price(symbol)
    size = position.size
    entry = position.entry_price.quantize(rules.tick_size) if size else Decimal(0)
    break_even = (position.entry_price + position.fees_paid / size).quantize(rules.tick_size) if size else Decimal(0)
    liquidation = exchange.liquidation_price(account, symbol)
    return {
        "positionId": str(zlib.crc32(f"{account}:{symbol}".encode())),
        "subaccountId": None,
        "symbol": symbol,
        "netQuantity": decimal_text(size),
        "netExposureQuantity": decimal_text(abs(size)),
        "netExposureNotional": decimal_text((abs(size) * mark).quantize(Decimal("0.01"))),
        "netCost": decimal_text((size * position.entry_price).quantize(Decimal("0.0001"))),
        "entryPrice": decimal_text(entry),
        "breakEvenPrice": decimal_text(break_even),
        "markPrice": decimal_text(mark),
        "estLiquidationPrice": decimal_text(liquidation if liquidation is not None else Decimal(0)),
        "pnlRealized": decimal_text(position.realized_pnl.quantize(Decimal("0.0001"))),
        "pnlUnrealized": decimal_text(position.unrealized_pnl(mark).quantize(Decimal("0.0001"))),
        "cumulativeFundingPayment": "0",
        "cumulativeInterest": "0",
        "imf": decimal_text(exchange.initial_margin_fraction(exchange.account(account), symbol)),
        "mmf": decimal_text(rules.maintenance_margin_fraction),
    }
