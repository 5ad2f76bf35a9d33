"""The arithmetic of one side of a paper book: the venue's synthetic levels around its reference price, and how far
a taker's limit lets it walk them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hedgectl.sim.exchange.records import ZERO, Order, Side
from hedgectl.sim.market import BookShape, MarketRules, quantize_down, quantize_up


@dataclass
class Level:
    """A price level a taker can hit: synthetic liquidity (``maker`` None) or a resting account order."""

    price: Decimal
    quantity: Decimal
    maker: Order | None


def synthetic_levels(reference: Decimal, rules: MarketRules, shape: BookShape,
                     side: Side) -> list[tuple[Decimal, Decimal]]:
    """The venue's own liquidity on one side around ``reference``: BUY gives bids (best first), SELL gives asks."""
    levels: list[tuple[Decimal, Decimal]] = []
    for index in range(shape.levels):
        offset = shape.half_spread + index * shape.level_gap
        size = quantize_down(shape.level_size * (1 + index * shape.size_growth), rules.step_size)
        if side is Side.BUY:
            price = quantize_down(reference * (1 - offset), rules.tick_size)
        else:
            price = quantize_up(reference * (1 + offset), rules.tick_size)
        if levels and levels[-1][0] == price:
            levels[-1] = (price, levels[-1][1] + size)
        elif price > 0:
            levels.append((price, size))
    return levels


def within(level_price: Decimal, limit: Decimal, side: Side) -> bool:
    """Whether a taker on ``side`` bounded by ``limit`` may trade at ``level_price``."""
    return level_price <= limit if side is Side.BUY else level_price >= limit


def quantity_for_quote(ladder: list[Level], quote: Decimal, limit: Decimal | None, side: Side,
                       rules: MarketRules) -> Decimal:
    """The quantity, in steps, that ``quote`` of the quote currency buys or sells walking ``ladder`` up to ``limit``."""
    remaining_quote = quote
    quantity = ZERO
    for level in ladder:
        if limit is not None and not within(level.price, limit, side):
            break
        take = min(level.quantity, quantize_down(remaining_quote / level.price, rules.step_size))
        if take <= 0:
            break
        quantity += take
        remaining_quote -= take * level.price
    return quantity
