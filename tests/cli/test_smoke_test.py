"""``hedgectl smoke-test`` against paper venues: a chased limit fill, a reduce-only close, and nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

# the mid takes a random-walk step often enough for a resting order at the top of the book to be crossed soon
MOVING = dict(tick_seconds=0.05, volatility_scale=Decimal("4"))


@pytest.mark.parametrize("connector", ["backpack", "lighter1", "grvt"])
def test_smoke_test_passes_and_leaves_nothing_open(desk_factory, connector):
    desk = desk_factory(**MOVING)

    code, report = desk.run_json("smoke-test", connector, "--timeout", "60")

    assert code == 0, report
    assert report["ok"] is True
    assert [step["step"] for step in report["steps"]] == [
        "prepare", "tracking limit", "reduce-only market", "position back", "nothing resting",
    ]
    assert all(step["ok"] for step in report["steps"])
    assert report["left_open"] == []
    assert desk.position(connector) == 0
    assert desk.open_orders(connector) == []
    entry = report["steps"][1]
    assert entry["filled_size"] == report["size"]
    filled = [o for o in desk.orders(connector) if Decimal(o["executed_quantity"]) > 0]
    assert sorted(o["side"] for o in filled) == ["buy", "sell"]


def test_smoke_test_takes_an_existing_position_back_to_where_it_was(desk_factory):
    desk = desk_factory(**MOVING)
    desk.trade("backpack", "sell", "0.02")

    result = desk.run("smoke-test", "backpack", "--timeout", "60")

    assert result.exit_code == 0, result.output
    assert "passed; nothing left open" in result.stdout
    # the entry added to the short, so the reduce-only exit could take exactly it back
    assert desk.position("backpack") == Decimal("-0.02")


def test_a_chase_that_times_out_fails_with_nothing_left_open(desk):
    # prices do not move on these venues, so a resting order at the top of the book is never crossed
    code, report = desk.run_json("smoke-test", "lighter2", "--timeout", "0.5")

    assert code == 1
    assert report["ok"] is False
    failed = [step for step in report["steps"] if not step["ok"]]
    assert [step["step"] for step in failed] == ["tracking limit"]
    assert report["left_open"] == []
    assert desk.position("lighter2") == 0
    assert desk.open_orders("lighter2") == []


def test_a_partly_filled_close_is_finished_by_the_clean_up_and_reported(desk_factory):
    desk = desk_factory(**MOVING)
    # the next market order (the test's reduce-only exit) fills only half
    desk.venues.arm("lighter", "partial_fill", account="lighter1", fraction=0.5, count=1)

    code, report = desk.run_json("smoke-test", "lighter1", "--size", "0.01", "--timeout", "60")

    assert code == 1
    steps = {step["step"]: step for step in report["steps"]}
    assert steps["tracking limit"]["ok"] is True
    assert steps["reduce-only market"]["ok"] is False
    assert "0.005 of 0.01" in steps["reduce-only market"]["detail"]
    assert steps["restore"]["ok"] is True
    assert report["left_open"] == []
    assert desk.position("lighter1") == 0


def test_a_refused_entry_fails_with_nothing_sent_after_it(desk):
    desk.venues.arm("lighter", "reject", account="lighter1", count=1)

    result = desk.run("smoke-test", "lighter1", "--timeout", "5")

    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout
    assert "failed; nothing left open" in result.stdout
    assert desk.position("lighter1") == 0
    assert desk.open_orders("lighter1") == []


def test_smoke_test_of_an_unknown_symbol_is_a_usage_error(desk):
    result = desk.run("smoke-test", "backpack", "--symbol", "DOGE_USDC_PERP")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "unknown symbol" in result.stderr
    assert desk.orders("backpack") == []


def test_smoke_test_of_an_unknown_connector_is_a_usage_error(desk):
    result = desk.run("smoke-test", "nosuch")

    assert result.exit_code == 2
    assert "unknown connector" in result.stderr


def test_ctrl_c_while_the_limit_order_rests_cancels_it_before_exiting(desk):
    env = {**os.environ, "HEDGECTL_CONFIG": str(desk.config_path)}
    # prices do not move here, so the test's limit order rests until the interrupt
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "smoke-test", "backpack", "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not desk.open_orders("backpack") and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert desk.open_orders("backpack"), "the limit order never rested"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 130, stderr[-2000:]
    assert desk.open_orders("backpack") == []
    assert desk.position("backpack") == 0


def test_a_close_cancelled_unfilled_by_a_price_move_is_sent_once_more_and_the_test_passes(desk_factory, tmp_path):
    import asyncio

    from hedgectl.config.loader import load_config
    from hedgectl.connectors.factory import ConnectorSet
    from hedgectl.strategies.smoke_test import SmokeTest

    desk = desk_factory(**MOVING)
    config = load_config(desk.config_path)

    def on_step(step) -> None:
        if step.name == "tracking limit" and step.ok:
            # the mid jumps far beyond the close's bound, which the connector takes from the book the chase read
            desk.venues.arm("lighter", "price_move", percent=-8, symbol="ETH")

    async def main():
        async with ConnectorSet(config, data_dir=tmp_path / "data") as connectors:
            return await SmokeTest(connectors, "lighter1", "ETH", on_step=on_step, chase_timeout=60).run()

    report = asyncio.run(main())

    assert report.ok, [step.detail for step in report.steps]
    close = next(step for step in report.steps if step.name == "reduce-only market")
    assert "retried_after" in close.data and "slippage" in close.data["retried_after"]
    assert desk.position("lighter1") == 0 and desk.open_orders("lighter1") == []
