"""The resolved configuration: plain frozen dataclasses, secrets wrapped in ``Secret``.

Built by ``hedgectl.config.loader`` from TOML plus environment, or by ``paper_config`` for the paper venues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedgectl.config.secrets import Secret
from hedgectl.registry import DEFAULT_ROLE_CONNECTORS, VENUES, default_retries, default_slippages, default_symbols


@dataclass(frozen=True)
class ConnectorConfig:
    """A named connector: venue kind, base URL, venue options and secrets (which never print)."""

    name: str
    venue: str
    base_url: str
    options: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict, repr=False)
    timeout_secs: float = 10.0
    read_retries: int = 3
    #: names of secrets the connector needs that were not found, with where they may come from
    missing_secrets: tuple[str, ...] = ()


def account_identity(connector: ConnectorConfig) -> tuple:
    """What tells this connector's venue account from another's: the venue, its URL and the venue's account fields."""
    fields = VENUES[connector.venue].account_fields
    values = []
    for name in fields:
        if name in connector.secrets:
            values.append(connector.secrets[name].reveal())
        else:
            values.append(connector.options.get(name))
    return (connector.venue, connector.base_url, *values)


@dataclass(frozen=True)
class HedgeConfig:
    """The tri-venue hedge's parameters (the old LiquidationHedgeParams)."""

    roles: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_CONNECTORS))
    symbols: dict[str, str] = field(default_factory=default_symbols)
    direction: str = "long"
    size: Decimal | None = None
    l2_size: Decimal | None = None
    l2_side: str = "same"
    leverage: Decimal = Decimal(5)
    size_safety_factor: Decimal = Decimal("0.3")
    wait_min_secs: float = 30.0
    wait_max_secs: float = 90.0
    slippage: dict[str, Decimal] = field(default_factory=default_slippages)
    retries: dict[str, int] = field(default_factory=default_retries)
    retry_delay_secs: float = 0.5
    order_timeout_secs: float = 15.0
    monitor_timeout_secs: float = 3600.0
    poll_interval_secs: float = 5.0
    net_tolerance: Decimal | None = None
    liquidation_warning_pct: Decimal = Decimal("0.05")
    allow_existing: bool = False

    def symbol_for(self, venue: str) -> str:
        return self.symbols[venue]


#: The shortest pause between two cycles of a loop. A cycle reads the venues' fills from one second before it starts
#: (for clock skew); its trades count only when they are its own orders', but a liquidation or deleveraging carries
#: no order of ours and counts by time alone, so a closer start could count the previous cycle's last one twice.
MIN_PAUSE_SECS = 2.0


@dataclass(frozen=True)
class LoopConfig:
    """The defaults of ``hedge run --repeat/--forever``: pause between cycles and when the loop stops."""

    pause_min_secs: float = 30.0
    pause_max_secs: float = 90.0
    max_loss_day: Decimal | None = None  # quote currency, realised, fees included
    max_loss_total: Decimal | None = None
    max_emergency_exits: int = 2  # in a row; one more stops the loop
    stop_file: Path | None = None


@dataclass(frozen=True)
class TelemetryConfig:
    """Where and how often the bots report their heartbeats (``[telemetry]``)."""

    enabled: bool = False
    base_url: str | None = None
    group: str | None = None
    interval_secs: float = 10.0
    bots: dict[str, str] = field(default_factory=lambda: {"BP": "triad-bp", "L1": "triad-l1", "L2": "triad-l2"})
    token: Secret | None = field(default=None, repr=False)


_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_summary_time(raw: str) -> time:
    """``[telegram] daily_summary``: ``HH:MM`` (UTC, 24 h) as a time; ValueError otherwise."""
    match = _HH_MM.match(raw.strip())
    if match is None:
        raise ValueError(f"expected HH:MM (UTC, 00:00 to 23:59), got {raw!r}")
    return time(int(match.group(1)), int(match.group(2)), tzinfo=UTC)


@dataclass(frozen=True)
class TelegramConfig:
    """The Telegram notifier (``[telegram]``): bot, chat and the daily summary's time."""

    enabled: bool = False
    base_url: str = "https://api.telegram.org"
    bot_token: Secret | None = field(default=None, repr=False)
    chat_id: str | None = None
    #: "HH:MM" (UTC): when a running loop sends the day's figures (``history --stats``); None: never
    daily_summary: str | None = None


@dataclass(frozen=True)
class MinOrderConfig:
    """The defaults of ``min-order probe`` (``[min_order]``): its target connectors and attempts."""

    targets: tuple[str, ...] = ()
    attempts: int = 1


@dataclass(frozen=True)
class GeneralConfig:
    """Settings of no venue: where hedgectl keeps its data."""

    data_dir: Path | None = None


@dataclass(frozen=True)
class Config:
    """Everything a command needs; ``path`` is the file it came from (None for paper and defaults)."""

    path: Path | None
    general: GeneralConfig = field(default_factory=GeneralConfig)
    connectors: dict[str, ConnectorConfig] = field(default_factory=dict)
    hedge: HedgeConfig = field(default_factory=HedgeConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    min_order: MinOrderConfig = field(default_factory=MinOrderConfig)
    paper: bool = False
    #: the [groups.NAME] tables (``hedgectl.config.groups.GroupConfig`` by name); empty: one group, ``default``
    groups: dict[str, Any] = field(default_factory=dict)
    #: the group this config was narrowed to (``select_group``), None when none was chosen
    group: str | None = None

    def connector(self, name: str) -> ConnectorConfig:
        from hedgectl.errors import UsageError

        try:
            return self.connectors[name]
        except KeyError:
            known = ", ".join(sorted(self.connectors)) or "none configured"
            raise UsageError(f"unknown connector '{name}' (configured: {known})") from None

    def symbol_for(self, name: str) -> str:
        """The market a command uses on connector ``name`` unless told otherwise: its venue's [hedge] symbol."""
        from hedgectl.errors import UsageError

        venue = self.connector(name).venue
        try:
            return self.hedge.symbols[venue]
        except KeyError:
            raise UsageError(
                f"no default symbol for {name}: [hedge] symbols has no entry for venue '{venue}'; pass --symbol"
            ) from None

    def role_of(self, name: str) -> str | None:
        """The hedge role (BP, L1, L2) connector ``name`` plays, or None."""
        for role, connector in self.hedge.roles.items():
            if connector == name:
                return role
        return None
