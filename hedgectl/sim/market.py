"""The shared paper market: per-symbol seeded mid-price random walks, and the per-venue market rules and book shapes.

Every paper venue quotes around the same mids (plus its own basis), so a hedge between venues sees correlated prices.
All randomness in the paper venues derives from the one seed given to ``Market``.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

logger = logging.getLogger(__name__)

MID_QUANTUM = Decimal("0.00000001")


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``value`` (for a positive step), exponent of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def quantize_up(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` not below ``value``, exponent of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is an exact multiple of ``step``."""
    return (value % step) == 0


def plain(value: Decimal | None) -> str | None:
    """A Decimal as plain decimal text (never exponent notation); None stays None."""
    if value is None:
        return None
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class MarketRules:
    """One venue's trading rules for one perpetual market.

    ``symbol`` is the venue's own name for it (``ETH_USDC_PERP`` or ``ETH``); ``base`` ties it to the shared mid.
    Fees and margin fractions are plain fractions (0.0005 = 5 bps; 0.02 = 2% = 50x).
    """

    symbol: str
    base: str
    step_size: Decimal
    tick_size: Decimal
    min_quantity: Decimal
    taker_fee: Decimal
    maker_fee: Decimal
    initial_margin_fraction: Decimal
    maintenance_margin_fraction: Decimal
    market_id: int | None = None
    min_notional: Decimal = Decimal("0")
    max_price: Decimal = Decimal("10000000")

    @property
    def size_decimals(self) -> int:
        """Digits after the point of the step size (Lighter's ``size_decimals``)."""
        return max(0, -self.step_size.normalize().as_tuple().exponent)

    @property
    def price_decimals(self) -> int:
        """Digits after the point of the tick size (Lighter's ``price_decimals``)."""
        return max(0, -self.tick_size.normalize().as_tuple().exponent)

    @property
    def max_leverage(self) -> Decimal:
        return (Decimal(1) / self.initial_margin_fraction).to_integral_value(rounding=ROUND_DOWN)


@dataclass(frozen=True)
class BookShape:
    """How a venue's synthetic liquidity sits around its reference price for one symbol.

    Level ``i`` (0-based) sits at ``reference * (1 +/- (half_spread + i * level_gap))`` rounded outward to the tick,
    with ``level_size * (1 + i * size_growth)`` base units.
    """

    levels: int = 10
    half_spread: Decimal = Decimal("0.0001")
    level_gap: Decimal = Decimal("0.0002")
    level_size: Decimal = Decimal("1")
    size_growth: Decimal = Decimal("0.5")


@dataclass(frozen=True)
class SymbolSpec:
    """A base asset of the shared market: its starting mid and per-step volatility (a fraction, e.g. 0.0005)."""

    base: str
    initial_mid: Decimal
    volatility: Decimal


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("ETH", Decimal("3500"), Decimal("0.0005")),
    SymbolSpec("BTC", Decimal("100000"), Decimal("0.0004")),
    SymbolSpec("SOL", Decimal("180"), Decimal("0.0008")),
)

BACKPACK_RULES: dict[str, MarketRules] = {
    rules.symbol: rules
    for rules in (
        MarketRules("ETH_USDC_PERP", "ETH", Decimal("0.0001"), Decimal("0.01"), Decimal("0.001"),
                    Decimal("0.0005"), Decimal("0.0002"), Decimal("0.02"), Decimal("0.0125"),
                    max_price=Decimal("100000")),
        MarketRules("BTC_USDC_PERP", "BTC", Decimal("0.00001"), Decimal("0.1"), Decimal("0.0001"),
                    Decimal("0.0005"), Decimal("0.0002"), Decimal("0.02"), Decimal("0.0125"),
                    max_price=Decimal("1000000")),
        MarketRules("SOL_USDC_PERP", "SOL", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"),
                    Decimal("0.0005"), Decimal("0.0002"), Decimal("0.02"), Decimal("0.0125"),
                    max_price=Decimal("10000")),
    )
}

LIGHTER_RULES: dict[str, MarketRules] = {
    rules.symbol: rules
    for rules in (
        MarketRules("ETH", "ETH", Decimal("0.0001"), Decimal("0.01"), Decimal("0.005"),
                    Decimal("0"), Decimal("0"), Decimal("0.05"), Decimal("0.03"), market_id=0,
                    min_notional=Decimal("10")),
        MarketRules("BTC", "BTC", Decimal("0.00001"), Decimal("0.1"), Decimal("0.0002"),
                    Decimal("0"), Decimal("0"), Decimal("0.05"), Decimal("0.03"), market_id=1,
                    min_notional=Decimal("10")),
        MarketRules("SOL", "SOL", Decimal("0.001"), Decimal("0.001"), Decimal("0.05"),
                    Decimal("0"), Decimal("0"), Decimal("0.05"), Decimal("0.03"), market_id=2,
                    min_notional=Decimal("10")),
    )
}

DEFAULT_BOOK_SHAPES: dict[str, BookShape] = {
    "ETH": BookShape(level_size=Decimal("2")),
    "BTC": BookShape(level_size=Decimal("0.1")),
    "SOL": BookShape(level_size=Decimal("40")),
}


def derived_seed(seed: int, name: str) -> int:
    """A stable 64-bit seed for the stream ``name`` derived from the root ``seed``."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class Market:
    """The shared mid prices of every base asset, advanced by a seeded random walk.

    ``advance()`` moves every mid one step; the runner calls it on a timer, tests call it directly. ``shock()`` moves
    one or all mids by a percentage at once. Listeners registered with ``subscribe`` (the venues' exchanges) are
    called after every change so that resting orders fill and under-margined accounts are liquidated.
    """

    seed: int = 0
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS
    volatility_scale: Decimal = Decimal("1")
    mids: dict[str, Decimal] = field(init=False)
    steps: int = field(init=False, default=0)
    _walk: random.Random = field(init=False, repr=False)
    _listeners: list[Callable[[], None]] = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.mids = {spec.base: spec.initial_mid for spec in self.symbols}
        self._walk = self.rng("mid-walk")

    def rng(self, name: str) -> random.Random:
        """An independent random stream named ``name``, deterministic for this market's seed."""
        return random.Random(derived_seed(self.seed, name))

    def mid(self, base: str) -> Decimal:
        try:
            return self.mids[base]
        except KeyError:
            raise KeyError(f"unknown base asset {base!r}") from None

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every price change."""
        self._listeners.append(listener)

    def advance(self, steps: int = 1) -> None:
        """Move every mid ``steps`` random-walk steps (each a Gaussian return scaled by the symbol's volatility)."""
        for _ in range(steps):
            for spec in self.symbols:
                shock = Decimal(repr(self._walk.gauss(0.0, 1.0))) * spec.volatility * self.volatility_scale
                self._set_mid(spec.base, self.mids[spec.base] * (1 + shock))
            self.steps += 1
        self._notify()

    def shock(self, percent: Decimal, base: str | None = None) -> None:
        """Move the mid of ``base`` (or of every base when None) by ``percent`` percent, e.g. -10 for a 10% drop."""
        bases = [base] if base is not None else list(self.mids)
        for name in bases:
            self._set_mid(name, self.mid(name) * (1 + percent / 100))
        logger.info("price shock %s%% on %s", percent, ",".join(bases))
        self._notify()

    def set_mid(self, base: str, price: Decimal) -> None:
        """Put the mid of ``base`` at ``price`` exactly (tests and state restore)."""
        self.mid(base)
        self._set_mid(base, price)
        self._notify()

    def _set_mid(self, base: str, price: Decimal) -> None:
        floor = MID_QUANTUM * 1000
        self.mids[base] = max(price, floor).quantize(MID_QUANTUM)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
