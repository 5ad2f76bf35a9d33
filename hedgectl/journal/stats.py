"""Trading figures from the journal: per venue and account, the volume traded, the orders filled, the fees paid,
the realised PnL and what the volume cost, per UTC day and in total.

Every figure comes from the journal's orders (filled size, average price, fee). Volume is quote notional on both
sides: the sum of |filled size x average price|. Realised PnL is counted per cycle and leg as the cycle counts it
(``hedgectl.execution.pnl``, fees included, what is left open is not counted). The cost is what the volume lost,
``-realised PnL``, and the cost per 10,000 is ``cost / volume x 10,000`` (negative when the cycles earned). A
cycle's figures count on the UTC day the cycle started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from hedgectl.decimals import ZERO, plain
from hedgectl.execution.pnl import Execution, leg_pnl
from hedgectl.journal.store import CycleRecord, Journal, OrderRecord

COST_PER = Decimal(10000)
COST_QUANTUM = Decimal("0.0001")

#: A filter on cycles (a hedge group's, say); every cycle counts when none is given.
CycleFilter = Callable[[CycleRecord], bool]


def parse_day(text: str) -> date:
    """A UTC day written ``YYYY-MM-DD``; ValueError saying what is expected otherwise."""
    try:
        return date.fromisoformat(text.strip())
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
    filled_orders: int = 0
    fees: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    #: orders the journal knows filled but not at what price: their volume cannot be counted
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
        self.filled_orders += other.filled_orders
        self.fees += other.fees
        self.realised_pnl += other.realised_pnl
        self.unpriced_orders += other.unpriced_orders

    def as_dict(self) -> dict[str, Any]:
        per_10k = self.cost_per_10k
        return {
            "venue": self.venue,
            "connector": self.connector,
            "volume": plain(self.volume),
            "filled_orders": self.filled_orders,
            "fees": plain(self.fees),
            "realised_pnl": plain(self.realised_pnl),
            "cost": plain(self.cost),
            "cost_per_10k": None if per_10k is None else plain(per_10k),
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
    """One cycle's figures per leg, from its journaled orders."""
    baseline = cycle.params.get("baseline", {})
    reference = (cycle.params.get("plan") or {}).get("reference_price")
    by_role: dict[str, list[OrderRecord]] = {}
    for order in cycle.orders:
        by_role.setdefault(order.role, []).append(order)
    figures = []
    for role, orders in by_role.items():
        stats = AccountStats(orders[0].intent.venue, orders[0].intent.connector)
        executions = []
        for order in orders:
            if order.filled_size == 0:
                continue
            stats.filled_orders += 1
            fee = order.fee or ZERO
            stats.fees += fee
            if order.average_price is None:
                stats.unpriced_orders += 1
                continue
            stats.volume += abs(order.filled_size * order.average_price)
            executions.append(Execution(order.signed_filled, order.average_price, fee))
        stats.realised_pnl = leg_pnl(
            executions,
            opening_size=Decimal(baseline.get(role, "0")),
            opening_price=None if reference is None else Decimal(reference),
        ).realised
        figures.append(stats)
    return figures


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
