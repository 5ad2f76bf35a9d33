"""The shared market and the venue-neutral matching engine: rules, book walking, bounds, margin, liquidation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import (
    CancelReason,
    OrderRejected,
    OrderStatus,
    OrderType,
    RuleViolation,
    Side,
    TimeInForce,
    TradeKind,
)
from hedgectl.sim.exchange.state import accounts_snapshot, restore_accounts
from hedgectl.sim.market import BACKPACK_RULES, LIGHTER_RULES, Market

ETH = "ETH_USDC_PERP"


@pytest.fixture
def market() -> Market:
    return Market(seed=7)


@pytest.fixture
def exchange(market: Market) -> Exchange:
    venue = Exchange(market, "backpack", BACKPACK_RULES)
    venue.open_account("alice", D("10000"))
    venue.open_account("bob", D("10000"))
    return venue


def test_random_walk_is_deterministic_for_a_seed_and_differs_between_seeds() -> None:
    first, second, other = Market(seed=42), Market(seed=42), Market(seed=43)
    for walk in (first, second, other):
        walk.advance(25)
    assert first.mids == second.mids
    assert first.mids != other.mids
    assert first.mids != Market(seed=42).mids


def test_venue_rules_differ_so_quantization_matters() -> None:
    backpack, lighter = BACKPACK_RULES[ETH], LIGHTER_RULES["ETH"]
    assert (backpack.step_size, backpack.tick_size) == (D("0.0001"), D("0.01"))
    assert (lighter.size_decimals, lighter.price_decimals) == (4, 2)
    assert backpack.min_quantity != lighter.min_quantity
    assert [LIGHTER_RULES[name].market_id for name in ("ETH", "BTC", "SOL")] == [0, 1, 2]
    assert LIGHTER_RULES["SOL"].size_decimals != BACKPACK_RULES["SOL_USDC_PERP"].size_decimals


def test_book_has_several_levels_each_side_around_mid_plus_basis(market: Market) -> None:
    venue = Exchange(market, "lighter", LIGHTER_RULES, basis={"ETH": D("0.001")})
    bids, asks = venue.book("ETH")
    assert len(bids) >= 5 and len(asks) >= 5
    reference = market.mid("ETH") * D("1.001")
    assert bids[0][0] < reference < asks[0][0]
    assert [price for price, _ in bids] == sorted((price for price, _ in bids), reverse=True)
    assert all(price % D("0.01") == 0 for price, _ in bids + asks)


def test_market_order_walks_the_book_so_size_moves_the_average_price(exchange: Exchange) -> None:
    _, asks = exchange.book(ETH)
    small = exchange.submit_order("alice", ETH, Side.BUY, D("0.5"))
    large = exchange.submit_order("bob", ETH, Side.BUY, D("6"))
    assert small.status is OrderStatus.FILLED and large.status is OrderStatus.FILLED
    assert small.average_price == asks[0][0]
    assert large.average_price > asks[0][0]
    assert len(large.trade_ids) > 1
    assert exchange.accounts["bob"].size(ETH) == D("6")


@pytest.mark.parametrize(
    ("quantity", "violation"),
    [
        (D("0.30000000000000004"), RuleViolation.QUANTITY_PRECISION),
        (D("0.0005"), RuleViolation.QUANTITY_BELOW_MINIMUM),
        (D("0"), RuleViolation.QUANTITY_NOT_POSITIVE),
    ],
)
def test_orders_breaking_market_rules_are_rejected_without_a_record(
    exchange: Exchange, quantity: D, violation: RuleViolation
) -> None:
    with pytest.raises(OrderRejected) as caught:
        exchange.submit_order("alice", ETH, Side.BUY, quantity)
    assert caught.value.violation is violation
    assert exchange.orders == []


def test_limit_price_off_tick_is_rejected(exchange: Exchange) -> None:
    with pytest.raises(OrderRejected) as caught:
        exchange.submit_order("alice", ETH, Side.BUY, D("0.01"), order_type=OrderType.LIMIT, price=D("3000.005"))
    assert caught.value.violation is RuleViolation.PRICE_PRECISION


def test_worst_price_bound_cancels_what_would_fill_beyond_it(exchange: Exchange) -> None:
    _, asks = exchange.book(ETH)
    order = exchange.submit_order("alice", ETH, Side.BUY, D("5"), worst_price=asks[0][0])
    assert order.executed_quantity == asks[0][1]
    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason is CancelReason.SLIPPAGE
    assert exchange.accounts["alice"].size(ETH) == asks[0][1]


def test_market_order_larger_than_the_book_fills_the_book_and_cancels_the_rest(market: Market) -> None:
    venue = Exchange(market, "backpack", BACKPACK_RULES)
    venue.open_account("whale", D("100000000"))
    depth = sum(size for _, size in venue.book(ETH)[1])
    order = venue.submit_order("whale", ETH, Side.BUY, depth + D("1"))
    assert order.executed_quantity == depth
    assert order.cancel_reason is CancelReason.INSUFFICIENT_LIQUIDITY


def test_limit_order_rests_and_fills_when_the_market_crosses_it(exchange: Exchange, market: Market) -> None:
    bids, _ = exchange.book(ETH)
    price = (bids[0][0] * D("0.99")).quantize(D("0.01"))
    order = exchange.submit_order("alice", ETH, Side.BUY, D("0.2"), order_type=OrderType.LIMIT, price=price,
                                  client_id=5)
    assert order.status is OrderStatus.NEW
    assert exchange.resting_orders(ETH, "alice") == [order]
    market.shock(D("-2"))
    assert order.status is OrderStatus.FILLED
    assert order.average_price == price
    assert exchange.fills[-1].is_maker
    assert exchange.accounts["alice"].size(ETH) == D("0.2")


def test_crossing_limit_order_takes_liquidity_and_rests_the_remainder(exchange: Exchange) -> None:
    _, asks = exchange.book(ETH)
    order = exchange.submit_order("alice", ETH, Side.BUY, asks[0][1] + D("1"), order_type=OrderType.LIMIT,
                                  price=asks[0][0])
    assert order.executed_quantity == asks[0][1]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order in exchange.resting_orders(ETH)


def test_post_only_order_that_would_take_is_cancelled(exchange: Exchange) -> None:
    _, asks = exchange.book(ETH)
    order = exchange.submit_order("alice", ETH, Side.BUY, D("0.1"), order_type=OrderType.LIMIT, price=asks[0][0],
                                  post_only=True)
    assert order.status is OrderStatus.CANCELLED and order.cancel_reason is CancelReason.POST_ONLY_TAKER
    assert order.executed_quantity == 0


def test_reduce_only_without_a_position_is_cancelled_and_never_opens_one(exchange: Exchange) -> None:
    order = exchange.submit_order("alice", ETH, Side.SELL, D("0.1"), reduce_only=True)
    assert order.cancel_reason is CancelReason.REDUCE_ONLY
    assert exchange.accounts["alice"].size(ETH) == 0


def test_reduce_only_larger_than_the_position_closes_it_without_flipping(exchange: Exchange) -> None:
    exchange.submit_order("alice", ETH, Side.BUY, D("0.3"))
    order = exchange.submit_order("alice", ETH, Side.SELL, D("1"), reduce_only=True)
    assert order.executed_quantity == D("0.3")
    assert exchange.accounts["alice"].size(ETH) == 0


def test_order_beyond_available_margin_is_rejected(exchange: Exchange) -> None:
    # 10000 USDC at 2% initial margin carries about 500000 notional; 200 ETH at ~3500 is 700000.
    order = exchange.submit_order("alice", ETH, Side.BUY, D("200"))
    assert order.cancel_reason is CancelReason.INSUFFICIENT_MARGIN
    assert order.executed_quantity == 0
    exchange.set_leverage("alice", ETH, D("2"))
    assert exchange.submit_order("alice", ETH, Side.BUY, D("6")).cancel_reason is CancelReason.INSUFFICIENT_MARGIN
    assert exchange.submit_order("alice", ETH, Side.BUY, D("2")).status is OrderStatus.FILLED


def test_fees_and_realised_pnl_move_collateral(exchange: Exchange, market: Market) -> None:
    opened = exchange.submit_order("alice", ETH, Side.BUY, D("1"))
    market.shock(D("10"))
    closed = exchange.submit_order("alice", ETH, Side.SELL, D("1"))
    position = exchange.accounts["alice"].positions[ETH]
    expected_pnl = closed.average_price - opened.average_price
    assert position.realized_pnl == expected_pnl
    assert opened.fees == (opened.executed_quote * D("0.0005")).quantize(D("0.000001"))
    assert exchange.accounts["alice"].collateral == D("10000") + expected_pnl - opened.fees - closed.fees


def test_account_under_maintenance_margin_is_liquidated_by_a_liquidation_trade(market: Market) -> None:
    venue = Exchange(market, "lighter", LIGHTER_RULES)
    venue.open_account("lighter2", D("1000"))
    venue.submit_order("lighter2", "ETH", Side.SELL, D("5"))
    liquidation_price = venue.liquidation_price("lighter2", "ETH")
    assert liquidation_price > market.mid("ETH")
    market.set_mid("ETH", liquidation_price * D("1.01"))
    assert venue.accounts["lighter2"].size("ETH") == 0
    assert venue.trades[-1].kind is TradeKind.LIQUIDATION
    assert venue.fills[-1].kind is TradeKind.LIQUIDATION and venue.fills[-1].side is Side.BUY


def test_forced_liquidation_closes_every_position_and_cancels_orders(exchange: Exchange) -> None:
    exchange.submit_order("alice", ETH, Side.BUY, D("1"))
    bids, _ = exchange.book(ETH)
    resting = exchange.submit_order("alice", ETH, Side.BUY, D("0.1"), order_type=OrderType.LIMIT,
                                    price=(bids[-1][0] - 10))
    exchange.liquidate("alice")
    assert exchange.accounts["alice"].size(ETH) == 0
    assert resting.cancel_reason is CancelReason.LIQUIDATION


def test_partial_fill_fraction_fills_part_of_a_market_order_and_cancels_the_rest(exchange: Exchange) -> None:
    order = exchange.submit_order("alice", ETH, Side.BUY, D("0.0101"), fill_fraction=D("0.5"))
    assert order.executed_quantity == D("0.005")
    assert order.status is OrderStatus.CANCELLED


def test_fill_or_kill_that_cannot_fill_completely_does_not_fill_at_all(exchange: Exchange) -> None:
    _, asks = exchange.book(ETH)
    order = exchange.submit_order("alice", ETH, Side.BUY, asks[0][1] + 1, order_type=OrderType.LIMIT,
                                  price=asks[0][0], time_in_force=TimeInForce.FOK)
    assert order.executed_quantity == 0 and order.cancel_reason is CancelReason.FILL_OR_KILL


def test_accounts_trade_against_each_others_resting_orders(exchange: Exchange) -> None:
    _, asks = exchange.book(ETH)
    price = asks[0][0] - D("0.05")
    maker = exchange.submit_order("bob", ETH, Side.SELL, D("0.4"), order_type=OrderType.LIMIT, price=price)
    taker = exchange.submit_order("alice", ETH, Side.BUY, D("0.4"))
    assert maker.status is OrderStatus.FILLED and taker.average_price == price
    assert exchange.trades[-1].buyer == "alice" and exchange.trades[-1].seller == "bob"
    assert exchange.accounts["bob"].size(ETH) == D("-0.4")


def test_quote_quantity_market_order_spends_at_most_the_quote(exchange: Exchange) -> None:
    order = exchange.submit_order("alice", ETH, Side.BUY, None, quote_quantity=D("100"))
    assert D("0") < order.executed_quote <= D("100")
    assert order.executed_quantity % D("0.0001") == 0


def test_audit_reports_a_client_order_id_executed_twice(exchange: Exchange) -> None:
    exchange.submit_order("alice", ETH, Side.BUY, D("0.01"), client_id=9)
    assert exchange.audit() == []
    exchange.submit_order("alice", ETH, Side.BUY, D("0.01"), client_id=9)
    assert exchange.audit() == ["alice: client order id 9 executed 2 times"]


def test_accounts_snapshot_restores_positions_and_collateral(exchange: Exchange, market: Market) -> None:
    exchange.submit_order("alice", ETH, Side.SELL, D("0.25"))
    snapshot = accounts_snapshot(exchange)
    fresh = Exchange(market, "backpack", BACKPACK_RULES)
    restore_accounts(fresh, snapshot)
    assert fresh.accounts["alice"].size(ETH) == D("-0.25")
    assert fresh.accounts["alice"].collateral == exchange.accounts["alice"].collateral
    assert fresh.accounts["alice"].positions[ETH].entry_price == exchange.accounts["alice"].positions[ETH].entry_price
