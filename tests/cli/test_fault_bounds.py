"""Paper fault options are bounded, at the venue's ``/_sim/`` API (400 with a reason) and in ``sim fault`` (exit 2),
so no fault can leave a paper venue unusable until it is restarted."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from hedgectl.sim.faults import BOUNDS

OUT_OF_RANGE = [
    ("nonce_skew", "amount", 10**20),
    ("nonce_skew", "amount", 1001),
    ("nonce_skew", "amount", 0),
    ("nonce_skew", "api_key_index", 255),
    ("latency", "ms", 99_999_999_999),
    ("latency", "jitter_ms", 600_001),
    ("latency", "count", 1_000_001),
    ("drop_after_execute", "delay_ms", 10**12),
    ("rate_limit", "retry_after", 3601),
    ("error", "status", 600),
    ("partial_fill", "fraction", "1"),
    ("partial_fill", "fraction", "NaN"),
    ("price_move", "percent", "1e30"),
    ("price_move", "percent", "-100"),
    ("price_move", "percent", "Infinity"),
    ("down", "seconds", 10**9),
    ("lag", "ms", 600_001),
]


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@pytest.mark.parametrize(("kind", "option", "value"), OUT_OF_RANGE)
def test_the_venue_refuses_an_out_of_range_option_with_400_naming_it(desk, kind, option, value):
    url = desk.venues.url("lighter")

    answer = httpx.post(f"{url}/_sim/faults", json={"kind": kind, option: value, "account": "lighter1"})

    assert answer.status_code == 400
    assert option in answer.json()["error"]
    assert httpx.get(f"{url}/_sim/faults").json()["faults"] == []


def test_the_venue_refuses_an_integer_too_long_to_read_with_400(desk):
    url = desk.venues.url("lighter")
    body = '{"kind": "latency", "ms": ' + "9" * 5000 + "}"

    answer = httpx.post(f"{url}/_sim/faults", content=body, headers={"Content-Type": "application/json"})

    assert answer.status_code == 400
    assert answer.json()["error"]


@pytest.mark.parametrize(("kind", "option", "value"), OUT_OF_RANGE)
def test_sim_fault_refuses_an_out_of_range_option_in_one_line_with_exit_2(desk, kind, option, value):
    url = desk.venues.url("lighter")

    result = desk.run("sim", "fault", "lighter", kind, option_flag(option), str(value), "--account", "lighter1",
                      "--url", url)

    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert option in result.stderr or option_flag(option) in result.stderr
    assert "Traceback" not in result.output
    assert httpx.get(f"{url}/_sim/faults").json()["faults"] == []


def test_a_refused_nonce_skew_leaves_the_paper_venue_taking_orders(desk):
    url = desk.venues.url("lighter")

    answer = httpx.post(f"{url}/_sim/faults", json={"kind": "nonce_skew", "amount": 1e20, "account": "lighter1"})
    order = desk.run("order", "market", "lighter1", "--side", "buy", "--size", "0.01", "--yes")

    assert answer.status_code == 400
    assert order.exit_code == 0, order.output
    assert desk.position("lighter1") == Decimal("0.01")


def test_after_the_largest_nonce_skew_the_paper_venue_still_takes_orders(desk):
    high = int(BOUNDS["amount"].high)
    armed = desk.run("sim", "fault", "lighter", "nonce_skew", "--amount", str(high), "--account", "lighter1",
                     "--url", desk.venues.url("lighter"))

    order = desk.run("order", "market", "lighter1", "--side", "buy", "--size", "0.01", "--yes")

    assert armed.exit_code == 0, armed.output
    assert order.exit_code == 0, order.output
    assert desk.position("lighter1") == Decimal("0.01")


def test_options_at_their_bounds_are_armed(desk):
    url = desk.venues.url("lighter")
    fault = {"kind": "latency", "ms": int(BOUNDS["ms"].high), "jitter_ms": int(BOUNDS["jitter_ms"].high),
             "count": int(BOUNDS["count"].high), "path": "/never/requested"}

    answer = httpx.post(f"{url}/_sim/faults", json=fault)

    assert answer.status_code == 200, answer.text
    (listed,) = httpx.get(f"{url}/_sim/faults").json()["faults"]
    assert (listed["ms"], listed["jitter_ms"], listed["count"]) == (fault["ms"], fault["jitter_ms"], fault["count"])


def test_sim_fault_help_states_every_bound(cli):
    result = cli("sim", "fault", "--help")

    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for name, bound in BOUNDS.items():
        assert f"{option_flag(name)} " in text
        assert bound.describe() in text, name
