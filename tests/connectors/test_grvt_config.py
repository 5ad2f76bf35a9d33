"""Configuring GRVT connectors: the venue kind in TOML with secrets from the environment or a key file, hosts and
chain id per environment, and the config paper venues produce."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hedgectl.config.loader import load_config, parse_config
from hedgectl.config.starter import paper_document
from hedgectl.connectors.grvt import GrvtConnector
from hedgectl.errors import ConfigError
from hedgectl.connectors.factory import build_connector

from .grvt_support import ETH, PaperGrvt, paper_grvt  # noqa: F401

PRIVATE_KEY = "0x" + "11" * 32


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_file_builds_a_testnet_connector(tmp_path: Path) -> None:
    config_path = write(tmp_path / "hedgectl.toml", """
[connectors.grvt_a]
venue = "grvt"
environment = "testnet"
sub_account_id = 8289849667772468
""")
    env = {"HEDGECTL_GRVT_A_API_KEY": "key-for-tests-123", "HEDGECTL_GRVT_A_PRIVATE_KEY": PRIVATE_KEY}
    config = load_config(config_path, env=env, require_secrets=True)
    connector = build_connector(config.connector("grvt_a"))
    assert isinstance(connector, GrvtConnector)
    assert connector.hosts.trades == "https://trades.testnet.grvt.io"
    assert connector.hosts.edge == "https://edge.testnet.grvt.io"
    assert connector.hosts.market_data == "https://market-data.testnet.grvt.io"
    assert connector.chain_id == 326
    assert connector.account_key() == "trades.testnet.grvt.io-8289849667772468"


def test_prod_is_the_default_environment(tmp_path: Path) -> None:
    config_path = write(tmp_path / "hedgectl.toml", '[connectors.grvt]\nvenue = "grvt"\n')
    env = {"HEDGECTL_GRVT_API_KEY": "key-for-tests-123", "HEDGECTL_GRVT_PRIVATE_KEY": PRIVATE_KEY}
    connector = build_connector(load_config(config_path, env=env).connector("grvt"))
    assert (connector.hosts.trades, connector.hosts.edge, connector.chain_id) == (
        "https://trades.grvt.io", "https://edge.grvt.io", 325)


def test_missing_secrets_name_their_variables(tmp_path: Path) -> None:
    config_path = write(tmp_path / "hedgectl.toml", '[connectors.grvt]\nvenue = "grvt"\n')
    with pytest.raises(ConfigError) as problem:
        load_config(config_path, env={"HEDGECTL_GRVT_API_KEY": "key-for-tests-123"}, require_secrets=True)
    assert "HEDGECTL_GRVT_PRIVATE_KEY" in str(problem.value)
    assert "key-for-tests-123" not in str(problem.value)


def test_key_file_supplies_the_api_key_and_private_key(tmp_path: Path) -> None:
    key_file = write(tmp_path / "grvt.keys", f"API Key: key-from-file-1\nPrivate Key: {PRIVATE_KEY}\n")
    key_file.chmod(0o600)
    config_path = write(tmp_path / "hedgectl.toml", '[connectors.grvt]\nvenue = "grvt"\nkey_file = "grvt.keys"\n')
    connector_config = load_config(config_path, env={}, require_secrets=True).connector("grvt")
    assert connector_config.secrets["api_key"].reveal() == "key-from-file-1"
    assert connector_config.secrets["private_key"].reveal() == PRIVATE_KEY


def test_base_url_of_another_environment_is_refused(tmp_path: Path) -> None:
    config_path = write(tmp_path / "hedgectl.toml", """
[connectors.grvt]
venue = "grvt"
base_url = "https://trades.testnet.grvt.io"
environment = "dev"
""")
    env = {"HEDGECTL_GRVT_API_KEY": "key-for-tests-123", "HEDGECTL_GRVT_PRIVATE_KEY": PRIVATE_KEY}
    with pytest.raises(ConfigError, match="testnet"):
        build_connector(load_config(config_path, env=env).connector("grvt"))


def test_unknown_environment_is_a_config_problem(tmp_path: Path) -> None:
    config_path = write(tmp_path / "hedgectl.toml", '[connectors.grvt]\nvenue = "grvt"\nenvironment = "mainnet"\n')
    with pytest.raises(ConfigError, match="environment"):
        load_config(config_path, env={})


def test_paper_config_names_the_grvt_connector_and_it_trades(paper_grvt: PaperGrvt) -> None:
    document, secrets = paper_document(paper_grvt.venues.accounts_document())
    table = document["connectors"]["grvt"]
    assert table == {"venue": "grvt", "base_url": paper_grvt.url, "chain_id": 326,
                     "sub_account_id": paper_grvt.account()["sub_account_id"],
                     "ws_url": paper_grvt.url.replace("http://", "ws://") + "/ws/full"}
    assert sorted(secrets) == ["HEDGECTL_GRVT_API_KEY", "HEDGECTL_GRVT_PRIVATE_KEY"]
    parsed = parse_config({"connectors": {"grvt": table}}, path=None, env=secrets)
    assert parsed.ok, parsed.problems + parsed.missing_secrets

    async def scenario():
        async with build_connector(parsed.config.connector("grvt")) as connector:
            assert connector.hosts.edge == connector.hosts.market_data == paper_grvt.url
            await connector.check()
            return await connector.position(ETH)

    assert asyncio.run(scenario()).signed_size == 0
