"""``hedgectl order`` against paper venues: what reaches the venue, confirmation, and the venue's answer."""

from __future__ import annotations

from decimal import Decimal

import pytest


def test_market_order_fills_and_reports_the_venues_result(desk):
    code, document = desk.run_json("order", "market", "backpack", "--side", "sell", "--size", "0.02", "--yes")

    assert code == 0
    assert document["state"] == "filled"
    assert document["filled_size"] == "0.02"
    assert document["side"] == "sell"
    assert Decimal(document["average_price"]) > 0
    assert desk.position("backpack") == Decimal("-0.02")
    (recorded,) = desk.orders("backpack")
    assert recorded["client_id"] == document["client_order_index"]


def test_a_float_like_size_goes_out_quantized_to_the_step(desk):
    code, document = desk.run_json(
        "order", "market", "lighter1", "--side", "buy", "--size", "0.30000000000000004", "--yes"
    )

    assert code == 0
    assert document["size"] == "0.3"
    assert desk.position("lighter1") == Decimal("0.3")
    (recorded,) = desk.orders("lighter1")
    assert Decimal(recorded["quantity"]) == Decimal("0.3")


def test_reduce_only_market_order_that_would_open_is_refused_with_exit_1(desk):
    code, document = desk.run_json(
        "order", "market", "backpack", "--side", "buy", "--size", "0.01", "--reduce-only", "--yes"
    )

    assert code == 1
    assert document["state"] in ("failed", "cancelled")
    assert document["filled_size"] == "0"
    assert desk.position("backpack") == 0


def test_limit_order_rests_and_cancel_all_leaves_nothing_open(desk):
    code, document = desk.run_json(
        "order", "limit", "lighter2", "--side", "buy", "--size", "0.01", "--price", "1000", "--yes"
    )
    assert code == 0
    assert document["state"] == "open"
    assert document["price"] == "1000"
    assert len(desk.open_orders("lighter2")) == 1

    code, cancelled = desk.run_json("order", "cancel-all", "lighter2", "--yes")

    assert code == 0
    assert cancelled["open_before"] == 1
    assert cancelled["still_open"] == []
    assert desk.open_orders("lighter2") == []


def test_limit_price_is_rounded_to_the_tick_never_to_a_worse_price(desk):
    code, document = desk.run_json(
        "order", "limit", "backpack", "--side", "sell", "--size", "0.01", "--price", "9000.001", "--yes"
    )

    assert code == 0
    assert document["price"] == "9000.01"
    (resting,) = desk.open_orders("backpack")
    assert resting["price"] == "9000.01"


def test_human_output_names_the_state_and_the_client_order_index(desk):
    result = desk.run("order", "market", "backpack", "--side", "buy", "--size", "0.01", "--yes")

    assert result.exit_code == 0
    (recorded,) = desk.orders("backpack")
    assert "filled" in result.stdout
    assert str(recorded["client_id"]) in result.stdout


def test_cancel_all_with_nothing_resting_says_so(desk):
    result = desk.run("order", "cancel-all", "backpack", "--yes")

    assert result.exit_code == 0
    assert "no resting orders" in result.stdout


def test_a_refused_order_reports_the_venues_reason(desk):
    desk.venues.arm("backpack", "reject", count=1)

    code, document = desk.run_json("order", "market", "backpack", "--side", "buy", "--size", "0.01", "--yes")

    assert code == 1
    assert document["state"] == "failed"
    assert document["error_type"] == "InsufficientMargin"
    assert document["reason"]
    assert desk.position("backpack") == 0


def test_without_a_terminal_and_without_yes_nothing_is_sent(desk):
    result = desk.run("order", "market", "backpack", "--side", "buy", "--size", "0.01")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--yes" in result.stderr
    assert desk.orders("backpack") == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["market", "nosuch", "--side", "buy", "--size", "0.01"], "unknown connector"),
        (["market", "backpack", "--side", "buy", "--size", "0"], "--size"),
        (["market", "backpack", "--side", "buy", "--size", "-0.01"], "--size"),
        (["market", "backpack", "--side", "buy", "--size", "lots"], "--size"),
        (["market", "backpack", "--side", "long", "--size", "0.01"], "--side"),
        (["market", "backpack", "--side", "buy", "--size", "0.01", "--symbol", "DOGE_USDC_PERP"], "unknown symbol"),
        (["market", "lighter1", "--side", "buy", "--size", "0.01", "--symbol", "DOGE"], "unknown symbol"),
        (["market", "lighter1", "--side", "buy", "--size", "0.001"], "minimum"),
        (["limit", "backpack", "--side", "buy", "--size", "0.01"], "--price"),
        (["limit", "backpack", "--side", "buy", "--size", "0.01", "--price", "-5"], "--price"),
        (["cancel-all", "nosuch"], "unknown connector"),
        (["cancel-all", "backpack", "--symbol", "DOGE_USDC_PERP"], "unknown symbol"),
    ],
)
def test_bad_arguments_get_one_line_exit_2_and_send_nothing(desk, args, needle):
    result = desk.run("order", *args, "--yes")

    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert needle in result.stderr
    assert result.stdout == ""
    assert desk.orders("backpack") == [] and desk.orders("lighter1") == []


def test_grvt_market_and_limit_orders_are_confirmed_from_the_venue(desk):
    code, document = desk.run_json("order", "market", "grvt", "--side", "buy", "--size", "0.05", "--yes")
    assert code == 0, document
    assert document["state"] == "filled" and document["filled_size"] == "0.05"
    assert desk.position("grvt") == Decimal("0.05")

    code, resting = desk.run_json("order", "limit", "grvt", "--side", "sell", "--size", "0.05", "--price", "9000",
                                  "--yes")
    assert code == 0, resting
    assert resting["state"] == "open"
    assert len(desk.open_orders("grvt")) == 1
    code, cancelled = desk.run_json("order", "cancel-all", "grvt", "--yes")
    assert code == 0 and cancelled["still_open"] == []
    assert desk.open_orders("grvt") == []
