"""The one source of per-venue facts and of the hedge's roles: venue kinds, what each needs from the config, and
the defaults a hedge uses when a venue plays a role.

A table of plain values below the config and the connectors: it imports neither. ``hedgectl.connectors.factory``
builds a connector from these facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.errors import UsageError

#: The hedge's roles, in the order a cycle trades them: the bridge leg, then the two Lighter accounts.
ROLES: tuple[str, ...] = ("BP", "L1", "L2")
#: The two Lighter roles (the hedge and the second entry).
LIGHTER_ROLES: tuple[str, ...] = ("L1", "L2")
#: The venue kinds that can play each role, the usual one first.
ROLE_VENUES: dict[str, tuple[str, ...]] = {"BP": ("backpack", "grvt"), "L1": ("lighter",), "L2": ("lighter",)}
#: The connector name each role uses unless the config says otherwise.
DEFAULT_ROLE_CONNECTORS: dict[str, str] = {"BP": "backpack", "L1": "lighter1", "L2": "lighter2"}

#: Marks an option without a default: the config must give it.
REQUIRED: Any = object()


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
    """What hedgectl knows of one venue kind: its connector, defaults, options and secrets."""

    kind: str
    connector: str  # "module:Class"
    default_base_url: str
    options: tuple[OptionSpec, ...]
    secrets: tuple[SecretSpec, ...]
    #: the market a hedge trades on this venue unless the config names another
    default_symbol: str
    #: the config values (options or non-secret secrets) that tell one account of this venue from another
    account_fields: tuple[str, ...] = ()
    #: the worst price an order may take, as a fraction away from the touch, unless the config says otherwise
    default_slippage: Decimal = Decimal("0.005")
    #: how often a hedge retries an order refused for a transient reason on this venue
    default_retries: int = 3


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
        account_fields=("api_key",),
        default_slippage=Decimal("0.005"),
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
        account_fields=("account_index",),
        default_slippage=Decimal("0.01"),
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
            OptionSpec("ws_url", "ws_url", None, help="account stream URL; default: the trading host's /ws/full"),
            OptionSpec("streams", "bool", True, help="confirm fills by the account stream as well as by REST"),
        ),
        secrets=(
            SecretSpec("api_key", "API_KEY", "GRVT trading API key"),
            SecretSpec("private_key", "PRIVATE_KEY", "private key of the API key's signing wallet, hex"),
        ),
        default_symbol="ETH_USDT_Perp",
        account_fields=("sub_account_id", "api_key"),
        default_slippage=Decimal("0.005"),
    ),
}

COMMON_CONNECTOR_KEYS = ("venue", "base_url", "key_file", "timeout_secs", "read_retries")


def venue_spec(kind: str) -> VenueSpec:
    try:
        return VENUES[kind]
    except KeyError:
        raise UsageError(f"unknown venue kind '{kind}' (known: {', '.join(sorted(VENUES))})") from None


def default_symbols() -> dict[str, str]:
    """The market of each venue kind a hedge trades unless the config names another."""
    return {kind: spec.default_symbol for kind, spec in VENUES.items()}


def default_slippages() -> dict[str, Decimal]:
    return {kind: spec.default_slippage for kind, spec in VENUES.items()}


def default_retries() -> dict[str, int]:
    return {kind: spec.default_retries for kind, spec in VENUES.items()}


def env_name(connector_name: str, suffix: str) -> str:
    """``lighter1`` + ``PRIVATE_KEY`` -> ``HEDGECTL_LIGHTER1_PRIVATE_KEY``."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in connector_name.upper())
    return f"HEDGECTL_{cleaned}_{suffix}"


