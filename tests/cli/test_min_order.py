"""``hedgectl min-order probe`` against paper venues: sizes, what a Lighter attempt reports, and positions put back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgectl.model.orders import Side
from hedgectl.strategies.min_order import ProbeTarget


def test_probe_fills_the_minimum_and_puts_every_position_back(desk):
    code, report = desk.run_json(
        "min-order", "probe", "--target", "lighter1:buy", "--target", "backpack:sell:x2", "--yes"
    )

    assert code == 0, report
    assert report["ok"] is True
    lighter, backpack = report["attempts"]
    assert (lighter["connector"], lighter["side"], lighter["size"], lighter["outcome"]) == (
        "lighter1", "buy", "0.005", "filled"
    )
    assert lighter["filled_size"] == "0.005"
    assert isinstance(lighter["nonce"], int) and isinstance(lighter["api_key_index"], int)
    assert lighter["client_order_index"] in {o["client_id"] for o in desk.orders("lighter1")}
    assert (backpack["size"], backpack["outcome"], backpack["nonce"]) == ("0.002", "filled", None)
    assert {(r["connector"], r["after"], r["ok"]) for r in report["restored"]} == {
        ("lighter1", "0", True), ("backpack", "0", True),
    }
    assert desk.position("lighter1") == 0 and desk.position("backpack") == 0


def test_probe_speaks_long_and_short_as_hedge_run_does(desk):
    code, report = desk.run_json("min-order", "probe", "--target", "lighter1:long", "--target", "lighter2:short",
                                 "--yes")
    assert code == 0, report
    assert [(a["connector"], a["side"], a["outcome"]) for a in report["attempts"]] == [
        ("lighter1", "buy", "filled"), ("lighter2", "sell", "filled"),
    ]
    assert desk.position("lighter1") == 0 and desk.position("lighter2") == 0


def test_probe_reads_its_targets_from_the_config(desk):
    result = desk.run("min-order", "probe", "--yes")

    assert result.exit_code == 0, result.output
    assert "lighter1:buy" in result.stdout and "lighter2:sell" in result.stdout
    assert "afterwards: lighter1 ETH: flat" in result.stdout
    assert desk.position("lighter1") == 0 and desk.position("lighter2") == 0


def test_probe_restores_a_position_that_existed_before_it(desk):
    desk.trade("lighter2", "sell", "0.02")

    code, report = desk.run_json("min-order", "probe", "--target", "lighter2:buy:reduce_only", "--yes")

    assert code == 0, report
    assert report["attempts"][0]["reduce_only"] is True
    assert report["restored"][0]["before"] == "-0.015"
    assert report["restored"][0]["target"] == "-0.02"
    assert desk.position("lighter2") == Decimal("-0.02")


def test_keep_leaves_what_the_probe_opened_and_says_so(desk):
    code, report = desk.run_json("min-order", "probe", "--target", "backpack:buy", "--keep", "--yes")

    assert code == 0
    assert report["restored"] == []
    assert report["kept"] == [{"connector": "backpack", "symbol": "ETH_USDC_PERP", "started": "0", "now": "0.001"}]
    assert desk.position("backpack") == Decimal("0.001")


def test_a_refused_probe_reports_the_venues_reason_and_tries_again(desk):
    desk.venues.arm("lighter", "reject", account="lighter1", count=1)

    code, report = desk.run_json("min-order", "probe", "--target", "lighter1:sell", "--attempts", "2", "--yes")

    assert code == 0
    first, second = report["attempts"]
    assert (first["outcome"], first["error_type"]) == ("failed", "InsufficientMargin")
    assert first["reason"]
    assert second["outcome"] == "filled"
    assert second["client_order_index"] != first["client_order_index"]
    assert desk.position("lighter1") == 0


def test_a_target_that_never_fills_exits_1_with_nothing_open(desk):
    desk.venues.arm("backpack", "reject")

    result = desk.run("min-order", "probe", "--target", "backpack:buy", "--yes")

    assert result.exit_code == 1
    assert "failed" in result.stdout
    assert desk.position("backpack") == 0


def test_a_multiplier_below_one_is_refused_locally_before_sending(desk):
    code, report = desk.run_json("min-order", "probe", "--target", "lighter1:buy:x0.5", "--yes")

    assert code == 1
    (attempt,) = report["attempts"]
    assert attempt["outcome"] == "refused"
    assert attempt["error_type"] == "BelowMinimumSize"
    assert desk.orders("lighter1") == []


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("lighter1:buy", ProbeTarget("lighter1", Side.BUY)),
        ("lighter2:SELL:reduce_only", ProbeTarget("lighter2", Side.SELL, reduce_only=True)),
        ("backpack:sell:x2.5", ProbeTarget("backpack", Side.SELL, multiplier=Decimal("2.5"))),
        ("lighter1:buy:x3:ro", ProbeTarget("lighter1", Side.BUY, reduce_only=True, multiplier=Decimal(3))),
        ("lighter1:long", ProbeTarget("lighter1", Side.BUY)),
        ("lighter2:Short:x2", ProbeTarget("lighter2", Side.SELL, multiplier=Decimal(2))),
    ],
)
def test_targets_parse_from_their_text_form(target, expected):
    assert ProbeTarget.parse(target) == expected
    assert ProbeTarget.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("lighter1", "CONNECTOR:DIRECTION"),
        ("lighter1:up", "buy, sell, long or short"),
        ("lighter1:buy:x0", "positive"),
        ("lighter1:buy:x-1", "positive"),
        ("lighter1:buy:xlots", "not a number"),
        ("lighter1:buy:sideways", "unexpected"),
        ("nosuch:buy", "unknown connector"),
    ],
)
def test_bad_targets_get_one_line_and_exit_2(desk, target, needle):
    result = desk.run("min-order", "probe", "--target", target, "--yes")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert needle in result.stderr
    assert desk.orders("lighter1") == []


def test_bad_targets_in_the_config_name_their_key(desk):
    text = desk.config_path.read_text().replace('"lighter2:sell"', '"lighter2:hold"')
    desk.config_path.write_text(text)

    result = desk.run("min-order", "probe", "--yes")

    assert result.exit_code == 2
    assert "min_order.targets[1]" in result.stderr


def test_a_filled_attempt_carries_no_failure_reason(desk):
    code, report = desk.run_json("min-order", "probe", "--target", "grvt:buy", "--yes")

    assert code == 0
    (attempt,) = report["attempts"]
    assert (attempt["outcome"], attempt["reason"], attempt["error_type"]) == ("filled", None, None)
    assert len(desk.orders("grvt")) == 2  # the probe's order and the one that took it back
    assert desk.position("grvt") == 0
