"""The connector registry: venue kinds, what each needs from the config, and lazy construction by name.

Importing this module imports no connector; a connector class is imported the first time one of its kind is built,
so a command that reads one Backpack account never loads the Lighter SDK.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.config.schema import REQUIRED
from hedgectl.errors import UsageError

if TYPE_CHECKING:
    from hedgectl.config.model import Config, ConnectorConfig
    from hedgectl.connectors.base import Connector


@dataclass(frozen=True)
class OptionSpec:
    """A venue-specific key of a ``[connectors.NAME]`` table."""

    name: str
    kind: str  # "str", "int", "float", "bool", "choice"
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


@dataclass(frozen=True)
class SecretSpec:
    """A secret a connector needs: from ``HEDGECTL_<NAME>_<env_suffix>``, a .env file, or the key file."""

    name: str
    env_suffix: str
    help: str
    secret: bool = True  # False for values that live with secrets but are not secret (a public key)


@dataclass(frozen=True)
class VenueSpec:
    kind: str
    connector: str  # "module:Class"
    default_base_url: str
    options: tuple[OptionSpec, ...]
    secrets: tuple[SecretSpec, ...]
    default_symbol: str
    key_file_format: str
    #: the config values (options or non-secret secrets) that tell one account of this venue from another
    account_fields: tuple[str, ...] = ()
    #: defaults for the hedge when this venue plays a role
    default_slippage: str = "0.005"


VENUES: dict[str, VenueSpec] = {
    "backpack": VenueSpec(
        kind="backpack",
        connector="hedgectl.connectors.backpack:BackpackConnector",
        default_base_url="https://api.backpack.exchange",
        options=(
            OptionSpec("window_ms", "int", 5000, minimum=1, maximum=60000, help="X-Window of signed requests"),
            OptionSpec("ws_url", "ws_url", None, help="account stream URL; default wss://ws.backpack.exchange"),
            OptionSpec("streams", "bool", True, help="confirm fills by the account stream as well as by REST"),
        ),
        secrets=(
            SecretSpec("api_key", "API_KEY", "base64 Ed25519 public key", secret=False),
            SecretSpec("api_secret", "API_SECRET", "base64 Ed25519 seed"),
        ),
        default_symbol="ETH_USDC_PERP",
        key_file_format="API Key: <base64>\nAPI Secret: <base64>",
        account_fields=("api_key",),
        default_slippage="0.005",
    ),
    "lighter": VenueSpec(
        kind="lighter",
        connector="hedgectl.connectors.lighter:LighterConnector",
        default_base_url="https://mainnet.zklighter.elliot.ai",
        options=(
            OptionSpec("account_index", "int", minimum=0, help="Lighter account index"),
            OptionSpec("api_key_index", "int", None, minimum=0, maximum=254, help="api key index (or in key file)"),
            OptionSpec("chain_id", "int", None, help="304 mainnet, 300 testnet; default from the URL"),
            OptionSpec("nonce_manager", "choice", "optimistic", choices=("optimistic", "api")),
            OptionSpec("ws_url", "ws_url", None, help="account stream URL; default: base_url's host at /stream"),
            OptionSpec("streams", "bool", True, help="confirm fills by the account stream as well as by REST"),
        ),
        secrets=(SecretSpec("private_key", "PRIVATE_KEY", "api private key, 40-byte hex"),),
        default_symbol="ETH",
        key_file_format="api key index: <int>\nprivate key: <hex>",
        account_fields=("account_index",),
        default_slippage="0.01",
    ),
    "grvt": VenueSpec(
        kind="grvt",
        connector="hedgectl.connectors.grvt:GrvtConnector",
        default_base_url="https://trades.grvt.io",
        options=(
            OptionSpec("environment", "choice", "prod", choices=("prod", "testnet", "staging", "dev"),
                       help="GRVT environment: its hosts and EIP-712 chain id"),
            OptionSpec("sub_account_id", "int", None, minimum=1,
                       help="trading sub account; default: the one the API key logs in to"),
            OptionSpec("chain_id", "int", None, minimum=1,
                       help="EIP-712 chain id; default from environment (325 prod)"),
            OptionSpec("edge_url", "url", None, help="login host; default from environment or base_url"),
            OptionSpec("market_data_url", "url", None, help="market data host; default from environment or base_url"),
            OptionSpec("ioc_expiry_secs", "int", 15, minimum=1, maximum=3600,
                       help="signature lifetime of immediate-or-cancel orders"),
        ),
        secrets=(
            SecretSpec("api_key", "API_KEY", "GRVT trading API key"),
            SecretSpec("private_key", "PRIVATE_KEY", "private key of the API key's signing wallet, hex"),
        ),
        default_symbol="ETH_USDT_Perp",
        key_file_format="API Key: <key>\nPrivate Key: <hex>",
        account_fields=("sub_account_id", "api_key"),
        default_slippage="0.005",
    ),
}

COMMON_CONNECTOR_KEYS = ("venue", "base_url", "key_file", "timeout_secs", "read_retries")


def venue_spec(kind: str) -> VenueSpec:
    try:
        return VENUES[kind]
    except KeyError:
        raise UsageError(f"unknown venue kind '{kind}' (known: {', '.join(sorted(VENUES))})") from None


def env_name(connector_name: str, suffix: str) -> str:
    """``lighter1`` + ``PRIVATE_KEY`` -> ``HEDGECTL_LIGHTER1_PRIVATE_KEY``."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in connector_name.upper())
    return f"HEDGECTL_{cleaned}_{suffix}"


def connector_class(kind: str) -> type[Connector]:
    module_name, _, class_name = venue_spec(kind).connector.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_connector(config: ConnectorConfig, *, data_dir: Path | None = None,
                    clock: Clock = SYSTEM_CLOCK) -> Connector:
    """Build (not start) the connector for one configured name; refuse it when its secrets are missing."""
    from hedgectl.errors import ConfigError

    if config.missing_secrets:
        raise ConfigError([f"connectors.{config.name}: missing {item}" for item in config.missing_secrets])
    return connector_class(config.venue)(config, data_dir=data_dir, clock=clock)


class ConnectorSet:
    """The connectors one command uses, built on first use and closed together.

    ``async with ConnectorSet(config) as connectors: bp = await connectors.get("backpack")``

    With ``lock_for`` (a purpose such as "order") and a data directory, each connector's venue account is locked
    for this process as it is built, so a manual trade never runs on an account a hedge is trading.
    """

    def __init__(self, config: Config, *, data_dir: Path | None = None, lock_for: str | None = None,
                 clock: Clock = SYSTEM_CLOCK):
        self.config = config
        self.clock = clock
        self.data_dir = data_dir
        self.lock_for = lock_for
        self._built: dict[str, Connector] = {}
        self._held: list = []
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> Connector:
        async with self._lock:
            connector = self._built.get(name)
            if connector is None:
                connector = build_connector(self.config.connector(name), data_dir=self.data_dir, clock=self.clock)
                if self.lock_for is not None and self.data_dir is not None:
                    from hedgectl import locks

                    self._held.append(locks.acquire(self.data_dir, connector.account_id(), purpose=self.lock_for))
                await connector.start()
                self._built[name] = connector
            return connector

    def names(self) -> list[str]:
        return list(self.config.connectors)

    def built(self) -> dict[str, Connector]:
        """The connectors started so far, by name."""
        return dict(self._built)

    async def close(self) -> None:
        built, self._built = self._built, {}
        await asyncio.gather(*(c.close() for c in built.values()), return_exceptions=True)
        held, self._held = self._held, []
        for lock in held:
            lock.release()

    async def __aenter__(self) -> ConnectorSet:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()
