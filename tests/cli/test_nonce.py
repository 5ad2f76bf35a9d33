"""``hedgectl nonce`` against paper Lighter: the venue's next nonce beside hedgectl's, drift, and a refresh."""

from __future__ import annotations


def _server_next(desk, account: str) -> int:
    """The next nonce paper Lighter expects for the account's api key, from its own state."""
    accounts = {entry["name"]: entry for entry in desk.venues.accounts_document()["lighter"]["accounts"]}
    key_index = accounts[account]["api_key_index"]
    for entry in desk.venues.state("lighter")["lighter"]["accounts"]:
        if entry["name"] == account:
            return next(key["next_nonce"] for key in entry["api_keys"] if key["api_key_index"] == key_index)
    raise AssertionError(f"paper Lighter has no account {account}")


def test_show_reports_the_venues_next_nonce_and_is_in_step_after_an_order(desk):
    assert desk.run("order", "market", "lighter1", "--side", "buy", "--size", "0.01", "--yes").exit_code == 0

    code, view = desk.run_json("nonce", "show", "lighter1", "--check")

    assert code == 0
    assert view["server_next"] == _server_next(desk, "lighter1")
    assert view["expected_local_next"] == view["server_next"]
    assert view["in_step"] is True
    assert view["verdict"] == "in step"


def test_another_user_of_the_key_puts_the_local_nonce_behind_and_refresh_fixes_it(desk):
    assert desk.run("order", "market", "lighter2", "--side", "sell", "--size", "0.01", "--yes").exit_code == 0
    desk.venues.arm("lighter", "nonce_skew", amount=3)

    shown = desk.run("nonce", "show", "lighter2", "--check")
    code, refreshed = desk.run_json("nonce", "refresh", "lighter2")
    after_code, after = desk.run_json("nonce", "show", "lighter2", "--check")

    assert shown.exit_code == 1
    assert "behind the venue" in shown.stdout
    assert code == 0
    assert refreshed["changed"] is True
    assert refreshed["after"] == _server_next(desk, "lighter2")
    assert refreshed["after"] - refreshed["before"] == 3
    assert after_code == 0 and after["in_step"] is True


def test_refresh_of_a_nonce_in_step_says_nothing_changed(desk):
    assert desk.run("order", "market", "lighter1", "--side", "buy", "--size", "0.01", "--yes").exit_code == 0

    result = desk.run("nonce", "refresh", "lighter1")

    assert result.exit_code == 0
    assert "nothing changed" in result.stdout


def test_a_fresh_data_directory_has_no_local_record(desk):
    code, view = desk.run_json("nonce", "show", "lighter1")

    assert code == 0
    assert view["verdict"] == "no local record"
    assert view["in_step"] is None


def test_nonce_of_a_backpack_connector_is_a_usage_error(desk):
    result = desk.run("nonce", "show", "backpack")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "only Lighter connectors" in result.stderr


def test_nonce_of_an_unknown_connector_is_a_usage_error(desk):
    result = desk.run("nonce", "refresh", "nosuch")

    assert result.exit_code == 2
    assert "unknown connector" in result.stderr


def test_an_api_key_index_out_of_range_is_a_usage_error(desk):
    result = desk.run("nonce", "refresh", "lighter1", "--api-key-index", "300")

    assert result.exit_code == 2
    assert "--api-key-index" in result.stderr
