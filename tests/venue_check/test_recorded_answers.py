"""The contract check against answers recorded from the venues' published examples: as recorded they hold, and each
with one field removed or retyped is a drift that names that field (exit 1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hedgectl.config.starter import paper_config
from hedgectl.connectors.contract import check_venues
from tests.venue_check.recorded import accounts, altered, lighter_key, recorded, serve

CONNECTOR = {"backpack": "backpack", "lighter": "lighter1", "grvt": "grvt"}


@pytest.fixture(scope="module")
def lighter_keys() -> tuple[str, str]:
    return lighter_key()


def check(venue: str, answers: dict[str, Any], keys: tuple[str, str], tmp_path) -> dict[str, Any]:
    private, public = keys
    with serve(answers, {"public_key": public}) as url:
        config = paper_config(accounts(url, lighter_private_key=private), data_dir=tmp_path / "data")
        report = asyncio.run(check_venues(config, [CONNECTOR[venue]], data_dir=tmp_path / "data", timeout=30))
    return report.as_dict()


def drifted_paths(document: dict[str, Any]) -> set[str]:
    return {drift["path"] for connector in document["connectors"] for check in connector["checks"]
            for drift in check["drifts"]}


@pytest.mark.parametrize("venue", ["backpack", "lighter", "grvt"])
def test_the_recorded_answers_hold(venue, lighter_keys, tmp_path):
    document = check(venue, recorded(venue), lighter_keys, tmp_path)
    assert document["exit_code"] == 0, document
    (connector,) = document["connectors"]
    assert connector["status"] == "ok"
    assert all(check["status"] == "ok" for check in connector["checks"])
    assert connector["markets"], "the configured market's rules are reported"


ALTERATIONS = [
    # venue, recorded answer, field, remove or retype (to what), the drift's path
    ("backpack", "GET /api/v1/time", [], "retype", "now", "time"),
    ("backpack", "GET /api/v1/market", ["filters", "quantity", "stepSize"], "remove", None,
     "filters.quantity.stepSize"),
    ("backpack", "GET /api/v1/market", ["filters", "price", "tickSize"], "retype", True, "filters.price.tickSize"),
    ("backpack", "GET /api/v1/position", [0, "netQuantity"], "remove", None, "[0].netQuantity"),
    ("backpack", "GET /api/v1/capital/collateral", ["netEquityAvailable"], "retype", "n/a", "netEquityAvailable"),
    ("backpack", "GET /wapi/v1/history/orders", [0, "side"], "retype", "Buy", "[0].side"),
    ("backpack", "GET /wapi/v1/history/fills", [0, "price"], "remove", None, "[0].price"),
    ("backpack", "GET /api/v1/orders", [0, "clientId"], "retype", "abc", "[0].clientId"),
    ("lighter", "GET /api/v1/orderBookDetails", ["order_book_details", 0, "min_base_amount"], "remove", None,
     "order_book_details[0].min_base_amount"),
    ("lighter", "GET /api/v1/orderBookDetails", ["order_book_details", 1, "supported_size_decimals"], "retype", "5",
     "order_book_details[1].supported_size_decimals"),
    ("lighter", "GET /api/v1/account", ["accounts", 0, "available_balance"], "remove", None,
     "accounts[0].available_balance"),
    ("lighter", "GET /api/v1/account", ["accounts", 0, "positions", 0, "sign"], "retype", "short",
     "accounts[0].positions[0].sign"),
    ("lighter", "GET /api/v1/nextNonce", ["nonce"], "remove", None, "nonce"),
    ("lighter", "GET /api/v1/trades", ["trades", 0, "ask_account_id"], "retype", "12345", "trades[0].ask_account_id"),
    ("lighter", "GET /api/v1/accountOrders", ["orders", 0, "client_order_index"], "retype", "42",
     "orders[0].client_order_index"),
    ("lighter", "GET /api/v1/accountActiveOrders", ["orders", 0, "filled_base_amount"], "remove", None,
     "orders[0].filled_base_amount"),
    ("lighter", "GET /api/v1/tx", ["status"], "retype", "executed", "status"),
    ("grvt", "POST /full/v1/instrument", ["result", "min_size"], "remove", None, "result.min_size"),
    ("grvt", "POST /full/v1/instrument", ["result", "instrument_hash"], "retype", 197633, "result.instrument_hash"),
    ("grvt", "POST /full/v1/account_summary", ["result", "total_equity"], "remove", None, "result.total_equity"),
    ("grvt", "POST /full/v1/positions", ["result", 0, "size"], "retype", {"value": "-0.5"}, "result[0].size"),
    ("grvt", "POST /full/v1/open_orders", ["result", 0, "legs"], "remove", None, "result[0].legs"),
    ("grvt", "POST /full/v1/fill_history", ["result", 0, "event_time"], "retype", "2025-07-27T17:39:00Z",
     "result[0].event_time"),
]


@pytest.mark.parametrize(("venue", "key", "field", "action", "value", "path"), ALTERATIONS,
                         ids=[f"{a[0]}-{a[5]}-{a[3]}" for a in ALTERATIONS])
def test_an_altered_field_is_a_drift_that_names_it(venue, key, field, action, value, path, lighter_keys, tmp_path):
    document = check(venue, altered(recorded(venue), key, field, action, value), lighter_keys, tmp_path)
    assert document["exit_code"] == 1, document
    assert document["connectors"][0]["status"] == "drift"
    assert path in drifted_paths(document)
    drift = next(drift for connector in document["connectors"] for check in connector["checks"]
                 for drift in check["drifts"] if drift["path"] == path)
    assert drift["got"].startswith("nothing") if action == "remove" else not drift["got"].startswith("nothing")
