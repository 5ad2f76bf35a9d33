"""Operator commands against paper venues: a config file written for them, trades made by another client (the
venue's own engine), and the venues' own state to check what the commands did."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hedgectl.config.starter import paper_document, write_config
from hedgectl.sim.runner import ThreadedPaperVenues

#: The default market of each venue kind in a paper config ([hedge] symbols).
SYMBOLS = {"backpack": "ETH_USDC_PERP", "lighter": "ETH", "grvt": "ETH_USDT_Perp"}
#: The venue kind of each connector of a paper config.
KINDS = {"backpack": "backpack", "lighter1": "lighter", "lighter2": "lighter", "grvt": "grvt"}


@dataclass
class PaperDesk:
    """Paper venues, the config file pointing at them, and direct access to the venues' engines."""

    venues: ThreadedPaperVenues
    config_path: Path
    cli: Callable[..., Any]

    def run(self, *args: str):
        """``hedgectl --config <paper config> ARGS`` in-process."""
        return self.cli("--config", str(self.config_path), *args)

    def run_json(self, *args: str) -> tuple[int, Any]:
        result = self.run(*args, "--json")
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None

    def trade(self, account: str, side: str, size: str, symbol: str | None = None) -> None:
        """A market order placed straight into the venue's engine: another client than hedgectl."""
        from hedgectl.sim.exchange.records import Side

        kind = KINDS[account]
        exchange = self.venues.venues.venue(kind).exchange
        self.venues.call_sync(
            lambda: exchange.submit_order(account, symbol or SYMBOLS[kind], Side(side), Decimal(size))
        )

    def position(self, account: str, symbol: str | None = None) -> Decimal:
        """The signed size the venue itself holds for the account (0 when it lists none)."""
        kind = KINDS[account]
        wanted = symbol or SYMBOLS[kind]
        for item in self.venues.state(kind)["accounts"][account]["positions"]:
            if item["symbol"] == wanted:
                return Decimal(item["signed_size"])
        return Decimal(0)

    def open_orders(self, account: str) -> list[dict[str, Any]]:
        kind = KINDS[account]
        return [o for o in self.venues.state(kind)["open_orders"] if o.get("account") == account]

    def orders(self, account: str) -> list[dict[str, Any]]:
        kind = KINDS[account]
        return [o for o in self.venues.state(kind)["orders"] if o.get("account") == account]


def write_paper_config(venues: ThreadedPaperVenues, directory: Path, **hedge: Any) -> Path:
    """A config file (and .env) for ``venues``; ``hedge`` overrides [hedge] keys."""
    document, secrets = paper_document(venues.accounts_document())
    document["hedge"].update(hedge)
    document["general"]["data_dir"] = str(directory / "data")
    path = directory / "hedgectl.toml"
    write_config(path, document, secrets)
    return path


@pytest.fixture
def desk(paper_venues, tmp_path, cli, monkeypatch) -> PaperDesk:
    # wide enough that no table cell is cut short in what the tests read
    monkeypatch.setenv("COLUMNS", "200")
    return PaperDesk(paper_venues, write_paper_config(paper_venues, tmp_path), cli)


@pytest.fixture
def desk_factory(paper_venues_factory, tmp_path, cli, monkeypatch) -> Callable[..., PaperDesk]:
    """A desk over paper venues started with the given options (e.g. a moving market)."""
    monkeypatch.setenv("COLUMNS", "200")

    def make(**options: Any) -> PaperDesk:
        venues = paper_venues_factory(**options)
        return PaperDesk(venues, write_paper_config(venues, tmp_path), cli)

    return make
