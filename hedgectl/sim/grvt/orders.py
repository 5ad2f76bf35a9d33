"""Paper GRVT's orders as the venue shows them: the record of an accepted order, its status and its JSON."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgectl.sim.exchange.records import OPEN_STATUSES, CancelReason, Order, OrderStatus
from hedgectl.sim.grvt.wire import NANOS_PER_MS, decimal_field, num_text, price_text


@dataclass
class OrderRecord:
    """An accepted order as the venue shows it; its state follows the engine order (None when it never reached the
    matching engine, e.g. fenced by a cancel's time-to-live)."""

    order_id: str
    account: str
    client_order_id: str
    document: dict[str, Any]
    created_ns: int
    engine_order: Order | None = None
    fixed_state: tuple[str, str] = ("CANCELLED", "CLIENT_CANCEL")
    bulk_cancelled: bool = False
    is_market: bool = False


def order_status(record: OrderRecord) -> tuple[str, str]:
    """``(status, reject_reason)`` of a record, from its engine order."""
    order = record.engine_order
    if order is None:
        return record.fixed_state
    if order.status in OPEN_STATUSES:
        return "OPEN", "UNSPECIFIED"
    if order.status is OrderStatus.FILLED:
        return "FILLED", "UNSPECIFIED"
    reason = order.cancel_reason
    nothing = order.executed_quantity == 0
    if reason is CancelReason.USER:
        return "CANCELLED", "CLIENT_BULK_CANCEL" if record.bulk_cancelled else "CLIENT_CANCEL"
    if reason is CancelReason.POST_ONLY_TAKER:
        return "REJECTED", "FAIL_POST_ONLY"
    if reason is CancelReason.REDUCE_ONLY:
        return ("REJECTED", "FAIL_REDUCE_ONLY") if nothing else ("CANCELLED", "REDUCE_ONLY_LIMIT")
    if reason is CancelReason.INSUFFICIENT_MARGIN:
        return "REJECTED", "BELOW_MARGIN"
    if reason is CancelReason.LIQUIDATION:
        return "CANCELLED", "LIQUIDATION"
    if reason is CancelReason.FILL_OR_KILL:
        return "CANCELLED", "FOK_CANCEL"
    return "CANCELLED", "MARKET_CANCEL" if record.is_market else "IOC_CANCEL"


def order_document(record: OrderRecord, *, pending: bool = False) -> dict[str, Any]:
    """The record as the venue shows it; ``pending`` gives the create answer (accepted, not yet matched)."""
    document = copy.deepcopy(record.document)
    order = record.engine_order
    size = decimal_field(document["legs"][0]["size"])
    document["metadata"]["create_time"] = str(record.created_ns)
    if pending:
        document["order_id"] = "0x00"
        status, reason, booked, traded, average = "PENDING", "UNSPECIFIED", size, Decimal(0), None
    else:
        document["order_id"] = record.order_id
        status, reason = order_status(record)
        traded = order.executed_quantity if order is not None else Decimal(0)
        booked = order.remaining if order is not None and order.is_open else Decimal(0)
        average = order.average_price if order is not None else None
    document["state"] = {
        "status": status,
        "reject_reason": reason,
        "book_size": [num_text(booked)],
        "traded_size": [num_text(traded)],
        "update_time": str(order.updated_ms * NANOS_PER_MS if order is not None and not pending
                           else record.created_ns),
        "avg_fill_price": [price_text(average)],
    }
    return document
