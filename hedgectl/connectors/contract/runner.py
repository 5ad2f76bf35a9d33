"""Running the contract check over the configured connectors, concurrently, each bounded in time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from hedgectl.config.model import Config
from hedgectl.connectors.contract.report import ConnectorReport, Unusable, VenueCheckReport, error_text

#: The longest one connector's check may take, whatever its timeouts and retries add up to.
CHECK_TIMEOUT_SECS = 60.0


async def check_venues(config: Config, names: Sequence[str], *, data_dir: Path | None = None,
                       timeout: float = CHECK_TIMEOUT_SECS) -> VenueCheckReport:
    """The contract check of each named connector, on the venue symbol of ``[hedge] symbols`` for its kind."""
    from hedgectl.connectors.factory import ConnectorSet

    symbols = {name: config.symbol_for(name) for name in names}  # a missing symbol is a usage error, up front
    async with ConnectorSet(config, data_dir=data_dir) as connectors:

        async def one(name: str) -> ConnectorReport:
            report = ConnectorReport(name, config.connector(name).venue)
            try:
                async with asyncio.timeout(timeout):
                    connector = await connectors.get(name)
                    await _check(connector, [symbols[name]], report)
            except Unusable:
                pass
            except TimeoutError:
                report.unusable = f"no answer within {timeout:g}s"
            except Exception as exc:  # a check reports, it never crashes the others
                report.unusable = error_text(name, exc)
            return report

        return VenueCheckReport(list(await asyncio.gather(*(one(name) for name in names))))


async def _check(connector, symbols: list[str], report: ConnectorReport) -> None:
    if connector.venue == "backpack":
        from hedgectl.connectors.contract.backpack import check_backpack

        await check_backpack(connector, symbols, report)
    elif connector.venue == "lighter":
        from hedgectl.connectors.contract.lighter import check_lighter

        await check_lighter(connector, symbols, report)
    elif connector.venue == "grvt":
        from hedgectl.connectors.contract.grvt import check_grvt

        await check_grvt(connector, symbols, report)
    else:
        report.unusable = f"no contract check for venue {connector.venue!r}"
