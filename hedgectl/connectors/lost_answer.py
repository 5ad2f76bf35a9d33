"""What happens to an order request whose answer was lost: the resolution as a state table, like the order table.

The legal transitions are one table, ``LOST_ANSWER_TABLE``: ``(state, event) -> new state``; anything not in it
raises ``OrderStateError``. Every transition is logged and handed to the order's listeners that journal it (a
listener with a ``lost_answer`` method, see ``LostAnswerListener``). The prose behind the table is in
``docs/architecture.md`` ("Confirmation and lost answers").

Notes per venue (what each proves; the table is the same for all three):
- Backpack: landed when the order shows by clientId (resting, order history, fills); proven absent when it shows
  nowhere after its signature window and the position has not moved since before the send.
- GRVT: landed when the order shows by client order id; proven absent once a fencing cancel has run its course and,
  for an immediate-or-cancel order, its signature has expired.
- Lighter: landed when the order, a lost transaction or a trade of it shows; ``resend`` when the venue's next nonce
  proves that a send with it cannot duplicate the lost one (the resend goes out and may be lost again).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hedgectl.errors import OrderStateError

logger = logging.getLogger(__name__)


class LostAnswerState(str, enum.Enum):
    SENT = "sent"  # the request is on the wire (first send, or a resend)
    LOST = "lost"  # its answer never came (timeout, dropped connection, 5xx): the order may or may not exist
    RESOLVING = "resolving"  # the venue is being asked by client order index; nothing is sent meanwhile
    LANDED = "landed"  # the venue has the order: it is confirmed like any other (terminal)
    RESEND = "resend"  # proven that sending again cannot duplicate the lost request
    PROVEN_ABSENT = "proven_absent"  # proven never to have executed, and unable to any more: the order FAILED (terminal)
    AMBIGUOUS = "ambiguous"  # cannot be settled: the order stays UNKNOWN, AmbiguousOutcome (terminal)


class LostAnswerEvent(str, enum.Enum):
    LOSE = "lose"  # no answer to a send
    ASK = "ask"  # start asking the venue (also: a resend was refused in a way that says nothing of the lost one)
    FIND = "find"  # the venue shows the order (or the resend was accepted)
    CLEAR = "clear"  # the venue proved a resend safe
    PROVE_ABSENT = "prove_absent"  # the venue proved that the order never landed and cannot land
    SEND = "send"  # the resend goes out
    GIVE_UP = "give_up"  # the venue cannot be asked, or did not settle it in time


S, E = LostAnswerState, LostAnswerEvent

#: Every legal transition of a lost answer's resolution. A transition missing from this table raises.
LOST_ANSWER_TABLE: dict[tuple[LostAnswerState, LostAnswerEvent], LostAnswerState] = {
    (S.SENT, E.LOSE): S.LOST,
    (S.SENT, E.FIND): S.LANDED,  # a resend was accepted
    (S.SENT, E.ASK): S.RESOLVING,  # a resend was refused for its nonce: the lost request may have used it
    (S.SENT, E.PROVE_ABSENT): S.PROVEN_ABSENT,  # a resend was refused, and the lost request can no longer run
    (S.SENT, E.GIVE_UP): S.AMBIGUOUS,  # a resend was refused while the lost request may still run
    (S.LOST, E.ASK): S.RESOLVING,
    (S.LOST, E.GIVE_UP): S.AMBIGUOUS,
    (S.RESOLVING, E.FIND): S.LANDED,
    (S.RESOLVING, E.CLEAR): S.RESEND,
    (S.RESOLVING, E.PROVE_ABSENT): S.PROVEN_ABSENT,
    (S.RESOLVING, E.GIVE_UP): S.AMBIGUOUS,
    (S.RESEND, E.SEND): S.SENT,
    (S.RESEND, E.GIVE_UP): S.AMBIGUOUS,  # out of send attempts
}
del S, E

TERMINAL_LOST_ANSWER_STATES = frozenset(
    {LostAnswerState.LANDED, LostAnswerState.PROVEN_ABSENT, LostAnswerState.AMBIGUOUS}
)


@dataclass(frozen=True)
class LostAnswerTransition:
    """One step of an order whose answer was lost, as the listener records it."""

    at: float
    client_order_index: int
    event: LostAnswerEvent
    from_state: LostAnswerState
    to_state: LostAnswerState
    reason: str | None = None


@runtime_checkable
class LostAnswerListener(Protocol):
    """An order listener that also records the resolution of a lost answer (the journal's is one)."""

    def lost_answer(self, transition: LostAnswerTransition) -> None: ...


class LostAnswer:
    """The resolution of one order's lost answer; every change goes through ``apply`` and the table."""

    def __init__(self, client_order_index: int, *, listeners: Iterable[Any] = (), connector: str = ""):
        self.client_order_index = client_order_index
        self.connector = connector
        self.state = LostAnswerState.SENT
        self.transitions: list[LostAnswerTransition] = []
        self._listeners = [listener for listener in listeners if isinstance(listener, LostAnswerListener)]

    @property
    def is_final(self) -> bool:
        return self.state in TERMINAL_LOST_ANSWER_STATES

    def can_apply(self, event: LostAnswerEvent) -> bool:
        return (self.state, event) in LOST_ANSWER_TABLE

    def apply(self, event: LostAnswerEvent, reason: str | None = None) -> LostAnswerState:
        """Move the resolution by ``event``; raise OrderStateError if the table forbids it."""
        key = (self.state, event)
        if key not in LOST_ANSWER_TABLE:
            raise OrderStateError(
                f"order {self.client_order_index} on {self.connector}: illegal lost-answer transition "
                f"{self.state.value} --{event.value}-->"
            )
        transition = LostAnswerTransition(time.time(), self.client_order_index, event, self.state,
                                          LOST_ANSWER_TABLE[key], reason)
        self.state = transition.to_state
        self.transitions.append(transition)
        logger.info("%s: order %d lost answer %s -> %s%s", self.connector, self.client_order_index,
                    transition.from_state.value, transition.to_state.value, f" ({reason})" if reason else "")
        for listener in self._listeners:
            listener.lost_answer(transition)
        return self.state

    def lose(self, reason: str | None = None) -> None:
        """The answer to a send was lost: from now on the venue is asked before anything else happens."""
        self.apply(LostAnswerEvent.LOSE, reason)
        self.apply(LostAnswerEvent.ASK)


__all__ = [
    "LOST_ANSWER_TABLE",
    "TERMINAL_LOST_ANSWER_STATES",
    "LostAnswer",
    "LostAnswerEvent",
    "LostAnswerListener",
    "LostAnswerState",
    "LostAnswerTransition",
]
