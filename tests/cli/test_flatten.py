"""``hedgectl flatten`` against paper venues: the side comes from the signed position, and flat is proven."""

from __future__ import annotations

from decimal import Decimal


def test_flatten_after_a_flip_closes_the_side_the_venue_holds(desk):
    desk.trade("backpack", "buy", "0.02")
    desk.trade("backpack", "sell", "0.05")  # a rebalance that went through zero: now short 0.03
    assert desk.position("backpack") == Decimal("-0.03")

    code, document = desk.run_json("flatten", "backpack", "--yes")

    assert code == 0
    assert document["ok"] is True
    (closed,) = document["closed"]
    assert (closed["before"], closed["after"]) == ("-0.03", "0")
    assert [(o["side"], o["size"], o["state"]) for o in closed["orders"]] == [("buy", "0.03", "filled")]
    assert desk.position("backpack") == 0
    assert document["left_open"] == [] and document["unknown"] == []


def test_flatten_all_closes_every_leg_and_cancels_resting_orders(desk):
    desk.trade("backpack", "sell", "0.04")
    desk.trade("lighter1", "buy", "0.025")
    desk.trade("lighter2", "buy", "0.015")
    assert desk.run("order", "limit", "lighter1", "--side", "sell", "--size", "0.01", "--price", "9000",
                    "--yes").exit_code == 0

    result = desk.run("flatten", "--all", "--yes")

    assert result.exit_code == 0, result.output
    for account in ("backpack", "lighter1", "lighter2"):
        assert desk.position(account) == 0
    assert desk.open_orders("lighter1") == []
    assert "flat: backpack, lighter1, lighter2" in result.stdout


def test_nothing_open_means_nothing_sent(desk):
    code, document = desk.run_json("flatten", "lighter1", "lighter2", "--yes")

    assert code == 0
    assert document["closed"] == []
    assert desk.orders("lighter1") == [] and desk.orders("lighter2") == []


def test_a_venue_that_cannot_be_read_is_reported_unknown_with_exit_4(desk):
    desk.trade("backpack", "buy", "0.01")
    desk.venues.arm("lighter", "down", seconds=60)

    code, document = desk.run_json("flatten", "--all", "--yes")

    assert code == 4
    assert desk.position("backpack") == 0  # what could be closed was closed
    assert sorted(item["connector"] for item in document["unknown"]) == ["lighter1", "lighter2"]
    assert document["ok"] is False


def test_a_close_the_venue_keeps_refusing_is_reported_as_left_open(desk):
    desk.trade("lighter2", "sell", "0.02")
    desk.venues.arm("lighter", "reject", account="lighter2")

    result = desk.run("flatten", "lighter2", "--yes")

    assert result.exit_code == 4
    assert desk.position("lighter2") == Decimal("-0.02")
    assert "STILL OPEN: lighter2 ETH -0.02" in result.stdout


def test_flatten_needs_names_or_all(desk):
    result = desk.run("flatten", "--yes")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--all" in result.stderr


def test_flatten_refuses_without_confirmation_and_sends_nothing(desk):
    desk.trade("backpack", "buy", "0.01")

    result = desk.run("flatten", "backpack")

    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert desk.position("backpack") == Decimal("0.01")


def test_flatten_unknown_connector_is_a_usage_error(desk):
    result = desk.run("flatten", "backpack", "nosuch", "--yes")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "unknown connector 'nosuch'" in result.stderr


def test_flatten_closes_a_grvt_short_with_a_buy(desk):
    desk.trade("grvt", "sell", "0.07")
    assert desk.position("grvt") == Decimal("-0.07")

    code, document = desk.run_json("flatten", "grvt", "--yes")

    assert code == 0, document
    (closed,) = document["closed"]
    assert [(o["side"], o["size"]) for o in closed["orders"]] == [("buy", "0.07")]
    assert desk.position("grvt") == 0
