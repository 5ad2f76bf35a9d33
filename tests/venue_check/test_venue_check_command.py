"""``hedgectl venue check`` as the operator runs it: against paper venues every connector holds and nothing is
traded; an altered answer exits 1 naming the field; an unreachable venue exits 2."""

from __future__ import annotations

import json
import socket

from hedgectl.config.starter import paper_document, write_config
from tests.venue_check.recorded import accounts, altered, lighter_key, recorded, serve

VENUES = ("backpack", "lighter", "grvt")


def venue_records(desk) -> dict[str, tuple[int, int, int, str]]:
    """Per venue: orders, open orders and fills in the venue's books, and its nonces (Lighter)."""
    records = {}
    for kind in VENUES:
        state = desk.venues.state(kind)
        records[kind] = (len(state["orders"]), len(state["open_orders"]), len(state["fills"]),
                         json.dumps(state.get("lighter", {}).get("nonces"), sort_keys=True))
    return records


def test_every_paper_connector_holds_and_nothing_is_sent(desk):
    # positions, fills and order history to check the rows of, made by another client than hedgectl
    desk.trade("backpack", "buy", "0.01")
    desk.trade("lighter1", "sell", "0.01")
    desk.trade("lighter2", "buy", "0.01")
    desk.trade("grvt", "sell", "0.01")
    before = venue_records(desk)
    code, document = desk.run_json("venue", "check", "--all")
    assert code == 0, document
    assert document["ok"] is True
    assert [c["connector"] for c in document["connectors"]] == ["backpack", "lighter1", "lighter2", "grvt"]
    for connector in document["connectors"]:
        assert connector["status"] == "ok", connector
        assert connector["checks"] and all(check["status"] == "ok" for check in connector["checks"])
        assert connector["clock"] is not None and abs(connector["clock"]["offset_ms"]) < 60_000
        (market,) = connector["markets"]
        assert market["step_size"] and market["tick_size"] and market["min_size"]
    lighter = document["connectors"][1]
    names = [check["check"] for check in lighter["checks"]]
    assert {"api key registered", "nonce", "order history", "fills"} <= set(names)
    assert any(name.startswith("transaction status") for name in names)
    # the maximum the preflight refuses above ("lighter1's ETH market (20x, role L1)"), not a rounder figure
    assert lighter["markets"][0]["max_leverage"] == "20"
    assert document["connectors"][0]["markets"][0] == {
        "symbol": "ETH_USDC_PERP", "step_size": "0.0001", "tick_size": "0.01", "min_size": "0.001",
        "min_notional": None, "max_leverage": "10", "max_leverage_source": "account leverageLimit"}
    assert venue_records(desk) == before


def test_the_table_names_each_check_and_the_market_rules(desk):
    result = desk.run("venue", "check", "lighter1")
    assert result.exit_code == 0, result.output
    assert "api key registered" in result.stdout
    assert "ETH: step 0.0001, tick 0.01, min size 0.005" in result.stdout


def config_for(url: str, directory, private_key: str):
    document, secrets = paper_document(accounts(url, lighter_private_key=private_key))
    document["general"]["data_dir"] = str(directory / "data")
    path = directory / "hedgectl.toml"
    write_config(path, document, secrets)
    return path


def test_an_altered_answer_exits_1_and_names_the_field(cli, tmp_path):
    private, _ = lighter_key()
    answers = altered(recorded("grvt"), "POST /full/v1/account_summary", ["result", "available_balance"], "retype",
                      ["825.44"])
    with serve(answers) as url:
        path = config_for(url, tmp_path, private)
        result = cli("--config", str(path), "venue", "check", "grvt", "--json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    (check,) = [c for c in document["connectors"][0]["checks"] if c["status"] != "ok"]
    assert check["check"] == "account and balance"
    assert check["drifts"] == [{"path": "result.available_balance", "expected": "a decimal (string or number)",
                                "got": "a list of 1", "more_rows": 0}]


def test_an_unreachable_venue_exits_2(cli_subprocess, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    private, _ = lighter_key()
    path = config_for(closed, tmp_path, private)
    result = cli_subprocess("--config", str(path), "venue", "check", "backpack", "lighter1", "--json")
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    assert [c["status"] for c in document["connectors"]] == ["unusable", "unusable"]
    assert all(c["unusable"] for c in document["connectors"])
    assert "Traceback" not in result.output
