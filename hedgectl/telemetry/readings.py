"""Where heartbeat readings come from: live venue reads (``telemetry push``) or a running hedge's status."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from hedgectl.config.model import HedgeConfig
from hedgectl.connectors.factory import ConnectorSet
from hedgectl.execution.snapshot import read_connector
from hedgectl.registry import ROLES
from hedgectl.telemetry.heartbeat import NotReadYet, RoleReading


def role_directions(params: HedgeConfig) -> dict[str, str]:
    """The side each role holds in a cycle of ``params``: BP the direction, L1 the opposite, L2 per l2_side."""
    bp = params.direction
    other = "short" if bp == "long" else "long"
    return {"BP": bp, "L1": other, "L2": bp if params.l2_side == "same" else other}


class UnknownPosition(Exception):
    """A leg whose position is not known right now (its last read failed): nothing is posted for it."""


async def read_roles(connectors: ConnectorSet, params: HedgeConfig) -> Mapping[str, RoleReading | BaseException]:
    """One concurrent read per role: position, equity and the round trip it took; a failure stays a failure."""
    directions = role_directions(params)

    async def one(role: str) -> tuple[str, RoleReading | BaseException]:
        reading = await read_connector(connectors, params.roles[role])
        size = reading.signed_size()
        if reading.error is not None or size is None:
            return role, UnknownPosition(reading.error or "position not read")
        equity = reading.balance.equity if reading.balance is not None else None
        return role, RoleReading(reading.symbol, directions[role], size, equity, reading.latency_ms)

    return dict(await asyncio.gather(*(one(role) for role in ROLES)))


def readings_from_status(status, params: HedgeConfig) -> Mapping[str, RoleReading | BaseException]:
    """The readings a running hedge last made (``CycleStatus``); a leg it could not read is reported unknown, a leg
    it has not read yet (no reading and no error) as NotReadYet."""
    directions = role_directions(params)
    readings: dict[str, RoleReading | BaseException] = {}
    for role, leg in status.legs.items():
        if leg.position is None and leg.position_error is None:
            readings[role] = NotReadYet()
        elif leg.position is None:
            readings[role] = UnknownPosition(leg.position_error)
        else:
            readings[role] = RoleReading(leg.symbol, directions[role], leg.position, leg.balance, leg.latency_ms)
    return readings
