"""Paper Lighter's accounts for the runner: the accounts-file entries, funding, public market reads, and the
state file keeping accounts, api keys, nonces and positions across restarts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from hedgectl.sim.runner import ThreadedPaperVenues

from .support import (
    ETH,
    PaperLighterAccount,
    assert_accepted,
    best_prices,
    eth_position,
    lighter_accounts,
    orders_by_client_index,
    run,
    signer,
)


def test_accounts_document_lists_lighter1_and_lighter2_with_their_keys(venues: ThreadedPaperVenues) -> None:
    section = venues.accounts_document()["lighter"]
    assert section["url"] == venues.url("lighter")
    assert [entry["name"] for entry in section["accounts"]] == ["lighter1", "lighter2"]
    for entry in section["accounts"]:
        assert set(entry) == {"name", "account_index", "api_key_index", "api_private_key"}
        assert isinstance(entry["account_index"], int) and entry["account_index"] >= 100_000
        assert re.fullmatch(r"[0-9a-f]{80}", entry["api_private_key"])
    first, second = section["accounts"]
    assert first["account_index"] != second["account_index"]
    assert first["api_private_key"] != second["api_private_key"]


def test_both_accounts_are_funded_and_pass_the_sdk_key_check(accounts: dict[str, PaperLighterAccount]) -> None:
    async def check(account: PaperLighterAccount) -> str | None:
        async with signer(account) as client:
            return client.check_client()

    with httpx.Client(base_url=accounts["lighter1"].url) as http:
        for account in accounts.values():
            assert run(check(account)) is None
            document = http.get("/api/v1/account", params={"by": "index", "value": account.account_index}).json()
            assert document["accounts"][0]["collateral"] == "10000.000000"
            assert document["accounts"][0]["positions"] == []


def test_market_list_and_public_trades_read_through_the_sdk(lighter1: PaperLighterAccount) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with signer(lighter1) as client:
            _, ask = await best_prices(client)
            assert_accepted(await client.create_market_order(ETH, 1, 500, ask + 1000, False))
            books = await client.order_api.order_books()
            trades = await client.order_api.recent_trades(market_id=ETH, limit=5)
            return books.order_books, trades.trades

    books, trades = run(scenario())
    assert [(book.market_id, book.symbol, book.min_base_amount) for book in books] == [
        (0, "ETH", "0.0050"), (1, "BTC", "0.00020"), (2, "SOL", "0.050")]
    assert [(trade.type, trade.size, trade.bid_account_id) for trade in trades] == [
        ("trade", "0.0500", lighter1.account_index)]


def test_state_file_keeps_accounts_keys_nonces_and_positions_across_restarts(tmp_path: Path) -> None:
    state_file = tmp_path / "paper-state.json"
    options: dict[str, Any] = {"seed": 5, "tick_seconds": 0, "kinds": ["lighter"], "state_file": state_file}

    async def trade(account: PaperLighterAccount) -> int:
        async with signer(account) as client:
            _, ask = await best_prices(client)
            assert_accepted(await client.create_market_order(ETH, 1, 1500, ask + 1000, False))
            return (await client.tx_api.next_nonce(account.account_index, account.api_key_index)).nonce

    async def read(account: PaperLighterAccount) -> tuple[str | None, Any, int]:
        async with signer(account) as client:
            nonce = (await client.tx_api.next_nonce(account.account_index, account.api_key_index)).nonce
            return client.check_client(), await eth_position(client, account), nonce

    with ThreadedPaperVenues(**options) as first:
        before = lighter_accounts(first)
        nonce = run(trade(before["lighter1"]))
    with ThreadedPaperVenues(**options) as second:
        after = lighter_accounts(second)
        key_check, position, restored_nonce = run(read(after["lighter1"]))
    assert {name: (a.account_index, a.api_private_key) for name, a in after.items()} == {
        name: (a.account_index, a.api_private_key) for name, a in before.items()}
    assert key_check is None
    assert position == (1, "0.1500")
    assert restored_nonce == nonce


def test_sim_serve_accounts_file_lets_the_sdk_trade_lighter_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    accounts_file = tmp_path / "accounts.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "sim", "serve", "--seed", "3", "--tick-seconds", "0",
         "--accounts-out", str(accounts_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not accounts_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        section = json.loads(accounts_file.read_text())["lighter"]
        entry = section["accounts"][0]
        account = PaperLighterAccount(section["url"], entry["name"], entry["account_index"], entry["api_key_index"],
                                      entry["api_private_key"])

        async def trade() -> str:
            async with signer(account) as client:
                _, ask = await best_prices(client)
                assert_accepted(await client.create_market_order(ETH, 1, 1000, ask + 1000, False))
                return (await orders_by_client_index(client, account, 1))[1].status

        assert run(trade()) == "filled"
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert entry["api_private_key"] not in output
