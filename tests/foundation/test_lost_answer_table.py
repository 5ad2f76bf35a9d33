"""The lost-answer table: every legal transition works and is handed to the journaling listeners, every other one
raises; recovery moves a journaled order only along the order table."""

import itertools
import sqlite3
from decimal import Decimal

import pytest

from hedgectl.connectors.lost_answer import (
    LOST_ANSWER_TABLE,
    TERMINAL_LOST_ANSWER_STATES,
    LostAnswer,
    LostAnswerEvent,
    LostAnswerState,
    LostAnswerTransition,
)
from hedgectl.errors import OrderStateError
from hedgectl.model.orders import ORDER_STATE_TABLE, OrderIntent, OrderState, OrderType, Side
from hedgectl.journal import Journal
from hedgectl.journal.store import reconcile_steps

S, E = LostAnswerState, LostAnswerEvent

# A path of events from SENT to each state, so a resolution can be put in any state honestly.
PATH_TO = {
    S.SENT: [],
    S.LOST: [E.LOSE],
    S.RESOLVING: [E.LOSE, E.ASK],
    S.LANDED: [E.LOSE, E.ASK, E.FIND],
    S.RESEND: [E.LOSE, E.ASK, E.CLEAR],
    S.PROVEN_ABSENT: [E.LOSE, E.ASK, E.PROVE_ABSENT],
    S.AMBIGUOUS: [E.LOSE, E.GIVE_UP],
}

#: Which (state, state) moves the table allows: one event leads from the first to the second.
ALLOWED_MOVES = {(state, to) for (state, _event), to in LOST_ANSWER_TABLE.items()}


class Listener:
    def __init__(self) -> None:
        self.seen: list[LostAnswerTransition] = []

    def __call__(self, snapshot, transition) -> None:  # an order listener too, like the journal's
        pass

    def lost_answer(self, transition: LostAnswerTransition) -> None:
        self.seen.append(transition)


def resolution_in(state: LostAnswerState, listener: Listener | None = None) -> LostAnswer:
    resolution = LostAnswer(7, listeners=[listener] if listener else [], connector="bp")
    for event in PATH_TO[state]:
        resolution.apply(event)
    assert resolution.state is state
    return resolution


@pytest.mark.parametrize(("state", "event"), list(itertools.product(LostAnswerState, LostAnswerEvent)))
def test_every_state_event_pair_follows_the_table(state, event):
    listener = Listener()
    resolution = resolution_in(state, listener)
    before = len(listener.seen)
    if (state, event) in LOST_ANSWER_TABLE:
        assert resolution.apply(event, "why") is LOST_ANSWER_TABLE[(state, event)]
        [transition] = listener.seen[before:]
        assert (transition.from_state, transition.event, transition.to_state, transition.reason) == (
            state, event, LOST_ANSWER_TABLE[(state, event)], "why")
        assert transition.client_order_index == 7
    else:
        with pytest.raises(OrderStateError):
            resolution.apply(event)
        assert resolution.state is state  # an illegal trigger changes nothing
        assert listener.seen[before:] == []  # and records nothing


@pytest.mark.parametrize(("state", "to"), list(itertools.product(LostAnswerState, LostAnswerState)))
def test_every_state_state_pair_is_either_allowed_or_raises(state, to):
    reaching = [event for event in LostAnswerEvent if LOST_ANSWER_TABLE.get((state, event)) is to]
    if (state, to) in ALLOWED_MOVES:
        resolution_in(state).apply(reaching[0])
    else:
        assert reaching == []
        for event in LostAnswerEvent:
            resolution = resolution_in(state)
            try:
                resolution.apply(event)
            except OrderStateError:
                continue
            assert resolution.state is not to


def test_the_three_outcomes_are_terminal_and_every_other_state_leads_to_one():
    assert TERMINAL_LOST_ANSWER_STATES == {S.LANDED, S.PROVEN_ABSENT, S.AMBIGUOUS}
    for (state, _event) in LOST_ANSWER_TABLE:
        assert state not in TERMINAL_LOST_ANSWER_STATES
    for state in set(LostAnswerState) - TERMINAL_LOST_ANSWER_STATES:
        assert (state, E.GIVE_UP) in LOST_ANSWER_TABLE or state is S.SENT


def test_a_listener_without_a_lost_answer_method_is_left_alone():
    calls: list[object] = []
    resolution = LostAnswer(7, listeners=[lambda snapshot, transition: calls.append(transition)])
    resolution.lose("timeout")
    assert resolution.state is S.RESOLVING and calls == []


def _journal_with_order(tmp_path) -> tuple[Journal, str, int]:
    journal = Journal(tmp_path / "journal.sqlite")
    cycle_id = journal.start_cycle(direction="long", accounts={}, params={}, pid=1)
    intent = OrderIntent(connector="bp", venue="backpack", symbol="ETH_USDC_PERP", side=Side.BUY,
                         size=Decimal("1"), order_type=OrderType.MARKET, client_order_index=7)
    return journal, cycle_id, journal.record_intent(cycle_id, role="BP", purpose="open", intent=intent)


def test_the_journal_records_every_lost_answer_transition_of_an_order(tmp_path):
    journal, cycle_id, order_id = _journal_with_order(tmp_path)
    resolution = LostAnswer(7, listeners=[journal.order_listener(order_id)], connector="bp")
    resolution.lose("no answer")
    resolution.apply(E.FIND, "resting")
    recorded = [(event["from_state"], event["to_state"]) for event in journal.events(cycle_id)
                if event["kind"] == "lost_answer"]
    assert recorded == [("sent", "lost"), ("lost", "resolving"), ("resolving", "landed")]
    journal.close()


@pytest.mark.parametrize(("previous", "target"), list(itertools.product(OrderState, OrderState)))
def test_recovery_moves_a_journaled_order_only_along_the_order_table(previous, target):
    try:
        steps = reconcile_steps(previous, target)
    except OrderStateError:
        return
    if not steps:
        assert previous is target
        return
    assert steps[0][1] is previous and steps[-1][2] is target
    for event, from_state, to_state in steps:
        assert ORDER_STATE_TABLE[(from_state, event)] is to_state


def test_recovery_resolves_the_orders_it_meets_and_leaves_a_final_one_as_it_is(tmp_path):
    for previous in (OrderState.NEW, OrderState.SUBMITTING, OrderState.UNKNOWN, OrderState.OPEN):
        for target in (OrderState.FILLED, OrderState.CANCELLED, OrderState.FAILED):
            assert reconcile_steps(previous, target)[-1][2] is target
    with pytest.raises(OrderStateError):
        reconcile_steps(OrderState.FILLED, OrderState.OPEN)
    journal, cycle_id, order_id = _journal_with_order(tmp_path)
    assert journal.resolve_order(order_id, state=OrderState.FILLED, filled_size=Decimal("1"),
                                 average_price=Decimal("3000"), reason="venue: Filled") is True
    # settled meanwhile (by its own confirmation, say): recovery's later answer writes nothing
    assert journal.resolve_order(order_id, state=OrderState.FAILED, filled_size=Decimal("0"), average_price=None,
                                 reason="absent") is False
    [order] = journal.cycle(cycle_id).orders
    assert order.state is OrderState.FILLED
    rows = sqlite3.connect(journal.path).execute(
        "SELECT event, from_state, to_state FROM transitions WHERE order_id = ? ORDER BY rowid", (order_id,)
    ).fetchall()
    assert rows == [("submit", "new", "submitting"), ("fill", "submitting", "filled")]
    journal.close()
