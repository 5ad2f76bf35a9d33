"""The hedge's plan as the preflight makes it: per leg the side, size, notional, margin, slippage bound and worst
acceptable price, estimated fee; and the checks on parameters and markets that refuse a plan before anything is sent.

The same checks run for ``--dry-run`` and for a real run, so a preview that passes is a run that starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedgectl.connectors.base import MarketRules, TopOfBook
from hedgectl.decimals import plain
from hedgectl.errors import PreflightFailed, UsageError
from hedgectl.model.orders import Side

#: The widest slippage bound accepted without ``--force``: 5 % of the touch. A bound is the price a market order may
#: walk to; above a few percent it no longer protects anything (a thin book fills far from the mark).
SLIPPAGE_CAP = Decimal("0.05")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class LegPlan:
    """One order of the plan as it would be sent, with what it costs."""

    role: str
    connector: str
    venue: str
    symbol: str
    side: Side
    size: Decimal
    reference_price: Decimal
    slippage: Decimal
    worst_price: Decimal | None  # None when the book has no touch on that side
    leverage: Decimal
    max_leverage: Decimal | None
    fee_rate: Decimal | None  # taker, as a fraction of notional; None when the venue does not publish it
    fee_source: str

    @property
    def notional(self) -> Decimal:
        return self.size * self.reference_price

    @property
    def margin(self) -> Decimal:
        return self.notional / self.leverage

    @property
    def estimated_fee(self) -> Decimal | None:
        return None if self.fee_rate is None else self.notional * self.fee_rate

    def as_dict(self) -> dict[str, Any]:
        fee = self.estimated_fee
        return {
            "role": self.role,
            "connector": self.connector,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side.value,
            "size": plain(self.size),
            "reference_price": plain(self.reference_price),
            "notional": plain(self.notional.quantize(CENT)),
            "leverage": plain(self.leverage),
            "max_leverage": None if self.max_leverage is None else plain(self.max_leverage),
            "margin": plain(self.margin.quantize(CENT)),
            "slippage": plain(self.slippage),
            "worst_price": None if self.worst_price is None else plain(self.worst_price),
            "fee_rate": None if self.fee_rate is None else plain(self.fee_rate),
            "estimated_fee": None if fee is None else plain(fee.quantize(Decimal("0.0001"))),
            "fee_source": self.fee_source,
        }


@dataclass
class HedgePlan:
    direction: str
    bp_side: Side
    size: Decimal
    l2_side: Side
    l2_size: Decimal | None
    wait_secs: float
    tolerance: Decimal
    leverage: Decimal
    rules: dict[str, MarketRules]
    price: Decimal
    legs: list[LegPlan] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        fees = [leg.estimated_fee for leg in self.legs]
        return {
            "direction": self.direction,
            "size": plain(self.size),
            "l2_side": self.l2_side.value,
            "l2_size": None if self.l2_size is None else plain(self.l2_size),
            "wait_secs": round(self.wait_secs, 3),
            "tolerance": plain(self.tolerance),
            "leverage": plain(self.leverage),
            "reference_price": plain(self.price),
            "legs": [leg.as_dict() for leg in self.legs],
            "estimated_fees": None if not fees or None in fees else plain(sum(fees, Decimal(0)).quantize(CENT)),
            "checks": list(self.checks),
        }


def worst_price(book: TopOfBook, side: Side, slippage: Decimal, rules: MarketRules) -> Decimal | None:
    """The worst price the leg's order would accept (``MarketRules.worst_price``) from the touch it would meet; a
    preview of a book without that touch uses its mid, where the order itself would be refused."""
    touch = (book.ask if side is Side.BUY else book.bid) or book.mid
    return None if touch is None else rules.worst_price(touch, slippage, side)


def check_leverage(leverage: Decimal, markets: Mapping[str, tuple[str, MarketRules]]) -> str:
    """Refuse a leverage above any leg's market maximum, naming the tightest one; returns the check as passed.
    ``markets``: role -> (connector name, rules)."""
    published = sorted(
        ((rules.max_leverage, role, connector, rules.symbol) for role, (connector, rules) in markets.items()
         if rules.max_leverage is not None),
        key=lambda item: (item[0], item[1]),
    )
    if published and leverage > published[0][0]:
        maximum, role, connector, symbol = published[0]
        raise PreflightFailed(
            f"leverage {plain(leverage)}x is above the maximum of {connector}'s {symbol} market ({plain(maximum)}x, "
            f"role {role}); use --leverage {plain(maximum)} or less"
        )
    known = ", ".join(f"{connector} {plain(maximum)}x" for maximum, _, connector, _ in published)
    return f"leverage {plain(leverage)}x within every market's maximum ({known or 'none published'})"


def check_min_notional(legs: Iterable[LegPlan], rules: Mapping[str, MarketRules]) -> None:
    """Refuse a leg whose order value is under its market's minimum notional."""
    for leg in legs:
        minimum = rules[leg.role].min_notional
        if minimum and leg.notional < minimum:
            raise PreflightFailed(
                f"{leg.connector}: {plain(leg.size)} {leg.symbol} at {plain(leg.reference_price)} is worth "
                f"{plain(leg.notional.quantize(CENT))}, below the market's minimum order value {plain(minimum)}"
            )


def check_slippage(slippage: Mapping[str, Decimal], *, force: bool) -> None:
    """Refuse a slippage bound above SLIPPAGE_CAP unless the operator forces it."""
    if force:
        return
    for venue, value in sorted(slippage.items()):
        if value > SLIPPAGE_CAP:
            raise UsageError(
                f"slippage bound for {venue} is {plain(value * 100)} %, above the cap of {plain(SLIPPAGE_CAP * 100)} %"
                " (pass --force to use it anyway)"
            )


def check_names(values: Iterable[str], known: Iterable[str], *, option: str, kind: str) -> None:
    """Refuse names that are not known (a venue in ``--slippage``), listing the known ones."""
    known = sorted(set(known))
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UsageError(f"{option}: unknown {kind} {', '.join(repr(u) for u in unknown)} ({kind}s: {', '.join(known)})")


__all__ = [
    "SLIPPAGE_CAP",
    "HedgePlan",
    "LegPlan",
    "check_leverage",
    "check_min_notional",
    "check_names",
    "check_slippage",
    "worst_price",
]
