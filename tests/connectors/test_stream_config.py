"""The stream switch and URLs from the config: the accounts file's ws_url reaches the written config and the
connectors; ``streams = false`` (what ``hedge run --no-streams`` sets) opens no stream; a bad ws_url is refused."""

from __future__ import annotations

import asyncio
from typing import Any

from hedgectl.config.loader import parse_config
from hedgectl.config.starter import paper_config, paper_document
from hedgectl.connectors.stream import without_streams
from hedgectl.connectors.factory import build_connector

SYMBOLS = {"backpack": "ETH_USDC_PERP", "lighter1": "ETH", "grvt": "ETH_USDT_Perp"}


def prepared_streams(config: Any) -> dict[str, tuple[str, bool]]:
    async def main() -> dict[str, tuple[str, bool]]:
        found = {}
        for name, symbol in SYMBOLS.items():
            async with build_connector(config.connector(name)) as connector:
                await connector.prepare(symbol)
                found[name] = (connector.ws_url, connector.stream is not None)
        return found

    return asyncio.run(main())


def test_written_config_names_each_stream_and_the_connectors_open_it(paper_venues_factory):
    venues = paper_venues_factory(kinds=["backpack", "lighter", "grvt"])
    accounts = venues.accounts_document()
    document, _ = paper_document(accounts)
    assert document["connectors"]["backpack"]["ws_url"] == accounts["backpack"]["ws_url"]
    assert document["connectors"]["lighter1"]["ws_url"] == accounts["lighter"]["ws_url"]
    assert document["connectors"]["grvt"]["ws_url"] == accounts["grvt"]["ws_url"]
    assert accounts["grvt"]["ws_url"] == accounts["grvt"]["url"].replace("http://", "ws://") + "/ws/full"
    assert prepared_streams(paper_config(accounts)) == {
        "backpack": (accounts["backpack"]["ws_url"], True),
        "lighter1": (accounts["lighter"]["ws_url"], True),
        "grvt": (accounts["grvt"]["ws_url"], True),
    }


def test_grvt_streams_default_to_the_trading_host_at_ws_full():
    from hedgectl.connectors.grvt.wire import stream_url

    assert stream_url("https://trades.grvt.io") == "wss://trades.grvt.io/ws/full"
    assert stream_url("https://trades.testnet.grvt.io/") == "wss://trades.testnet.grvt.io/ws/full"
    assert stream_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/ws/full"


def test_no_streams_opens_no_stream(paper_venues_factory):
    venues = paper_venues_factory(kinds=["backpack", "lighter", "grvt"])
    config = without_streams(paper_config(venues.accounts_document()))
    assert all(opened is False for _, opened in prepared_streams(config).values())


def test_streams_false_in_the_config_is_read_and_a_non_websocket_url_is_refused(paper_venues_factory):
    venues = paper_venues_factory(kinds=["backpack", "lighter"])
    document, secrets = paper_document(venues.accounts_document())
    document["connectors"]["lighter1"]["streams"] = False
    result = parse_config(document, path=None, env=secrets)
    assert result.ok and result.config.connector("lighter1").options["streams"] is False
    document["connectors"]["lighter1"]["ws_url"] = "http://127.0.0.1:1/stream"
    refused = parse_config(document, path=None, env=secrets)
    assert not refused.ok
    assert any("ws_url" in str(problem) and "ws://" in str(problem) for problem in refused.problems)
