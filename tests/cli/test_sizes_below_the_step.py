"""A positive size that rounds to nothing at the market's step is refused naming the step and the minimum size."""

from __future__ import annotations

import json


def test_a_manual_order_below_the_step_names_the_step_and_the_minimum(desk):
    result = desk.run("order", "market", "lighter1", "--side", "buy", "--size", "0.00001", "--yes")
    assert result.exit_code == 2
    assert "size 0.00001 rounds down to 0 at the step 0.0001; the minimum size is 0.005" in result.stderr
    assert "must be positive" not in result.stderr
    assert desk.orders("lighter1") == []


def test_a_smoke_test_below_the_step_names_the_step_and_the_minimum(desk):
    code, report = desk.run_json("smoke-test", "backpack", "--size", "0.00001")
    assert code != 0
    prepare = report["steps"][0]
    assert prepare["ok"] is False
    assert "rounds down to 0 at the step 0.0001; the minimum size is 0.001" in json.dumps(prepare)
    assert desk.orders("backpack") == []


def test_a_hedge_size_below_every_step_names_the_steps_and_minimums(desk):
    result = desk.run("hedge", "run", "--dry-run", "--size", "0.00001")
    assert result.exit_code == 2
    assert "size 0.00001 rounds to 0" in result.stderr
    assert "step 0.0001" in result.stderr and "min 0.005" in result.stderr
