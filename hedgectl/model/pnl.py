"""A leg's PnL from its executions: realised for what was closed, and what is still open valued at the mark.

Fills are counted at average cost: a fill that adds to the position moves the average entry price, one that reduces
it realises (exit - entry) x closed size. Every fee is a realised cost. What is left open is never counted as
realised PnL: it is reported as an open size with its entry, its mark value and its unrealised PnL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.decimals import ZERO, plain

PNL_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class Execution:
    """One fill as PnL needs it: signed size (positive bought), price, fee paid."""

    signed_size: Decimal
    price: Decimal
    fee: Decimal = ZERO


@dataclass(frozen=True)
class LegPnl:
    realised: Decimal  # closed part, fees included
    open_size: Decimal  # signed
    entry_price: Decimal | None  # average entry of what is open
    mark_price: Decimal | None = None

    @property
    def mark_value(self) -> Decimal | None:
        """The open position's signed value at the mark (positive long)."""
        return None if self.mark_price is None else self.open_size * self.mark_price

    @property
    def unrealised(self) -> Decimal | None:
        if self.mark_price is None or self.entry_price is None:
            return None
        return self.open_size * (self.mark_price - self.entry_price)

    def open_dict(self) -> dict[str, Any]:
        def text(value: Decimal | None, quantum: Decimal | None = None) -> str | None:
            if value is None:
                return None
            return plain(value.quantize(quantum) if quantum is not None else value)

        return {
            "size": plain(self.open_size),
            "entry_price": text(self.entry_price, PNL_QUANTUM),
            "mark_price": text(self.mark_price),
            "mark_value": text(self.mark_value, Decimal("0.01")),
            "unrealised_pnl": text(self.unrealised, PNL_QUANTUM),
        }


@dataclass(frozen=True)
class Traded:
    """What a leg traded: quote volume (|size x price| summed over both sides), fees paid and number of fills."""

    volume: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"volume": plain(self.volume), "fees": plain(self.fees), "fills": self.fills}


def traded(executions: Iterable[Execution]) -> Traded:
    """The volume, fees and fill count of ``executions`` (a fill of size zero counts for its fee alone)."""
    volume = fees = ZERO
    fills = 0
    for execution in executions:
        volume += abs(execution.signed_size * execution.price)
        fees += execution.fee
        fills += 1 if execution.signed_size else 0
    return Traded(volume, fees, fills)


def leg_pnl(
    executions: Iterable[Execution],
    *,
    opening_size: Decimal = ZERO,
    opening_price: Decimal | None = None,
    mark_price: Decimal | None = None,
) -> LegPnl:
    """Realised PnL and the open remainder of a leg that held ``opening_size`` at ``opening_price`` before
    ``executions``. An opening position without a known price is carried at the first execution's price."""
    size = opening_size
    entry = opening_price
    realised = ZERO
    for execution in executions:
        realised -= execution.fee
        quantity = execution.signed_size
        if quantity == 0:
            continue
        if entry is None:
            entry = execution.price
        if size == 0 or (size > 0) == (quantity > 0):
            entry = (entry * abs(size) + execution.price * abs(quantity)) / (abs(size) + abs(quantity))
            size += quantity
            continue
        closed = min(abs(quantity), abs(size))
        realised += closed * (execution.price - entry) * (1 if size > 0 else -1)
        size += quantity
        if size == 0:
            entry = None
        elif (size > 0) == (quantity > 0):  # went through zero: the rest opens at this price
            entry = execution.price
    return LegPnl(
        realised=realised.quantize(PNL_QUANTUM),
        open_size=size,
        entry_price=entry if size != 0 else None,
        mark_price=mark_price if size != 0 else None,
    )


__all__ = ["Execution", "LegPnl", "Traded", "leg_pnl", "traded"]
