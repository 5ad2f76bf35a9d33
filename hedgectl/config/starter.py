"""Configs hedgectl writes: the starter config of ``config init`` and the config that points at paper venues.

Both are a TOML file plus a ``.env`` beside it (mode 0600) for the secrets, since secrets never sit in the TOML. No
file that exists is replaced unless forced, and an existing ``.env`` never is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from hedgectl.config.model import HedgeConfig
from hedgectl.decimals import plain
from hedgectl.files import refuse_existing, write_new_file
from hedgectl.registry import VENUES, env_name

HEADER = """\
# hedgectl configuration.
# Secrets never go here: they come from the environment, the .env file beside this one (mode 0600),
# or a key file named by `key_file` in a connector's table. `hedgectl config check` lists what is missing.
"""


def _hedge_table(hedge: HedgeConfig) -> dict[str, Any]:
    table: dict[str, Any] = {
        "roles": dict(hedge.roles),
        "symbols": dict(hedge.symbols),
        "direction": hedge.direction,
        "l2_side": hedge.l2_side,
        "leverage": plain(hedge.leverage),
        "size_safety_factor": plain(hedge.size_safety_factor),
        "wait_min_secs": hedge.wait_min_secs,
        "wait_max_secs": hedge.wait_max_secs,
        "slippage": {venue: plain(value) for venue, value in hedge.slippage.items()},
        "retries": dict(hedge.retries),
        "retry_delay_secs": hedge.retry_delay_secs,
        "order_timeout_secs": hedge.order_timeout_secs,
        "monitor_timeout_secs": hedge.monitor_timeout_secs,
        "poll_interval_secs": hedge.poll_interval_secs,
        "liquidation_warning_pct": plain(hedge.liquidation_warning_pct),
        "allow_existing": hedge.allow_existing,
    }
    if hedge.size is not None:
        table["size"] = plain(hedge.size)
    return table


def starter_document() -> dict[str, Any]:
    """A complete config for the live venues; only secrets (and Lighter account numbers) need filling in."""
    return {
        "general": {},
        "connectors": {
            "backpack": {"venue": "backpack", "base_url": VENUES["backpack"].default_base_url, "window_ms": 5000},
            "lighter1": {
                "venue": "lighter",
                "base_url": VENUES["lighter"].default_base_url,
                "account_index": 0,
                "api_key_index": 3,
            },
            "lighter2": {
                "venue": "lighter",
                "base_url": VENUES["lighter"].default_base_url,
                "account_index": 1,
                "api_key_index": 3,
            },
        },
        "hedge": _hedge_table(HedgeConfig()),
        # hedge run --repeat/--forever; max_loss_day / max_loss_total (quote currency) are left to the operator
        "loop": {"pause_min_secs": 30.0, "pause_max_secs": 90.0, "max_emergency_exits": 2},
        "telemetry": {
            "enabled": False,
            "base_url": "http://127.0.0.1:10123",
            "group": "hedge-1",
            "interval_secs": 10.0,
            "bots": {"BP": "bp-1", "L1": "lighter1-1", "L2": "lighter2-1"},
        },
        "telegram": {"enabled": False, "base_url": "https://api.telegram.org"},
        "min_order": {"targets": ["lighter1:buy", "lighter2:sell"], "attempts": 1},
    }


def secret_variables(document: dict[str, Any]) -> list[str]:
    """Every environment variable a document's connectors, telemetry and Telegram read secrets from."""
    names = []
    for name, table in document.get("connectors", {}).items():
        spec = VENUES.get(table.get("venue"))
        if spec:
            names += [env_name(name, secret.env_suffix) for secret in spec.secrets]
    names += ["HEDGECTL_TELEMETRY_TOKEN", "HEDGECTL_TELEGRAM_BOT_TOKEN", "HEDGECTL_TELEGRAM_CHAT_ID"]
    return names


@dataclass(frozen=True)
class WrittenConfig:
    """What ``write_config`` wrote: the config, the file holding its secrets, and an existing .env left alone."""

    path: Path
    secrets_path: Path | None
    dotenv_kept: Path | None


def plan_config_files(path: Path, *, with_secrets: bool, force: bool) -> tuple[Path | None, Path | None]:
    """Where a config at ``path`` would put its secrets and which existing .env it would leave alone; UsageError
    (before anything is written) when the config, or the secrets file it needs, exists and ``force`` is not given.

    An existing ``.env`` beside the config is never replaced or edited, ``force`` or not: secrets with values then
    go to the config's own ``<name>.env`` (which the loader reads too), and a config without secret values only
    names the variables to add.
    """
    from hedgectl.config.loader import own_dotenv_path

    refuse_existing(path, force=force, what="config file")
    dotenv_path = path.parent / ".env"
    if not os.path.lexists(dotenv_path):
        return dotenv_path, None
    if not with_secrets:
        return None, dotenv_path
    own = own_dotenv_path(path)
    refuse_existing(own, force=force, what="secrets file")
    return own, dotenv_path


def write_config(path: Path, document: dict[str, Any], secrets: dict[str, str], *, force: bool = False
                 ) -> WrittenConfig:
    """Write ``path`` (TOML) and a private (0600) secrets file for ``secrets`` (see ``plan_config_files``).

    Variables without a value are written empty so the operator sees what to fill in.
    """
    secrets_path, kept = plan_config_files(path, with_secrets=any(secrets.values()), force=force)
    write_new_file(path, HEADER + "\n" + tomli_w.dumps(document), force=force, what="config file")
    if secrets_path is not None:
        lines = ["# Secrets for hedgectl. Keep this file private (mode 0600)."]
        variables = secret_variables(document)
        for variable in variables:
            value = secrets.get(variable, "")
            lines.append(f"{variable}={_quote(value)}" if value else f"{variable}=")
        for variable, value in secrets.items():
            if variable not in variables:
                lines.append(f"{variable}={_quote(value)}")
        write_new_file(secrets_path, "\n".join(lines) + "\n", private=True, what="secrets file",
                       force=force and secrets_path.name != ".env")
    return WrittenConfig(path, secrets_path, kept)


def paper_data_dir_name(path: Path) -> str:
    """The data directory of a paper config, beside it and named after it (``paper.toml`` -> ``paper-data``)."""
    return f"{path.stem}-data"


def write_paper_config(path: Path, accounts: dict[str, Any], *, force: bool = False) -> WrittenConfig:
    """The config ``sim serve --write-config`` writes: paper venues, and a data directory of its own beside it, so
    its journal, locks, nonce and client id files never mix with those of live runs."""
    document, secrets = paper_document(accounts)
    document["general"]["data_dir"] = paper_data_dir_name(path)
    return write_config(path, document, secrets, force=force)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "") + "'"


#: Hedge parameters for paper runs: short waits and a short monitor, so a whole cycle takes well under a minute.
PAPER_HEDGE = {
    "wait_min_secs": 1.0,
    "wait_max_secs": 3.0,
    "monitor_timeout_secs": 6.0,
    "poll_interval_secs": 1.0,
    "order_timeout_secs": 10.0,
    "retry_delay_secs": 0.2,
}


def paper_document(accounts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A config document pointing at paper venues (the accounts-file shape), and the secrets it needs by variable."""
    document = starter_document()
    document["connectors"] = {}
    secrets: dict[str, str] = {}
    backpack = accounts.get("backpack")
    if backpack:
        for account in backpack["accounts"]:
            name = account["name"]
            document["connectors"][name] = {"venue": "backpack", "base_url": backpack["url"], "window_ms": 5000,
                                            **({"ws_url": backpack["ws_url"]} if backpack.get("ws_url") else {})}
            secrets[env_name(name, "API_KEY")] = account["api_key"]
            secrets[env_name(name, "API_SECRET")] = account["api_secret"]
    lighter = accounts.get("lighter")
    if lighter:
        for account in lighter["accounts"]:
            name = account["name"]
            document["connectors"][name] = {
                "venue": "lighter",
                "base_url": lighter["url"],
                **({"ws_url": lighter["ws_url"]} if lighter.get("ws_url") else {}),
                "account_index": account["account_index"],
                "api_key_index": account["api_key_index"],
            }
            secrets[env_name(name, "PRIVATE_KEY")] = account["api_private_key"]
    grvt = accounts.get("grvt")
    if grvt:
        for account in grvt["accounts"]:
            name = account["name"]
            document["connectors"][name] = {
                "venue": "grvt",
                "base_url": grvt["url"],
                **({"ws_url": grvt["ws_url"]} if grvt.get("ws_url") else {}),
                "sub_account_id": account["sub_account_id"],
                "chain_id": account["chain_id"],
            }
            secrets[env_name(name, "API_KEY")] = account["api_key"]
            secrets[env_name(name, "PRIVATE_KEY")] = account["private_key"]
    document["hedge"].update(PAPER_HEDGE)
    telegram = accounts.get("telegram")
    if telegram:
        document["telegram"] = {"enabled": True, "base_url": telegram["url"]}
        secrets["HEDGECTL_TELEGRAM_BOT_TOKEN"] = telegram["bot_token"]
        secrets["HEDGECTL_TELEGRAM_CHAT_ID"] = str(telegram["chat_id"])
    document["telemetry"]["enabled"] = False
    return document, secrets


def paper_config(accounts: dict[str, Any], *, data_dir: Path | None = None):
    """A ready Config for paper venues (no file, no environment): what ``--paper`` commands run with."""
    from dataclasses import replace

    from hedgectl.config.loader import parse_config
    from hedgectl.config.model import GeneralConfig
    from hedgectl.errors import ConfigError

    document, secrets = paper_document(accounts)
    result = parse_config(document, path=None, env=secrets)
    if not result.ok or result.config is None:
        raise ConfigError(result.problems + result.missing_secrets)
    return replace(result.config, paper=True, general=GeneralConfig(data_dir=data_dir))
