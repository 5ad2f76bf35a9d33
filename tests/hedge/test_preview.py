"""``hedge run --dry-run`` is a faithful preview, and risky parameters need intent: real processes, paper venues."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.hedge.test_hedge_cli import PaperWorld


@pytest.fixture
def world(paper_venues_factory, tmp_path):
    return PaperWorld(paper_venues_factory(), tmp_path)


def _venue_activity(world: PaperWorld) -> dict[str, int]:
    """Orders and fills each paper venue has seen, from its own state."""
    return {
        kind: len(world.venues.state(kind)["orders"]) + len(world.venues.state(kind)["fills"])
        for kind in ("backpack", "lighter")
    }


def _error_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("error:"))


def test_a_dry_run_prints_every_leg_of_the_plan_as_one_json_object_and_sends_nothing(world):
    result = world.run("hedge", "run", "--dry-run", "--json", "--size", "0.4", "--direction", "short",
                       "--leverage", "4")
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)  # one object, not an event stream
    assert document["dry_run"] is True and document["cycle_id"] is None
    plan = document["plan"]
    legs = {leg["role"]: leg for leg in plan["legs"]}
    assert [legs[r]["side"] for r in ("BP", "L1", "L2")] == ["sell", "buy", "sell"]
    assert {legs[r]["connector"] for r in legs} == {"backpack", "lighter1", "lighter2"}
    for leg in legs.values():
        size, price = Decimal(leg["size"]), Decimal(leg["reference_price"])
        assert size == Decimal("0.4")
        assert Decimal(leg["notional"]) == (size * price).quantize(Decimal("0.01"))
        assert Decimal(leg["margin"]) == (size * price / 4).quantize(Decimal("0.01"))
        worst = Decimal(leg["worst_price"])
        bound = Decimal(leg["slippage"])
        if leg["side"] == "buy":
            assert price < worst <= price * (1 + bound) * Decimal("1.001")
        else:
            assert price * (1 - bound) * Decimal("0.999") <= worst < price
        assert leg["max_leverage"] is not None
    # Backpack publishes its taker fee on the account (basis points); the estimate is notional x rate
    bp = legs["BP"]
    assert Decimal(bp["fee_rate"]) > 0
    expected_fee = Decimal(bp["notional"]) * Decimal(bp["fee_rate"])  # the notional shown is rounded to the cent
    assert abs(Decimal(bp["estimated_fee"]) - expected_fee) < Decimal("0.001")
    assert any("margin suffices" in check for check in plan["checks"])
    assert any("leverage 4x within" in check for check in plan["checks"])
    assert _venue_activity(world) == {"backpack": 0, "lighter": 0}


def test_a_dry_run_for_people_prints_the_plan_table_on_stdout(world):
    result = world.run("hedge", "run", "--dry-run", "--size", "0.3")
    assert result.returncode == 0, result.stderr[-2000:]
    for needle in ("hedge plan: long 0.3", "worst price", "est. fee", "margin suffices", "lighter1", "ETH_USDC_PERP"):
        assert needle in result.stdout, needle
    assert _venue_activity(world) == {"backpack": 0, "lighter": 0}


def test_a_leverage_above_the_market_maximum_is_refused_alike_by_the_dry_run_and_the_real_run(world):
    dry = world.run("hedge", "run", "--dry-run", "--size", "0.3", "--leverage", "500")
    real = world.run("hedge", "run", "--size", "0.3", "--leverage", "500", "--wait-min", "0", "--wait-max", "0")
    assert dry.returncode == real.returncode == 1, (dry.stderr[-1000:], real.stderr[-1000:])
    assert _error_line(dry.stderr) == _error_line(real.stderr)
    # paper Lighter's ETH market allows 20x (initial margin fraction 5 %): the tightest of the three legs
    assert "maximum of lighter1's ETH market (20x" in _error_line(real.stderr)
    assert "Traceback" not in real.stderr
    assert _venue_activity(world) == {"backpack": 0, "lighter": 0}  # refused before trading
    assert world.positions() == {name: Decimal(0) for name in world.positions()}


def test_a_dry_run_refuses_a_size_that_needs_more_margin_than_a_leg_has_like_the_real_run(world):
    dry = world.run("hedge", "run", "--dry-run", "--size", "30", "--leverage", "1")
    real = world.run("hedge", "run", "--size", "30", "--leverage", "1")
    assert dry.returncode == real.returncode == 1
    assert _error_line(dry.stderr) == _error_line(real.stderr)
    assert "USDC of margin at 1x" in _error_line(dry.stderr)
    assert _venue_activity(world) == {"backpack": 0, "lighter": 0}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--slippage", "lighter=0.5"], "above the cap of 5 %"),
        (["--slippage", "backpack=0.06"], "pass --force"),
        (["--slippage", "bybit=0.01"], "unknown venue 'bybit' (venues: backpack, grvt, lighter)"),
        (["--retries", "lighter1=2"], "--retries: unknown venue 'lighter1' (venues: backpack, grvt, lighter)"),
        (["--role", "L2=lighter9"], "unknown connector 'lighter9' (configured:"),
    ],
)
def test_risky_or_unknown_parameters_are_refused_with_exit_2(world, args, needle):
    result = world.run("hedge", "run", "--dry-run", "--size", "0.3", *args)
    assert result.returncode == 2, result.stderr[-1000:]
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_a_slippage_bound_above_the_cap_is_accepted_with_force(world):
    result = world.run("hedge", "run", "--dry-run", "--json", "--size", "0.3", "--slippage", "lighter=0.2", "--force")
    assert result.returncode == 0, result.stderr[-1000:]
    legs = {leg["role"]: leg for leg in json.loads(result.stdout)["plan"]["legs"]}
    assert legs["L1"]["slippage"] == "0.2"
    assert Decimal(legs["L1"]["worst_price"]) < Decimal(legs["L1"]["reference_price"]) * Decimal("0.81")
