"""Paper Backpack's request parameters: parsing a signed request's JSON or query values as the venue does, with its
error answers for what does not parse."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from hedgectl.sim.backpack.wire import RawNumber, bad_request, parse_error
from hedgectl.sim.exchange.records import Fill, TradeKind

UINT32_MAX = 2**32 - 1


def optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def choice(params: dict[str, Any], name: str, choices: dict[str, Any], *, required: bool = False) -> Any:
    value = params.get(name)
    if value is None:
        if required:
            raise parse_error(f"missing field `{name}`")
        return None
    if isinstance(value, RawNumber) or str(value) not in choices:
        raise parse_error(f"{name}: unknown variant `{value}`, expected one of {', '.join(choices)}")
    return choices[str(value)]


def boolean(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise parse_error(f"{name}: invalid type, expected a boolean")


def decimal_param(params: dict[str, Any], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        raise parse_error(f"{name}: invalid type, expected a decimal")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise parse_error(f"{name}: invalid decimal `{value}`") from None
    if not number.is_finite():
        raise parse_error(f"{name}: invalid decimal `{value}`")
    return number


def client_id_param(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value)
    if isinstance(value, bool) or not text.isdigit():
        raise parse_error(f"clientId: invalid value `{text}`, expected u32")
    number = int(text)
    if number > UINT32_MAX:
        raise parse_error(f"clientId: invalid value `{text}`, expected u32")
    return number


def int_param(params: Any, name: str, default: int | None, *, maximum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    text = str(value)
    if not text.lstrip("-").isdigit():
        raise bad_request(f"Invalid {name}")
    number = int(text)
    if maximum is not None and number > maximum:
        raise bad_request(f"{name} must not exceed {maximum}")
    return number


def page(items: list[Any], params: Any) -> list[Any]:
    limit = int_param(params, "limit", 100, maximum=1000)
    offset = int_param(params, "offset", 0)
    return items[offset:offset + limit]


def fill_type_matches(fill: Fill, fill_type: str | None) -> bool:
    if not fill_type:
        return True
    if fill_type == "User":
        return fill.kind is TradeKind.TRADE
    if "Liquidation" in fill_type:
        return fill.kind is TradeKind.LIQUIDATION
    return False
