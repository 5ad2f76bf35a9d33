"""Lighter connector reads against paper Lighter over loopback HTTP: positions, balance, rules, book, and what a
failing venue does to a read (it raises; it never reads as flat)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from decimal import Decimal

import pytest
from aiohttp import web

from hedgectl.config.secrets import Secret
from hedgectl.connectors.lighter import LighterConnector
from hedgectl.errors import AuthError, InvalidOrder, RateLimited, VenueProtocolError, VenueTimeout, VenueUnavailable

from .lighter_support import ETH, LighterProxy, PaperLighter, paper_lighter  # noqa: F401


def test_short_opened_by_another_client_reads_negative(paper_lighter: PaperLighter):
    async def scenario(connector):
        await paper_lighter.sdk_market_order("lighter1", is_ask=True, base_amount=4200, client_order_index=77,
                                             worst_price=300_000)
        return await connector.positions(), await connector.position(ETH)

    positions, position = paper_lighter.run(scenario)

    assert paper_lighter.signed_size("lighter1") == Decimal("-0.42")
    assert [(p.symbol, p.signed_size) for p in positions] == [(ETH, Decimal("-0.4200"))]
    assert position.signed_size == Decimal("-0.42")
    assert position.entry_price is not None and position.entry_price > 0
    assert position.mark_price is not None and position.mark_price > 0


def test_long_reads_positive_with_liquidation_price(paper_lighter: PaperLighter):
    async def scenario(connector):
        await paper_lighter.sdk_market_order("lighter2", is_ask=False, base_amount=100_000, client_order_index=5,
                                             worst_price=400_000)
        return await connector.position(ETH)

    position = paper_lighter.run(scenario, name="lighter2")

    assert position.signed_size == Decimal("10") == paper_lighter.signed_size("lighter2")
    # 10 ETH on 10,000 USDC can be liquidated: the venue names a price below entry
    assert position.liquidation_price is not None and position.liquidation_price < position.entry_price


def test_flat_account_reads_an_explicit_zero(paper_lighter: PaperLighter):
    position = paper_lighter.run(lambda connector: connector.position(ETH))
    assert position.signed_size == 0 and position.is_flat


def test_balance_reports_equity_and_available(paper_lighter: PaperLighter):
    balance = paper_lighter.run(lambda connector: connector.balance())
    assert balance.equity == Decimal("10000") and balance.available == Decimal("10000")
    assert balance.asset == "USDC"


def test_market_rules_come_from_the_venue(paper_lighter: PaperLighter):
    rules = paper_lighter.run(lambda connector: connector.market_rules("BTC"))
    assert rules.step_size == Decimal("0.00001") and rules.tick_size == Decimal("0.1")
    assert rules.min_size == Decimal("0.0002") and rules.market_id == 1


def test_unknown_symbol_is_an_invalid_order(paper_lighter: PaperLighter):
    with pytest.raises(InvalidOrder, match="DOGE"):
        paper_lighter.run(lambda connector: connector.market_rules("DOGE"))


def test_top_of_book_has_bid_below_ask(paper_lighter: PaperLighter):
    book = paper_lighter.run(lambda connector: connector.top_of_book(ETH))
    assert book.bid is not None and book.ask is not None and book.bid < book.ask


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "error", "status": 500}, VenueUnavailable),
        ({"kind": "error", "status": 503}, VenueUnavailable),
        ({"kind": "rate_limit"}, RateLimited),
    ],
)
def test_failing_position_read_raises_and_is_never_flat(paper_lighter: PaperLighter, fault, error):
    async def scenario(connector):
        await paper_lighter.sdk_market_order("lighter1", is_ask=False, base_amount=1000, client_order_index=9,
                                             worst_price=400_000)
        paper_lighter.arm(fault.pop("kind"), path="/api/v1/account", **fault)
        return await connector.positions()

    with pytest.raises(error):
        paper_lighter.run(scenario)


def _account_answer(paper_lighter: PaperLighter, change) -> list:
    """Run a position read of lighter1 (long 0.1 ETH at the venue) through a proxy that passes the venue's account
    document through ``change`` first; returns what ``positions()`` read."""

    async def main():
        async with LighterProxy(paper_lighter.url) as proxy:
            async def account(request, body):
                answer = json.loads((await proxy.forward(request, body)).body)
                change(answer["accounts"][0])
                return web.json_response(answer)

            proxy.on("/api/v1/account", account)
            async with paper_lighter.connector("lighter1", base_url=proxy.url, read_retries=1) as connector:
                await paper_lighter.sdk_market_order("lighter1", is_ask=False, base_amount=1000,
                                                     client_order_index=9, worst_price=400_000)
                return await connector.positions()

    return asyncio.run(main())


@pytest.mark.parametrize("degraded", [lambda account: account.pop("positions"),
                                      lambda account: account.update(positions=None),
                                      lambda account: account.update(positions={"0": "0.1"})],
                         ids=["missing", "null", "not-a-list"])
def test_account_answer_without_a_positions_list_is_an_error_and_never_flat(paper_lighter: PaperLighter, degraded):
    with pytest.raises(VenueProtocolError, match="positions"):
        _account_answer(paper_lighter, degraded)


def test_position_is_named_by_its_market_id_not_by_its_own_symbol_text(paper_lighter: PaperLighter):
    def strip_symbols(account):
        for entry in account["positions"]:
            entry.pop("symbol")

    positions = _account_answer(paper_lighter, strip_symbols)
    assert [(position.symbol, position.signed_size) for position in positions] == [(ETH, Decimal("0.1"))]


def test_position_in_a_market_the_venue_does_not_list_is_an_error(paper_lighter: PaperLighter):
    def move_to_unknown_market(account):
        for entry in account["positions"]:
            entry["market_id"] = 999

    with pytest.raises(VenueProtocolError, match="999"):
        _account_answer(paper_lighter, move_to_unknown_market)


def test_position_read_recovers_within_bounded_retries(paper_lighter: PaperLighter):
    async def scenario(connector):
        await paper_lighter.sdk_market_order("lighter1", is_ask=False, base_amount=1000, client_order_index=9,
                                             worst_price=400_000)
        paper_lighter.arm("error", path="/api/v1/account", count=1)
        paper_lighter.arm("rate_limit", path="/api/v1/account", count=1)
        return await connector.position(ETH)

    position = paper_lighter.run(scenario, read_retries=3)
    assert position.signed_size == Decimal("0.1")
    assert paper_lighter.state()["faults"] == []  # both faults were met, and the read still succeeded


def test_slow_venue_read_times_out(paper_lighter: PaperLighter):
    paper_lighter.arm("latency", path="/api/v1/account", ms=1500)
    with pytest.raises(VenueTimeout):
        paper_lighter.run(lambda connector: connector.balance(), timeout_secs=0.3, read_retries=1)


def test_down_venue_read_raises_unavailable(paper_lighter: PaperLighter):
    paper_lighter.arm("down", seconds=30)
    with pytest.raises(VenueUnavailable):
        paper_lighter.run(lambda connector: connector.positions(), read_retries=2)


def test_position_read_does_not_import_the_sdk(paper_lighter: PaperLighter):
    program = paper_lighter.child_config_source("lighter1") + textwrap.dedent(
        """
        import asyncio, json
        from hedgectl.connectors.factory import build_connector

        async def main():
            async with build_connector(config) as connector:
                positions = await connector.positions()
                await connector.balance()
                await connector.market_rules("ETH")
                await connector.top_of_book("ETH")
                status = await connector.nonce_status()
            return positions, status

        positions, status = asyncio.run(main())
        heavy = sorted(name for name in ("lighter", "eth_account") if name in sys.modules)
        print(json.dumps({"heavy": heavy, "positions": len(positions), "server_next": status.server_next}))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", program],
        input=paper_lighter.account("lighter1")["api_private_key"] + "\n",
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["heavy"] == []
    assert outcome["server_next"] >= 1


def test_check_accepts_the_registered_key(paper_lighter: PaperLighter):
    paper_lighter.run(lambda connector: connector.check())


def test_check_refuses_a_key_the_venue_does_not_know(paper_lighter: PaperLighter):
    import lighter

    other_key = lighter.create_api_key()[0]
    config = replace(paper_lighter.config("lighter1"), secrets={"private_key": Secret(other_key, source="test")})

    async def main():
        async with LighterConnector(config) as connector:
            await connector.check()

    with pytest.raises(AuthError) as raised:
        asyncio.run(main())
    assert other_key[2:] not in str(raised.value) and other_key not in str(raised.value)


@pytest.mark.parametrize("bad_key", ["zz" * 40, "ab" * 10])
def test_malformed_key_is_refused_without_showing_it(paper_lighter: PaperLighter, bad_key):
    config = replace(paper_lighter.config("lighter1"), secrets={"private_key": Secret(bad_key, source="test")})

    async def main():
        async with LighterConnector(config) as connector:
            await connector.prepare(ETH)

    with pytest.raises(AuthError) as raised:
        asyncio.run(main())
    assert bad_key not in str(raised.value) and bad_key not in repr(raised.value)


@pytest.mark.parametrize(
    ("path", "read"),
    [
        ("/api/v1/accountActiveOrders", lambda connector: connector.open_orders(ETH)),
        ("/api/v1/accountOrders", lambda connector: connector.find_order(ETH, 12345)),
        ("/api/v1/trades", lambda connector: connector.fills(ETH)),
        ("/api/v1/orderBookOrders", lambda connector: connector.top_of_book(ETH)),
        ("/api/v1/nextNonce", lambda connector: connector.nonce_status()),
    ],
)
def test_failing_reads_raise_instead_of_answering_empty(paper_lighter: PaperLighter, path, read):
    async def scenario(connector):
        await connector.market_rules(ETH)
        paper_lighter.arm("error", path=path, status=503)
        return await read(connector)

    with pytest.raises(VenueUnavailable):
        paper_lighter.run(scenario, read_retries=2)
