"""The GRVT connector's reads against paper GRVT: signed positions, balances, fills, market data, sessions, and reads
that fail raising instead of reporting a flat or empty account."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from decimal import Decimal

import pytest

from hedgectl.config.secrets import known_secret_forms
from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.errors import InvalidOrder, VenueUnavailable
from hedgectl.model.orders import Side
from hedgectl.sim.exchange.records import Side as EngineSide

from .grvt_support import ETH, PaperGrvt, paper_grvt  # noqa: F401


def open_position(paper_grvt: PaperGrvt, side: EngineSide, size: str) -> None:
    """A position opened by another client of the account, straight in the venue's engine."""
    paper_grvt.engine(lambda: paper_grvt.venue.exchange.submit_order("grvt", ETH, side, Decimal(size)))


def test_position_opened_elsewhere_is_read_with_its_sign(paper_grvt: PaperGrvt) -> None:
    open_position(paper_grvt, EngineSide.SELL, "0.7")

    async def scenario(connector: GrvtConnector):
        return await connector.positions(), await connector.position(ETH), await connector.position("BTC_USDT_Perp")

    positions, eth, btc = paper_grvt.run(scenario)
    assert [(p.symbol, p.signed_size) for p in positions] == [(ETH, Decimal("-0.7"))]
    assert eth.signed_size == Decimal("-0.7") and eth.entry_price > 0 and eth.liquidation_price > eth.mark_price
    assert btc.signed_size == 0 and btc.venue == "grvt"


def test_balance_reports_equity_available_and_collateral(paper_grvt: PaperGrvt) -> None:
    open_position(paper_grvt, EngineSide.BUY, "1")

    async def scenario(connector: GrvtConnector):
        return await connector.balance()

    balance = paper_grvt.run(scenario)
    summary = paper_grvt.engine(lambda: paper_grvt.venue.exchange.summary("grvt"))
    assert balance.asset == "USDT"
    assert balance.equity == summary.equity.quantize(Decimal("0.000001"))
    assert balance.available == summary.available
    assert balance.collateral == summary.collateral.quantize(Decimal("0.000001"))
    assert balance.available < balance.equity


def test_fills_list_trades_and_liquidations_oldest_first(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.4"))
        await handle.wait_final(5)
        paper_grvt.arm("liquidate", account="grvt")
        return handle.client_order_index, await connector.fills(ETH)

    index, fills = paper_grvt.run(scenario)
    assert [(fill.kind, fill.side, fill.size) for fill in fills] == [
        ("trade", Side.BUY, Decimal("0.4")), ("liquidation", Side.SELL, Decimal("0.4"))]
    assert fills[0].client_order_index == index and fills[1].client_order_index is None
    assert fills[0].at <= fills[1].at


def test_market_rules_and_top_of_book_come_from_the_venue(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        return await connector.market_rules("BTC_USDT_Perp"), await connector.top_of_book(ETH)

    rules, book = paper_grvt.run(scenario)
    assert (rules.step_size, rules.tick_size, rules.min_size) == (Decimal("0.001"), Decimal("0.1"), Decimal("0.001"))
    venue_bid, venue_ask = paper_grvt.engine(lambda: paper_grvt.venue.exchange.best_bid_ask(ETH))
    assert (book.bid, book.ask) == (venue_bid, venue_ask)
    assert book.bid_size > 0 and book.mark is not None


def test_unknown_symbol_is_an_invalid_order(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        await connector.market_rules("DOGE_USDT_Perp")

    with pytest.raises(InvalidOrder):
        paper_grvt.run(scenario)


def test_failed_position_read_raises_instead_of_reporting_flat(paper_grvt: PaperGrvt) -> None:
    open_position(paper_grvt, EngineSide.BUY, "0.3")
    paper_grvt.arm("error", path="/full/v1/positions", count=5)

    async def scenario(connector: GrvtConnector):
        await connector.prepare(ETH)
        return await connector.position(ETH)

    with pytest.raises(VenueUnavailable):
        paper_grvt.run(scenario, read_retries=2)


def test_down_venue_raises_on_balance_reads(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        await connector.check()
        paper_grvt.arm("down", seconds=2)
        return await connector.balance()

    with pytest.raises(VenueUnavailable):
        paper_grvt.run(scenario, read_retries=1)


def test_rate_limited_read_is_retried(paper_grvt: PaperGrvt) -> None:
    open_position(paper_grvt, EngineSide.SELL, "0.2")
    paper_grvt.arm("rate_limit", path="/full/v1/positions", count=1)

    async def scenario(connector: GrvtConnector):
        return await connector.position(ETH)

    assert paper_grvt.run(scenario).signed_size == Decimal("-0.2")


def test_expired_session_is_renewed_by_logging_in_again(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        await connector.check()
        forgotten = paper_grvt.engine(paper_grvt.venue.expire_sessions)
        return forgotten, await connector.balance()

    forgotten, balance = paper_grvt.run(scenario)
    assert forgotten == 1 and balance.equity == Decimal("10000")


def test_sub_account_is_learned_from_the_login_when_not_configured(paper_grvt: PaperGrvt) -> None:
    open_position(paper_grvt, EngineSide.BUY, "0.1")
    account = paper_grvt.account()
    config = paper_grvt.config()
    config = replace(config, options={"chain_id": account["chain_id"]})

    async def main():
        async with GrvtConnector(config) as connector:
            return connector.account_key(), await connector.position(ETH)

    key, position = asyncio.run(main())
    assert "-key-" in key and account["api_key"] not in key
    assert position.signed_size == Decimal("0.1")


def test_find_order_knows_its_own_orders_only(paper_grvt: PaperGrvt) -> None:
    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_market_order(ETH, Side.SELL, Decimal("0.1"))
        await handle.wait_final(5)
        return (await connector.find_order(ETH, handle.client_order_index),
                await connector.find_order(ETH, handle.client_order_index + 10**6))

    known, unknown = paper_grvt.run(scenario)
    assert known.done and known.filled_size == Decimal("0.1") and known.side is Side.SELL
    assert unknown is None


def test_secrets_stay_out_of_logs_and_reprs(paper_grvt: PaperGrvt, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    account = paper_grvt.account()
    config = paper_grvt.config()

    async def scenario(connector: GrvtConnector):
        handle = await connector.submit_market_order(ETH, Side.BUY, Decimal("0.1"))
        await handle.wait_final(5)
        return repr(connector), repr(handle.snapshot())

    shown = " ".join([caplog.text, repr(config), *paper_grvt.run(scenario)])
    secrets = {account["api_key"], account["private_key"], account["private_key"][2:], *known_secret_forms()}
    assert account["api_key"] in known_secret_forms()
    assert [secret for secret in secrets if secret in shown] == []


def test_read_paths_do_not_import_eth_account(paper_grvt: PaperGrvt, tmp_path) -> None:
    account = paper_grvt.account()
    script = textwrap.dedent("""
        import asyncio, json, os, sys
        from hedgectl.config.model import ConnectorConfig
        from hedgectl.config.secrets import Secret
        from hedgectl.connectors.grvt import GrvtConnector

        account = json.loads(os.environ["PAPER_GRVT_ACCOUNT"])
        config = ConnectorConfig(
            name="grvt", venue="grvt", base_url=os.environ["PAPER_GRVT_URL"],
            options={"chain_id": account["chain_id"]},
            secrets={"api_key": Secret(account["api_key"]), "private_key": Secret(account["private_key"])})

        async def main():
            async with GrvtConnector(config) as connector:
                await connector.positions()
                await connector.balance()
                await connector.top_of_book("ETH_USDT_Perp")

        asyncio.run(main())
        print(json.dumps([name for name in ("eth_account", "aiohttp", "lighter") if name in sys.modules]))
    """)
    env = {**os.environ, "PAPER_GRVT_URL": paper_grvt.url, "PAPER_GRVT_ACCOUNT": json.dumps(account)}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                               cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []
