"""Hedge groups: several sets of hedge accounts in one config, each with its own roles, symbols, sizing and
telemetry bots, and the rule that no two groups ever share a venue account.

A config without ``[groups]`` has one group, ``default``, which is its ``[hedge]`` table. A config with
``[groups.NAME]`` tables has exactly those groups; its ``[hedge]`` table then holds what the groups share (each
group's keys override it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hedgectl.config.model import Config, ConnectorConfig, HedgeConfig, TelemetryConfig
from hedgectl.config.schema import Problems, check_keys, join, read
from hedgectl.errors import UsageError
from hedgectl.registry import ROLES

#: The one group of a config without [groups]: its [hedge] table.
DEFAULT_GROUP = "default"
#: Keys of a [groups.NAME] table besides the [hedge] keys.
GROUP_ONLY_KEYS = ("bots", "telemetry_group")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class GroupConfig:
    """One hedge group: its hedge parameters and the telemetry names its heartbeats go out under."""

    name: str
    hedge: HedgeConfig
    telemetry_group: str | None = None
    bots: dict[str, str] = field(default_factory=dict)


def valid_group_name(name: str) -> bool:
    """Group names end up in file names (journal, stop file, lock): letters, digits, ``-`` and ``_`` only."""
    return bool(_NAME.match(name))


def parse_groups(
    document: dict[str, Any],
    hedge_base: dict[str, Any],
    connectors: dict[str, ConnectorConfig],
    telemetry: TelemetryConfig,
    problems: Problems,
    parse_hedge,
) -> dict[str, GroupConfig]:
    """The [groups.NAME] tables of ``document`` as groups (each merged over ``hedge_base``); empty without
    [groups]. ``parse_hedge(table, connectors, problems, where)`` reads one merged hedge table."""
    tables = document.get("groups")
    if tables is None:
        return {}
    if not isinstance(tables, dict) or not tables:
        problems.add("groups", "expected one or more tables like [groups.NAME]")
        return {}
    groups: dict[str, GroupConfig] = {}
    for name, table in tables.items():
        where = f"groups.{name}"
        if not valid_group_name(str(name)):
            problems.add(where, "a group name is 1-40 letters, digits, '-' or '_' (it names files)")
            continue
        if not isinstance(table, dict):
            problems.add(where, f"expected a table [{where}]")
            continue
        own = {key: value for key, value in table.items() if key not in GROUP_ONLY_KEYS}
        merged = {**hedge_base, **own}
        for key in ("roles", "symbols", "slippage", "retries"):
            if isinstance(hedge_base.get(key), dict) and isinstance(own.get(key), dict):
                merged[key] = {**hedge_base[key], **own[key]}
        hedge = parse_hedge(merged, connectors, problems, where)
        bots = read(table, "bots", "str_map", where, problems, default={})
        check_keys(bots, ROLES, join(where, "bots"), problems)
        default_bots = {role: f"{bot}-{name}" for role, bot in telemetry.bots.items()}
        groups[name] = GroupConfig(
            name=name,
            hedge=hedge,
            telemetry_group=read(table, "telemetry_group", "str", where, problems, default=name),
            bots={**default_bots, **{k: v for k, v in bots.items() if k in ROLES}},
        )
    check_shared_accounts(groups, connectors, problems)
    return groups


def check_shared_accounts(
    groups: dict[str, GroupConfig], connectors: dict[str, ConnectorConfig], problems: Problems
) -> None:
    """One problem per group role whose account another group already uses: by connector name, or by the venue
    account itself (same Backpack API key, same Lighter account index on one URL, same GRVT sub-account)."""
    from hedgectl.config.model import account_identity

    owners: dict[Any, tuple[str, str, str]] = {}
    for group in groups.values():
        for role, name in group.hedge.roles.items():
            connector = connectors.get(name)
            keys: list[Any] = [("connector", name)]
            if connector is not None:
                keys.append(("account", account_identity(connector)))
            for key in keys:
                owner = owners.get(key)
                if owner is not None and owner[0] != group.name:
                    other_group, other_role, other_name = owner
                    how = (f"connector '{name}'" if other_name == name
                           else f"connector '{name}' is the same venue account as '{other_name}'")
                    problems.add(f"groups.{group.name}.roles.{role}",
                                 f"{how}, already used by group '{other_group}' (role {other_role}); "
                                 "each group needs its own accounts")
                    break
                owners.setdefault(key, (group.name, role, name))


def group_names(config: Config) -> list[str]:
    """The config's groups, in the file's order (``default`` alone without [groups])."""
    return list(config.groups) if config.groups else [DEFAULT_GROUP]


def select_group(config: Config, name: str | None) -> Config:
    """The config as group ``name`` sees it: that group's hedge table and telemetry names in place of the
    config's. ``None`` keeps the config as it is (its ``[hedge]``, the default group)."""
    if name is None:
        return config
    if not config.groups:
        if name == DEFAULT_GROUP:
            return replace(config, group=DEFAULT_GROUP)
        raise UsageError(f"unknown group '{name}': this config has no [groups], only the group '{DEFAULT_GROUP}' "
                         "(its [hedge] table)")
    group = config.groups.get(name)
    if group is None:
        raise UsageError(f"unknown group '{name}' (configured: {', '.join(config.groups)})")
    telemetry = replace(config.telemetry, group=group.telemetry_group, bots=dict(group.bots))
    return replace(config, hedge=group.hedge, telemetry=telemetry, group=name)


def require_group(config: Config, what: str) -> None:
    """Refuse to trade the [hedge] table of a config with groups when no group was chosen."""
    if config.groups and config.group is None:
        raise UsageError(f"this config has groups ({', '.join(config.groups)}): pass --group NAME to {what}, or "
                         "run them all with 'hedgectl fleet run'")


def scoped_name(config: Config) -> str | None:
    """The name a group's own files carry; None for the default group (its files keep their historic names)."""
    return None if config.group in (None, DEFAULT_GROUP) else config.group
