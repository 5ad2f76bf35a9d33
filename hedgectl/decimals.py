"""Decimal helpers: parsing, quantizing to a venue's step or tick, and formatting without exponents.

Money and sizes never touch float inside hedgectl; a float that arrives from outside (a number typed into Python,
a JSON number) is converted through its shortest repr, so 0.1 + 0.2 becomes Decimal("0.30000000000000004") and is
then quantized to the step like any other value.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation

ZERO = Decimal(0)

__all__ = [
    "ZERO",
    "to_decimal",
    "quantize",
    "quantize_down",
    "plain",
    "decimals_of",
    "step_of_decimals",
    "significant",
    "is_multiple",
    "ROUND_DOWN",
    "ROUND_UP",
    "ROUND_FLOOR",
    "ROUND_CEILING",
    "ROUND_HALF_EVEN",
]


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Parse a str, int, Decimal or float into a finite Decimal; raise ValueError naming ``what`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{what} is not a number: {value!r}") from None
    else:
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return result


def quantize(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``value`` to a multiple of ``step`` (which need not be a power of ten), with the given rounding."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step) if step.as_tuple().exponent < 0 else units * step


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """Round the magnitude of ``value`` down to a multiple of ``step`` (never sends more than asked)."""
    return quantize(value, step, ROUND_DOWN)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is an exact multiple of ``step``."""
    return (value % step) == 0


def plain(value: Decimal) -> str:
    """Format without exponent and without trailing zeros: Decimal("1E+2") -> "100", Decimal("0.3000") -> "0.3"."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def decimals_of(step: Decimal) -> int:
    """Number of decimal places a step needs: 0.0001 -> 4, 0.5 -> 1, 1 -> 0, 10 -> 0."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def step_of_decimals(decimals: int) -> Decimal:
    """The step of a market quoted with ``decimals`` places: 4 -> Decimal("0.0001")."""
    return Decimal(1).scaleb(-decimals)


def significant(value: Decimal, digits: int = 10) -> Decimal:
    """``value`` rounded to ``digits`` significant digits, for display (an average price of a walk of the book)."""
    if value == 0 or not value.is_finite():
        return value
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent)) if exponent < 0 else value
