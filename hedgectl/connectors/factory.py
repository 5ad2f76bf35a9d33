"""Building connectors by name: a connector class is imported the first time one of its kind is built.

So a command that reads one Backpack account never loads the Lighter SDK. The venue kinds and what each needs
from the config are facts of ``hedgectl.registry``.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.errors import ConfigError
from hedgectl.registry import venue_spec

if TYPE_CHECKING:
    from hedgectl.config.model import Config, ConnectorConfig
    from hedgectl.connectors.base import Connector


def connector_class(kind: str) -> type[Connector]:
    module_name, _, class_name = venue_spec(kind).connector.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_connector(config: ConnectorConfig, *, data_dir: Path | None = None,
                    clock: Clock = SYSTEM_CLOCK) -> Connector:
    """Build (not start) the connector for one configured name; refuse it when its secrets are missing."""
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
