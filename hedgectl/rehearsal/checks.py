"""The rehearsal's checker: a cycle's end as the paper venues' own books show it (positions, resting orders,
duplicates, the journal against the venues, the longest naked window), usable on any paper exchange."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedgectl.decimals import ZERO, plain
from hedgectl.sim.exchange import Exchange
from hedgectl.sim.exchange.records import TradeKind

if TYPE_CHECKING:
    from hedgectl.journal import CycleRecord


@dataclass(frozen=True)
class LegAccount:
    """Where one leg of a cycle trades: the venue, its account name on the paper venue, and the symbol."""

    role: str
    venue: str
    account: str
    symbol: str


@dataclass
class EndState:
    """A cycle's end as the venues' own books show it, and every way it falls short."""

    positions: dict[str, Decimal]
    tolerance: Decimal
    resting: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    journal_mismatches: list[str] = field(default_factory=list)
    belief_mismatches: list[str] = field(default_factory=list)
    naked_window_ms: float = 0.0

    @property
    def net(self) -> Decimal:
        return sum(self.positions.values(), ZERO)

    @property
    def flat(self) -> bool:
        return all(size == 0 for size in self.positions.values())

    def unsafe_reasons(self) -> list[str]:
        """Why this end state is unsafe (empty when it is safe): naked exposure, resting orders, a journal or a
        report that disagrees with the venues."""
        reasons = []
        if abs(self.net) > self.tolerance:
            held = ", ".join(f"{role} {plain(size)}" for role, size in self.positions.items())
            reasons.append(f"net exposure {plain(self.net)} beyond {plain(self.tolerance)} ({held})")
        return reasons + self.resting + self.journal_mismatches + self.belief_mismatches

    def as_dict(self) -> dict[str, Any]:
        return {
            "positions": {role: plain(size) for role, size in self.positions.items()},
            "net": plain(self.net),
            "unsafe": self.unsafe_reasons(),
            "duplicates": self.duplicates,
            "naked_window_ms": round(self.naked_window_ms, 1),
        }


def inspect_end_state(
    exchanges: dict[str, Exchange],
    legs: Iterable[LegAccount],
    *,
    journal: CycleRecord | None = None,
    reported: dict[str, Decimal | None] | None = None,
    now_ms: int | None = None,
) -> EndState:
    """Judge a cycle from the paper exchanges' books (call it in the venues' thread).

    Checks: net exposure within one step (the largest step of the legs' markets); no resting order; each client
    order id executed at most once and never beyond its order, nor beyond the journal's intent; every executed
    order journaled with the fill the venue reports; per leg, the journal's position plus the venue's liquidations
    equal to the venue's position; and ``reported`` (what hedgectl said each leg holds) equal to the venue's.
    """
    legs = list(legs)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    positions = {leg.role: exchanges[leg.venue].account(leg.account).size(leg.symbol) for leg in legs}
    tolerance = max(exchanges[leg.venue].rules[leg.symbol].step_size for leg in legs)
    state = EndState(positions=positions, tolerance=tolerance)
    by_venue: dict[str, set[str]] = {}
    for leg in legs:
        by_venue.setdefault(leg.venue, set()).add(leg.account)
        exchange = exchanges[leg.venue]
        state.resting += [
            f"{leg.role}: order {order.order_id} (client id {order.client_id}) still rests on the book"
            for order in exchange.resting_orders(leg.symbol, leg.account)
        ]
    for venue, accounts in by_venue.items():
        state.duplicates += [f"{venue}: {problem}" for problem in exchanges[venue].audit(accounts)]
    _check_journal(state, exchanges, legs, journal)
    if reported:
        for leg in legs:
            said = reported.get(leg.role)
            if said is not None and said != positions[leg.role]:
                state.belief_mismatches.append(
                    f"{leg.role}: hedgectl reported {plain(said)}, the venue holds {plain(positions[leg.role])}"
                )
    state.naked_window_ms = _longest_naked_window(exchanges, legs, tolerance, now_ms)
    return state


def _executed_by_client_id(exchange: Exchange, leg: LegAccount) -> dict[int, Decimal]:
    executed: dict[int, Decimal] = {}
    for order in exchange.find_orders(leg.account, symbol=leg.symbol):
        if order.executed_quantity and order.client_id is not None:
            executed[order.client_id] = executed.get(order.client_id, ZERO) + order.executed_quantity
    return executed


def _check_journal(state: EndState, exchanges: dict[str, Exchange], legs: list[LegAccount],
                   journal: CycleRecord | None) -> None:
    executed = {leg.role: _executed_by_client_id(exchanges[leg.venue], leg) for leg in legs}
    if journal is None:
        for role, orders in executed.items():
            if orders:
                state.journal_mismatches.append(f"{role}: {len(orders)} order(s) executed but no cycle journaled")
        return
    if not journal.resolved:
        state.journal_mismatches.append("the journal still holds the cycle unresolved: hedgectl does not know its end")
    by_purpose: dict[tuple[str, str], Decimal] = {}
    first_intent: dict[tuple[str, str], Decimal] = {}
    for leg in legs:
        exchange = exchanges[leg.venue]
        liquidated = sum(
            (fill.side.sign * fill.quantity for fill in exchange.fills
             if fill.account == leg.account and fill.symbol == leg.symbol and fill.kind is TradeKind.LIQUIDATION),
            ZERO,
        )
        by_journal = journal.position_by_journal(leg.role)
        if by_journal + liquidated != state.positions[leg.role]:
            state.journal_mismatches.append(
                f"{leg.role}: the journal's position {plain(by_journal)}"
                + (f" (with {plain(liquidated)} liquidated)" if liquidated else "")
                + f" differs from the venue's {plain(state.positions[leg.role])}"
            )
        recorded: dict[int, Decimal] = {}
        intended: dict[int, Decimal] = {}
        for order in journal.orders_for(leg.role):
            index = order.intent.client_order_index
            recorded[index] = recorded.get(index, ZERO) + order.filled_size
            intended[index] = max(intended.get(index, ZERO), order.intent.size)
            if journal.resolved and not order.is_final:
                state.journal_mismatches.append(
                    f"{leg.role}: order {index} is still {order.state.value} in a resolved cycle"
                )
            key = (leg.role, order.purpose)
            first_intent.setdefault(key, order.intent.size)
            by_purpose[key] = by_purpose.get(key, ZERO) + executed[leg.role].get(index, ZERO)
        for index, quantity in executed[leg.role].items():
            if index not in recorded:
                state.journal_mismatches.append(
                    f"{leg.role}: client id {index} executed {plain(quantity)} but was never journaled"
                )
                continue
            if quantity != recorded[index]:
                state.journal_mismatches.append(
                    f"{leg.role}: order {index} filled {plain(recorded[index])} by the journal, "
                    f"{plain(quantity)} at the venue"
                )
            if quantity > intended[index]:
                state.duplicates.append(
                    f"{leg.role}: client id {index} executed {plain(quantity)}"
                    f" for an intent of {plain(intended[index])}"
                )
    # beyond intent at the hedge's level: more hedged than entered, or a leg entered twice
    bp_entered = by_purpose.get(("BP", "entry"), ZERO)
    if by_purpose.get(("L1", "hedge"), ZERO) > bp_entered:
        state.duplicates.append(
            f"L1 hedged {plain(by_purpose[('L1', 'hedge')])} for a BP entry of {plain(bp_entered)}"
        )
    for key in (("BP", "entry"), ("L2", "entry")):
        if key in first_intent and by_purpose.get(key, ZERO) > first_intent[key]:
            state.duplicates.append(
                f"{key[0]} {key[1]} filled {plain(by_purpose[key])} for an intent of {plain(first_intent[key])}"
            )


def _longest_naked_window(exchanges: dict[str, Exchange], legs: list[LegAccount], tolerance: Decimal,
                          now_ms: int) -> float:
    """The longest time the legs' combined position stayed beyond ``tolerance``, replaying the venues' fills."""
    fills = []
    for leg in legs:
        fills += [
            (fill.timestamp_ms, fill.trade_id, fill.side.sign * fill.quantity)
            for fill in exchanges[leg.venue].fills
            if fill.account == leg.account and fill.symbol == leg.symbol
        ]
    fills.sort()
    net = ZERO
    opened: int | None = None
    longest = 0
    for at, _, signed in fills:
        net += signed
        if abs(net) > tolerance and opened is None:
            opened = at
        elif abs(net) <= tolerance and opened is not None:
            longest = max(longest, at - opened)
            opened = None
    if opened is not None:
        longest = max(longest, now_ms - opened)
    return float(longest)
