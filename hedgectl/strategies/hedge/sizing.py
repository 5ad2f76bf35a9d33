"""Choosing one base size that every venue accepts: a multiple of every step, at or above every minimum."""

from __future__ import annotations

import math
from decimal import Decimal

from hedgectl.connectors.base import MarketRules
from hedgectl.decimals import decimals_of, plain, quantize_down
from hedgectl.errors import UsageError


def common_step(steps: list[Decimal]) -> Decimal:
    """The least common multiple of the venues' size steps (0.0001 and 0.001 -> 0.001; 0.02 and 0.05 -> 0.1)."""
    places = max(decimals_of(step) for step in steps)
    scale = Decimal(10) ** places
    integers = [int(step * scale) for step in steps]
    lcm = 1
    for value in integers:
        lcm = lcm * value // math.gcd(lcm, value)
    return Decimal(lcm) / scale


def common_size(size: Decimal, rules: list[MarketRules]) -> Decimal:
    """Round ``size`` down to the common step; refuse it (UsageError) if that falls under any venue's minimum."""
    step = common_step([r.step_size for r in rules])
    quantized = quantize_down(size, step)
    minimum = max(r.min_size for r in rules)
    if quantized <= 0 or quantized < minimum:
        detail = ", ".join(f"{r.symbol} min {plain(r.min_size)} step {plain(r.step_size)}" for r in rules)
        raise UsageError(
            f"size {plain(size)} rounds to {plain(quantized)}, below what every venue accepts ({detail})"
        )
    return quantized


def size_from_collateral(
    collateral: Decimal, leverage: Decimal, safety_factor: Decimal, price: Decimal
) -> Decimal:
    """The old bot's sizing: Lighter collateral x leverage x safety factor / price (base units, unrounded)."""
    if price <= 0:
        raise UsageError("cannot size from collateral without a positive price")
    return collateral * leverage * safety_factor / price
