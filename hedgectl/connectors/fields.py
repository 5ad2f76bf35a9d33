"""Reading numbers out of venue documents: a missing or malformed field is a VenueProtocolError, never a zero."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from hedgectl.errors import VenueProtocolError


def decimal_field(
    document: dict[str, Any], key: str, *, venue: str, required: bool = False, default: Decimal | None = None
) -> Decimal | None:
    """The decimal at ``document[key]`` (a decimal string or a JSON number); ``default`` when absent and not
    ``required``. Booleans, non-numbers and non-finite values are refused."""
    value = document.get(key)
    if value is None or value == "":
        if required:
            raise VenueProtocolError(f"field {key!r} missing from the venue's answer ({sorted(document)})",
                                     venue=venue)
        return default
    if isinstance(value, bool):
        raise VenueProtocolError(f"field {key!r} is not a number: {value!r}", venue=venue)
    try:
        # a JSON number arrives as float: its repr is the shortest text that round-trips
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise VenueProtocolError(f"field {key!r} is not a number: {value!r}", venue=venue) from None
    if not result.is_finite():
        raise VenueProtocolError(f"field {key!r} is not finite: {value!r}", venue=venue)
    return result
