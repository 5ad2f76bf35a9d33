"""Trading figures from the journal: per venue and account, the volume traded, the fills, the fees paid, the
realised PnL and what the volume cost, per UTC day and in total.

A cycle that ended records, per leg, what the venue's own fills of the cycle say (volume, fees, fills) beside its
realised PnL; those are the figures counted. A cycle without them (it never reached its end, or the record predates
them) is counted from its journaled orders (filled size, average price, fee), with the PnL counted the same way
(``hedgectl.model.pnl``), and is marked so: an order's fee is only as good as what the venue's order report
said. Volume is quote notional on both sides: the sum of |size x price|. The cost is what the volume lost,
``-realised PnL`` (fees included), and the cost per 10,000 is ``cost / volume x 10,000`` (negative when the cycles
earned). A cycle's figures count on the UTC day the cycle started.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from hedgectl.decimals import ZERO, plain
from hedgectl.model.pnl import Execution, leg_pnl, traded
from hedgectl.journal.store import CycleRecord, Journal, OrderRecord

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
COST_PER = Decimal(10000)
COST_QUANTUM = Decimal("0.0001")

#: A filter on cycles (a hedge group's, say); every cycle counts when none is given.
CycleFilter = Callable[[CycleRecord], bool]


def parse_day(text: str) -> date:
    """A UTC day written ``YYYY-MM-DD``; ValueError saying what is expected otherwise."""
    text = text.strip()
    try:
        # fromisoformat alone would also take 20261205 and week dates, which read as something else to an operator
        if not _DAY.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def day_start(day: date) -> float:
    """The Unix time at which the UTC day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


def utc_day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).date().isoformat()


@dataclass
class AccountStats:
    """The figures of one account (connector) on one venue."""

    venue: str
    connector: str
    volume: Decimal = ZERO
    fills: int = 0
    fees: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    #: cycle legs counted from the journal's orders, not from the venue's fills (each order counts as one fill)
    from_journal: int = 0
    #: orders the journal knows filled but not at what price: their volume and PnL cannot be counted
    unpriced_orders: int = 0

    @property
    def cost(self) -> Decimal:
        return -self.realised_pnl

    @property
    def cost_per_10k(self) -> Decimal | None:
        if self.volume == 0:
            return None
        return (self.cost / self.volume * COST_PER).quantize(COST_QUANTUM)

    def add(self, other: AccountStats) -> None:
        self.volume += other.volume
        self.fills += other.fills
        self.fees += other.fees
        self.realised_pnl += other.realised_pnl
        self.from_journal += other.from_journal
        self.unpriced_orders += other.unpriced_orders

    def as_dict(self) -> dict[str, Any]:
        per_10k = self.cost_per_10k
        return {
            "venue": self.venue,
            "connector": self.connector,
            "volume": plain(self.volume),
            "fills": self.fills,
            "fees": plain(self.fees),
            "realised_pnl": plain(self.realised_pnl),
            "cost": plain(self.cost),
            "cost_per_10k": None if per_10k is None else plain(per_10k),
            "from_journal": self.from_journal,
            "unpriced_orders": self.unpriced_orders,
        }


@dataclass
class StatsTable:
    """Figures per (venue, connector), with their sum over all accounts."""

    accounts: dict[tuple[str, str], AccountStats] = field(default_factory=dict)
    cycles: int = 0

    def account(self, venue: str, connector: str) -> AccountStats:
        key = (venue, connector)
        if key not in self.accounts:
            self.accounts[key] = AccountStats(venue, connector)
        return self.accounts[key]

    def add(self, stats: AccountStats) -> None:
        self.account(stats.venue, stats.connector).add(stats)

    @property
    def total(self) -> AccountStats:
        total = AccountStats("all", "all")
        for stats in self.accounts.values():
            total.add(stats)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "accounts": [self.accounts[key].as_dict() for key in sorted(self.accounts)],
            "all": self.total.as_dict(),
        }


@dataclass
class TradingStats:
    """The figures per UTC day (oldest first) and over the whole period."""

    since: date | None
    days: dict[str, StatsTable] = field(default_factory=dict)
    total: StatsTable = field(default_factory=StatsTable)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "days": [{"day": day, **self.days[day].as_dict()} for day in sorted(self.days)],
            "total": self.total.as_dict(),
        }


def cycle_figures(cycle: CycleRecord) -> list[AccountStats]:
    """One cycle's figures per leg: the venue's fills the cycle recorded, else its journaled orders."""
    result = cycle.result or {}
    recorded = result.get("traded") or {}
    pnl = result.get("pnl") or {}
    by_role: dict[str, list[OrderRecord]] = {}
    for order in cycle.orders:
        by_role.setdefault(order.role, []).append(order)
    figures = []
    for role in sorted(set(recorded) | set(by_role)):
        leg = recorded.get(role)
        if leg is not None and role in pnl:
            figures.append(AccountStats(
                venue=str(leg["venue"]), connector=str(leg["connector"]), volume=Decimal(leg["volume"]),
                fills=int(leg["fills"]), fees=Decimal(leg["fees"]), realised_pnl=Decimal(pnl[role]),
                from_journal=int(leg.get("source") != "venue"),
            ))
        else:
            figures.append(_journal_figures(cycle, role, by_role.get(role, [])))
    return [stats for stats in figures if stats.connector]


def _journal_figures(cycle: CycleRecord, role: str, orders: list[OrderRecord]) -> AccountStats:
    leg = (cycle.params.get("legs") or {}).get(role) or {}
    first = orders[0].intent if orders else None
    stats = AccountStats(
        venue=str(leg.get("venue") or (first.venue if first else "")),
        connector=str(leg.get("connector") or (first.connector if first else "")),
        from_journal=1,
    )
    executions = []
    for order in orders:
        if order.filled_size == 0:
            continue
        if order.average_price is None:
            stats.unpriced_orders += 1
            stats.fees += order.fee or ZERO
            continue
        executions.append(Execution(order.signed_filled, order.average_price, order.fee or ZERO))
    counted = traded(executions)
    stats.volume, stats.fees, stats.fills = counted.volume, stats.fees + counted.fees, counted.fills
    reference = (cycle.params.get("plan") or {}).get("reference_price")
    stats.realised_pnl = leg_pnl(
        executions,
        opening_size=Decimal((cycle.params.get("baseline") or {}).get(role, "0")),
        opening_price=None if reference is None else Decimal(reference),
    ).realised - (stats.fees - counted.fees)
    return stats


def trading_stats(
    cycles: Iterable[CycleRecord], *, since: date | None = None, where: CycleFilter | None = None
) -> TradingStats:
    """The figures of ``cycles`` that started on or after the UTC day ``since`` and pass ``where``."""
    start = None if since is None else day_start(since)
    result = TradingStats(since=since)
    for cycle in cycles:
        if start is not None and cycle.created_at < start:
            continue
        if where is not None and not where(cycle):
            continue
        day = result.days.setdefault(utc_day(cycle.created_at), StatsTable())
        day.cycles += 1
        result.total.cycles += 1
        for stats in cycle_figures(cycle):
            day.add(stats)
            result.total.add(stats)
    return result


def journal_stats(journal: Journal, *, since: date | None = None, where: CycleFilter | None = None) -> TradingStats:
    """The figures of the journal's cycles since the UTC day ``since``."""
    return trading_stats(
        journal.cycles_since(None if since is None else day_start(since)), since=since, where=where
    )


__all__ = ["AccountStats", "CycleFilter", "StatsTable", "TradingStats", "cycle_figures", "journal_stats",
           "parse_day", "trading_stats"]
