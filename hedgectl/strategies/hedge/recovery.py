"""Recovering hedge cycles a crash left unresolved: reconcile the journal with the venues, then flatten or hedge.

For each unresolved cycle whose accounts no running process holds: every order whose outcome the journal does not
know is looked up at its venue by client order index and the answer recorded; resting orders are cancelled; the
positions are read; then either every leg is flattened (the default, and what ``--yes`` does unattended) or the
open exposure is hedged (BP brought to -(L1 + L2), or L1 to -BP when neither Lighter leg holds anything). The cycle
is marked resolved only when the venues end flat or hedged within tolerance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedgectl import locks
from hedgectl.clock import SYSTEM_CLOCK, Clock
from hedgectl.connectors.base import Connector, OrderReport
from hedgectl.decimals import ZERO, plain, quantize_down
from hedgectl.errors import LockHeld, OrderStateError, VenueError
from hedgectl.execution.flatten import flatten_attempts, flatten_position, read_position
from hedgectl.model.orders import OrderIntent, OrderState, Side, TERMINAL_STATES
from hedgectl.journal import CycleRecord, Journal, OrderRecord
from hedgectl.connectors.factory import ConnectorSet

logger = logging.getLogger(__name__)

ACTIONS = ("flatten", "hedge")
#: How long reconciliation keeps asking about an order the venue has no trace of while the leg's position differs
#: from the journal's (the venue's records may trail its engine), and how often.
RECORDS_SETTLE_SECS = 30.0
RECORDS_POLL_SECS = 1.0


@dataclass
class RecoveryReport:
    cycle_id: str
    phase: str
    action: str
    resolved: bool = False
    skipped: str | None = None
    orders: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, str | None] = field(default_factory=dict)
    after: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "phase": self.phase,
            "action": self.action,
            "resolved": self.resolved,
            "skipped": self.skipped,
            "orders": self.orders,
            "before": self.before,
            "after": self.after,
            "problems": self.problems,
        }


async def recover_all(
    journal: Journal, connectors: ConnectorSet, *, data_dir: Path, action: str = "flatten"
) -> list[RecoveryReport]:
    """Recover every unresolved cycle of the journal; cycles still held by a running process are skipped."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}")
    reports = []
    for cycle in journal.unresolved_cycles():
        reports.append(await recover_cycle(journal, connectors, cycle, data_dir=data_dir, action=action))
    return reports


async def recover_cycle(
    journal: Journal, connectors: ConnectorSet, cycle: CycleRecord, *, data_dir: Path, action: str
) -> RecoveryReport:
    report = RecoveryReport(cycle_id=cycle.id, phase=cycle.phase, action=action)
    try:
        held = locks.acquire_all(data_dir, list(cycle.accounts.values()), purpose="hedge recover")
    except LockHeld as exc:
        report.skipped = f"still running: {exc}"
        return report
    try:
        return await _recover_held_cycle(journal, connectors, cycle, action, report)
    except VenueError as exc:
        # a venue that cannot be reached leaves this cycle unresolved; the others are still recovered
        report.problems.append(f"venue error: {exc}")
        return report
    finally:
        for lock in held:
            lock.release()


async def _recover_held_cycle(
    journal: Journal, connectors: ConnectorSet, cycle: CycleRecord, action: str, report: RecoveryReport
) -> RecoveryReport:
    legs = cycle.params.get("legs", {})
    connected: dict[str, tuple[Connector, str]] = {}
    for role, leg in legs.items():
        connector = await connectors.get(leg["connector"])
        if connector.account_id() != cycle.accounts.get(role):
            report.problems.append(
                f"{role}: connector {leg['connector']} now points at another account than the cycle used"
            )
            return report
        await connector.prepare(leg["symbol"])
        connected[role] = (connector, leg["symbol"])
    changed, problems = await reconcile_orders(journal, cycle, connected, clock=connectors.clock)
    report.orders += changed
    report.problems += problems
    await _cancel_resting(connected, report)
    before = await _positions(connected, report)
    if before is None:
        return report
    report.before = {role: plain(size) for role, size in before.items()}
    tolerance = _tolerance(cycle, connected)
    if action == "flatten":
        after = await _flatten(journal, cycle, connected, report)
    else:
        after = await _hedge(journal, cycle, connected, before, tolerance, report)
    if after is None:
        return report
    report.after = {role: plain(size) for role, size in after.items()}
    net = sum(after.values(), ZERO)
    flat = all(size == 0 for size in after.values())
    if flat or (action == "hedge" and abs(net) <= tolerance):
        outcome = "recovered_flat" if flat else "recovered_hedged"
        journal.mark_resolved(cycle.id, outcome=outcome, result={"recovery": report.as_dict()})
        report.resolved = True
    else:
        report.problems.append(f"venues still hold {report.after} (net {plain(net)})")
        journal.record_event(cycle.id, "recovery_incomplete", report=report.as_dict())
    return report


def _tolerance(cycle: CycleRecord, connected: dict[str, tuple[Connector, str]]) -> Decimal:
    plan_tolerance = cycle.params.get("plan", {}).get("tolerance")
    if plan_tolerance is not None:
        return Decimal(plan_tolerance)
    steps = [c.cached_market_rules(s).step_size for c, s in connected.values() if c.cached_market_rules(s)]
    return max(steps) if steps else Decimal(0)


async def reconcile_orders(
    journal: Journal,
    cycle: CycleRecord,
    connected: dict[str, tuple[Connector, str]],
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Ask the venues about every order of ``cycle`` whose outcome the journal does not know, by client order index,
    and record the answers. Returns the orders changed and the problems (orders whose venue could not be asked).

    An order the venue has no trace of is "never landed" only once it is older than its connector's
    ``landing_horizon_secs``; a younger one (a crash just after the send) is asked about again when it is that old,
    so that a request still in flight lands before the positions are read.
    """
    changed: list[dict[str, Any]] = []
    pending = [order for order in cycle.orders if order.state not in TERMINAL_STATES]
    answers: dict[int, OrderReport | None] = {}
    errors: dict[int, str] = {}  # orders whose venue could not be asked the last time: they stay unknown
    await _ask(pending, connected, answers, errors)

    def age(order: OrderRecord) -> float:
        return clock.now() - order.created_at

    def horizon(order: OrderRecord) -> float:
        return connected[order.role][0].landing_horizon_secs

    young = [order for order in pending if order.id in answers and answers[order.id] is None
             and age(order) < horizon(order)]
    if young:
        wait = max(horizon(order) - age(order) for order in young)
        logger.info("%d order(s) not at the venue yet, sent %.1fs ago or less: asking again in %.1fs",
                    len(young), max(age(order) for order in young), wait)
        await clock.sleep(max(wait, 0.0))
        await _ask(young, connected, answers, errors)
    # Absence past the horizon is proof only if the venue's records are current. A leg whose position differs from
    # what the journal's known fills make it may have an absent order that ran and is not listed yet: ask again.
    settle_deadline = clock.monotonic() + RECORDS_SETTLE_SECS
    while True:
        absent = [order for order in pending if order.id in answers and answers[order.id] is None]
        disagreeing = await _disagreeing_legs(cycle, connected, {order.role for order in absent})
        waiting = [order for order in absent if order.role in disagreeing]
        if not waiting or clock.monotonic() >= settle_deadline:
            break
        await clock.sleep(RECORDS_POLL_SECS)
        await _ask(waiting, connected, answers, errors)
    for order in pending:
        if order.id not in answers:
            continue
        venue_order = answers[order.id]
        if venue_order is None:
            state, filled, price, reason = OrderState.FAILED, ZERO, None, "not at the venue: never landed"
            if order.role in disagreeing:  # a liquidation, or records trailing longer than we waited
                reason += f" (but {disagreeing[order.role]})"
                logger.warning("order %d on %s: no trace of it at the venue after %.0fs, yet %s",
                               order.intent.client_order_index, order.intent.connector, RECORDS_SETTLE_SECS,
                               disagreeing[order.role])
        else:
            filled = venue_order.filled_size
            price = venue_order.average_price
            if not venue_order.done:
                state = OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.OPEN
                reason = f"resting at the venue ({venue_order.status})"
            elif filled >= order.intent.size:
                state, reason = OrderState.FILLED, f"venue: {venue_order.status}"
            else:
                state, reason = OrderState.CANCELLED, f"venue: {venue_order.status}"
        try:
            if not journal.resolve_order(order.id, state=state, filled_size=filled, average_price=price,
                                         reason=reason):
                continue  # its own confirmation settled it from the venue meanwhile
        except OrderStateError as exc:
            # the venue's answer contradicts what the journal knows (fills of an order it now has no trace of):
            # the order stays as journaled and the cycle unresolved, for the operator to look at
            errors[order.id] = f"order {order.intent.client_order_index} on {order.intent.connector}: {exc}"
            continue
        changed.append(
            {
                "client_order_index": order.intent.client_order_index,
                "connector": order.intent.connector,
                "was": order.state.value,
                "now": state.value,
                "filled": plain(filled),
            }
        )
    return changed, list(errors.values())


async def _disagreeing_legs(cycle: CycleRecord, connected: dict[str, tuple[Connector, str]],
                            roles: set[str]) -> dict[str, str]:
    """Of ``roles``, the legs whose venue position differs from the journal's (baseline plus known fills), each
    with what differs; a leg whose position cannot be read counts as differing."""
    differing: dict[str, str] = {}
    for role in sorted(roles):
        connector, symbol = connected[role]
        expected = cycle.position_by_journal(role)
        try:
            held = (await read_position(connector, symbol)).signed_size
        except VenueError as exc:
            differing[role] = f"the position cannot be read ({exc})"
            continue
        if held != expected:
            differing[role] = f"the venue holds {plain(held)} where the journal's fills make {plain(expected)}"
    return differing


async def _ask(orders: list[OrderRecord], connected: dict[str, tuple[Connector, str]],
               answers: dict[int, OrderReport | None], errors: dict[int, str]) -> None:
    """Ask the venue about each order by client order index: its report (None: no trace of it) goes into
    ``answers`` by journal id; an order whose venue could not be asked leaves ``answers`` (an earlier answer is not
    trusted past a failed ask) and its error goes into ``errors``."""
    for order in orders:
        connector, _ = connected[order.role]
        try:
            answers[order.id] = await connector.find_order(order.intent.symbol, order.intent.client_order_index)
        except VenueError as exc:
            answers.pop(order.id, None)
            errors[order.id] = f"order {order.intent.client_order_index} on {order.intent.connector}: {exc}"
        else:
            errors.pop(order.id, None)


async def _cancel_resting(connected: dict[str, tuple[Connector, str]], report: RecoveryReport) -> None:
    for role, (connector, symbol) in connected.items():
        try:
            await connector.cancel_all(symbol)
        except VenueError as exc:
            report.problems.append(f"{role}: cancelling resting orders failed: {exc}")


async def _positions(
    connected: dict[str, tuple[Connector, str]], report: RecoveryReport
) -> dict[str, Decimal] | None:
    sizes: dict[str, Decimal] = {}
    for role, (connector, symbol) in connected.items():
        try:
            sizes[role] = (await read_position(connector, symbol)).signed_size
        except VenueError as exc:
            report.problems.append(f"{role}: position unknown: {exc}")
    return sizes if len(sizes) == len(connected) else None


def _journal_hook(journal: Journal, cycle_id: str, role: str):
    def hook(intent: OrderIntent):
        order_id = journal.record_intent(cycle_id, role=role, purpose="recover", intent=intent)
        return [journal.order_listener(order_id)]

    return hook


async def _flatten(
    journal: Journal, cycle: CycleRecord, connected: dict[str, tuple[Connector, str]], report: RecoveryReport
) -> dict[str, Decimal] | None:
    async def one(role: str):
        connector, symbol = connected[role]
        return role, await flatten_position(connector, symbol, attempts=flatten_attempts(0),
                                            on_intent=_journal_hook(journal, cycle.id, role))

    results = dict(await asyncio.gather(*(one(role) for role in connected)))
    for role, result in results.items():
        report.problems += [f"{role}: {error}" for error in result.errors]
    if any(result.after is None for result in results.values()):
        return None
    return {role: result.after for role, result in results.items()}


async def _hedge(
    journal: Journal,
    cycle: CycleRecord,
    connected: dict[str, tuple[Connector, str]],
    before: dict[str, Decimal],
    tolerance: Decimal,
    report: RecoveryReport,
) -> dict[str, Decimal] | None:
    net = sum(before.values(), ZERO)
    if abs(net) <= tolerance:
        return before
    # the leg that absorbs the exposure: BP when a Lighter leg holds something, else L1 hedges BP
    role = "BP" if (before.get("L1") or before.get("L2")) else "L1"
    connector, symbol = connected[role]
    rules = connector.cached_market_rules(symbol)
    size = quantize_down(abs(net), rules.step_size)
    if size > 0:
        side = Side.SELL if net > 0 else Side.BUY
        current = before[role]
        reduces = current != 0 and (side is Side.SELL) == (current > 0) and size <= abs(current)
        try:
            intent = await connector.build_intent(symbol, side, size, reduce_only=reduces)
            listeners = _journal_hook(journal, cycle.id, role)(intent)
            handle = await connector.submit_order(intent, listeners=listeners)
            await handle.wait_final(15)
        except VenueError as exc:
            report.problems.append(f"{role}: hedging order failed: {exc}")
    return await _positions(connected, report)


# --- abandoning a cycle whose venues or accounts are gone ----------------------------------------------------------


@dataclass
class AbandonReport:
    """What ``abandon_cycle`` found per leg, and whether the cycle was marked resolved (else why not)."""

    cycle_id: str
    reason: str
    legs: dict[str, str] = field(default_factory=dict)
    abandoned: bool = False
    refused: str | None = None
    #: the refusal came from a venue that shows (or may show) a position of the cycle: recover it, not abandon it
    venue_shows_position: bool = False
    confirmed: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"cycle_id": self.cycle_id, "reason": self.reason, "legs": self.legs, "abandoned": self.abandoned,
                "refused": self.refused}


class AbandonRefused(Exception):
    """A leg's venue answers and shows a position the cycle opened (or cannot tell): recover it instead."""


def _leg_traded(cycle: CycleRecord, role: str) -> bool:
    """Whether the cycle may have moved the leg's position: a fill, or an order whose outcome is unknown."""
    return any(order.filled_size != 0 or order.state not in TERMINAL_STATES for order in cycle.orders_for(role))


async def _leg_state(cycle: CycleRecord, role: str, leg: dict[str, Any], connectors: ConnectorSet | None) -> str:
    """Why abandoning is safe for this leg, as one line; AbandonRefused when it is not."""
    from hedgectl.errors import AuthError, HedgectlError, VenueUnavailable

    name = leg.get("connector", "?")
    if connectors is None:
        return "the paper venues of that run are gone"
    if name not in connectors.config.connectors:
        return f"connector {name} is no longer configured"
    try:
        connector = await connectors.get(name)
    except (VenueUnavailable, AuthError) as exc:
        return f"venue cannot be reached or refuses the account: {exc}"
    except VenueError as exc:
        raise AbandonRefused(f"{role}: {name} answers but cannot be checked ({exc}): "
                             "run 'hedgectl hedge recover'") from None
    except HedgectlError as exc:  # its secrets are gone from the config
        return f"connector {name} cannot be built: {exc}"
    if connector.account_id() != cycle.accounts.get(role):
        return f"connector {name} now points at another account: the cycle's account is no longer configured"
    try:
        position = (await read_position(connector, leg["symbol"], attempts=2)).signed_size
    except (VenueUnavailable, AuthError) as exc:
        return f"venue cannot be reached or refuses the account: {exc}"
    except VenueError as exc:
        raise AbandonRefused(f"{role}: {name} answers but its position cannot be read ({exc}): "
                             "run 'hedgectl hedge recover'") from None
    if position != 0 and _leg_traded(cycle, role):
        raise AbandonRefused(f"{role}: {name} holds {plain(position)} {leg['symbol']}, a position this cycle "
                             "opened: run 'hedgectl hedge recover' to flatten it")
    unsettled = {order.intent.client_order_index for order in cycle.orders_for(role)
                 if order.state not in TERMINAL_STATES}
    if unsettled:
        # flat now, but an order of the cycle that may rest would open a position after the cycle is closed
        try:
            resting = [o for o in await connector.open_orders(leg["symbol"]) if o.client_order_index in unsettled]
        except VenueError as exc:
            raise AbandonRefused(f"{role}: {name} answers but its open orders cannot be read ({exc}): "
                                 "run 'hedgectl hedge recover'") from None
        if resting:
            raise AbandonRefused(f"{role}: order {resting[0].client_order_index} of this cycle rests at {name}: "
                                 "run 'hedgectl hedge recover' to cancel it")
    return f"venue answers: position {plain(position)}" + ("" if position == 0 else " (not opened by this cycle)")


async def abandon_cycle(
    journal: Journal,
    connectors: ConnectorSet | None,
    cycle: CycleRecord,
    *,
    reason: str,
    data_dir: Path,
    confirm: Callable[[AbandonReport], bool] = lambda report: True,
) -> AbandonReport:
    """Mark an unresolved cycle resolved without trading, for a cycle whose venue or accounts no longer exist.

    Every leg is checked first: it refuses (``report.refused``) while a process still holds the cycle's accounts,
    or while a leg's venue answers and shows a position the cycle opened; it proceeds for a leg whose connector is
    gone, whose account is no longer the configured one, whose venue cannot be reached or refuses the account, or
    whose position is flat. ``connectors`` None means the venues are gone by construction (a past ``--paper`` run).
    ``confirm`` sees the findings before anything is written; the operator's ``reason`` goes into the journal.
    """
    report = AbandonReport(cycle_id=cycle.id, reason=reason)
    try:
        held = locks.acquire_all(data_dir, list(cycle.accounts.values()), purpose="hedge recover --abandon")
    except LockHeld as exc:
        report.refused = f"still running: {exc}"
        return report
    try:
        for role, leg in cycle.params.get("legs", {}).items():
            try:
                report.legs[role] = await _leg_state(cycle, role, leg, connectors)
            except AbandonRefused as exc:
                report.refused = str(exc)
                report.venue_shows_position = True
                return report
        if not confirm(report):
            report.refused = "not confirmed by the operator"
            report.confirmed = False
            return report
        by_journal = {role: plain(cycle.position_by_journal(role)) for role in cycle.params.get("legs", {})}
        journal.record_event(cycle.id, "abandoned", reason=reason, legs=report.legs, by_journal=by_journal)
        journal.mark_resolved(cycle.id, outcome="abandoned",
                              result={"abandoned": {**report.as_dict(), "by_journal": by_journal}})
        report.abandoned = True
        logger.warning("cycle %s abandoned without trading: %s", cycle.id, reason)
        return report
    finally:
        for lock in held:
            lock.release()
