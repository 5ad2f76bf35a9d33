"""Paper GRVT's JSON answers about markets and accounts: tickers, positions and fills in the venue's shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import Fill, Side, TradeKind
from hedgectl.sim.grvt.accounts import GrvtKey
from hedgectl.sim.grvt.orders import OrderRecord
from hedgectl.sim.grvt.wire import NANOS_PER_MS, num_text, price_text, quote_text


def ticker_document(exchange: Exchange, symbol: str, now_ns: int, *, full: bool) -> dict[str, Any]:
    rules = exchange.rules[symbol]
    bids, asks = exchange.book(symbol, depth=1)
    trades = [trade for trade in exchange.trades if trade.symbol == symbol]
    mark = exchange.mark_price(symbol)
    last = trades[-1] if trades else None
    document = {
        "event_time": str(now_ns),
        "instrument": symbol,
        "mark_price": num_text(mark),
        "index_price": price_text(exchange.market.mid(rules.base)),
        "last_price": num_text(last.price if last else mark),
        "last_size": num_text(last.quantity if last else None),
        "mid_price": price_text((bids[0][0] + asks[0][0]) / 2),
        "best_bid_price": num_text(bids[0][0]),
        "best_bid_size": num_text(bids[0][1]),
        "best_ask_price": num_text(asks[0][0]),
        "best_ask_size": num_text(asks[0][1]),
    }
    if full:
        buys = [trade for trade in trades if trade.taker_side is Side.BUY]
        sells = [trade for trade in trades if trade.taker_side is Side.SELL]
        prices = [trade.price for trade in trades] or [mark]
        document.update({
            "funding_rate_8h_curr": "0.01",
            "funding_rate_8h_avg": "0.01",
            "interest_rate": "0.0",
            "forward_price": "0.0",
            "buy_volume_24h_b": num_text(sum((t.quantity for t in buys), Decimal(0))),
            "sell_volume_24h_b": num_text(sum((t.quantity for t in sells), Decimal(0))),
            "buy_volume_24h_q": quote_text(sum((t.quantity * t.price for t in buys), Decimal(0))),
            "sell_volume_24h_q": quote_text(sum((t.quantity * t.price for t in sells), Decimal(0))),
            "high_price": num_text(max(prices)),
            "low_price": num_text(min(prices)),
            "open_price": num_text(prices[0]),
            "open_interest": num_text(sum((abs(account.size(symbol)) for account in exchange.accounts.values()),
                                      Decimal(0))),
            "long_short_ratio": "1.0",
        })
    return document


def position_document(exchange: Exchange, key: GrvtKey, symbol: str, now_ns: int) -> dict[str, Any]:
    account = exchange.account(key.account)
    position = account.positions[symbol]
    mark = exchange.mark_price(symbol)
    unrealized = position.unrealized_pnl(mark)
    entry = position.entry_price
    liquidation = exchange.liquidation_price(key.account, symbol)
    leverage = 1 / exchange.initial_margin_fraction(account, symbol)
    roi = (unrealized + position.realized_pnl) / (entry * abs(position.size)) * 100 if entry else Decimal(0)
    return {
        "event_time": str(now_ns),
        "sub_account_id": str(key.sub_account_id),
        "instrument": symbol,
        "size": num_text(position.size),
        "notional": quote_text(position.size * mark),
        "entry_price": price_text(entry),
        "exit_price": "0.0",
        "mark_price": num_text(mark),
        "unrealized_pnl": quote_text(unrealized),
        "realized_pnl": quote_text(position.realized_pnl),
        "total_pnl": quote_text(unrealized + position.realized_pnl),
        "roi": num_text(roi.quantize(Decimal("0.0001"))),
        "quote_index_price": "1.0",
        "est_liquidation_price": price_text(liquidation),
        "leverage": num_text(leverage.quantize(Decimal("0.1"))),
        "cumulative_fee": quote_text(position.fees_paid),
        "cumulative_realized_funding_payment": "0.0",
        "margin_type": "CROSS",
    }


def fill_document(exchange: Exchange, key: GrvtKey, fill: Fill, record: OrderRecord | None) -> dict[str, Any]:
    mark = exchange.mark_price(fill.symbol)
    rules = exchange.rules[fill.symbol]
    return {
        "event_time": str(fill.timestamp_ms * NANOS_PER_MS),
        "sub_account_id": str(key.sub_account_id),
        "instrument": fill.symbol,
        "is_buyer": fill.side is Side.BUY,
        "is_taker": not fill.is_maker,
        "size": num_text(fill.quantity),
        "price": num_text(fill.price),
        "mark_price": num_text(mark),
        "index_price": num_text(mark),
        "interest_rate": "0.0",
        "forward_price": "0.0",
        "realized_pnl": "0.0",
        "fee": quote_text(fill.fee),
        "fee_rate": num_text(rules.maker_fee if fill.is_maker else rules.taker_fee),
        "trade_id": f"{fill.trade_id}-1",
        "order_id": record.order_id if record is not None else "0x00",
        "venue": "ORDERBOOK",
        "is_liquidation": fill.kind is TradeKind.LIQUIDATION,
        "client_order_id": record.client_order_id if record is not None else "0",
        "signer": key.address,
        "is_rpi": False,
    }
