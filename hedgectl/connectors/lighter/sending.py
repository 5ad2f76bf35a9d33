"""The Lighter connector's sends: a transaction signed and sent under the nonce lock, and an order's send loop.

A refusal with 21104 re-reads the nonce and sends again (bounded). A lost answer is resolved before anything is
sent again; the resolution follows ``LOST_ANSWER_TABLE`` (``connectors/lost_answer.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hedgectl.connectors.lighter.wire import VENUE, error_for_code
from hedgectl.connectors.lost_answer import LostAnswerEvent as E
from hedgectl.errors import AmbiguousOutcome, NonceMismatch, RateLimited, VenueError, VenueUnavailable
from hedgectl.model.orders import OrderEvent, OrderState, OrderTracker

if TYPE_CHECKING:
    from hedgectl.connectors.lighter.orders import _OrderPlan
    from hedgectl.connectors.lighter.signer import SendResult, SignedTx

logger = logging.getLogger(__name__)


class LighterSending:
    """Sending signed transactions (mixed into the connector): idempotent ones with bounded retries, and orders,
    whose lost answers are resolved at the venue (``LighterLostAnswers``) before anything is sent again."""

    async def _send_once(self, sign: Callable[[int], SignedTx], nonce: int) -> tuple[SignedTx, SendResult]:
        signer = await self._ensure_signer()
        tx = sign(nonce)
        started = time.perf_counter()
        result = await signer.send(tx, timeout=self.timeout)
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        logger.debug("%s: tx type %s nonce %s -> %s %s", self.name, tx.tx_type, nonce, result.outcome.value,
                     result.code)
        return tx, result

    def _refusal(self, result: SendResult) -> VenueError:
        return error_for_code(result.code, result.message, connector=self.name, status=result.http_status,
                              context="sendTx")

    async def _send_idempotent(self, what: str, sign: Callable[[int], SignedTx]) -> SendResult:
        """Send a transaction whose repetition is harmless (cancel, cancel-all, leverage), with bounded retries."""
        from hedgectl.connectors.lighter.signer import SendOutcome

        nonce_refusals = troubled_sends = 0
        async with self._nonce.lock():
            while True:
                tx, result = await self._send_once(sign, await self._take_nonce())
                if result.outcome is SendOutcome.ACCEPTED:
                    self._nonce.used(tx.nonce)
                    return result
                if result.outcome is SendOutcome.REFUSED:
                    error = self._refusal(result)
                    if isinstance(error, NonceMismatch):
                        self._nonce.invalidate()
                        nonce_refusals += 1
                        if nonce_refusals <= self.max_nonce_retries:
                            continue
                    elif isinstance(error, RateLimited):
                        troubled_sends += 1
                        if troubled_sends < self.max_send_attempts:
                            await self.clock.sleep(0.1 * troubled_sends)
                            continue
                    raise error
                troubled_sends += 1
                if result.outcome is SendOutcome.AMBIGUOUS:
                    self._nonce.invalidate()
                if troubled_sends >= self.max_send_attempts:
                    raise VenueUnavailable(f"{what}: {result.message}", venue=VENUE, connector=self.name,
                                           status=result.http_status)
                await self.clock.sleep(0.1 * troubled_sends)

    async def _send_order(self, tracker: OrderTracker, plan: _OrderPlan) -> bool:
        """Send until the venue has the order (True) or refused it (False, tracker FAILED); AmbiguousOutcome else.

        Budgets: ``max_nonce_retries`` refusals with 21104 (each proves that send did not run), and
        ``max_send_attempts`` sends whose answer was lost or rate limited (each resolved at the venue before the next).
        """
        from hedgectl.connectors.lighter.signer import SendOutcome

        sign = self._signer_for(plan)
        coi = plan.intent.client_order_index
        lost: list[SignedTx] = []
        resend_nonce: int | None = None
        # the last lost transaction's nonce was unused when last asked, so it may still arrive and run
        lost_may_run = False
        nonce_refusals = troubled_sends = attempt = 0
        async with self._nonce.lock():
            while True:
                attempt += 1
                try:
                    nonce = resend_nonce if resend_nonce is not None else await self._take_nonce()
                    tx, result = await self._send_once(sign, nonce)
                except VenueError as exc:
                    # nothing went out on this attempt (the nonce read failed, or the signer refused)
                    if lost:
                        self._lost_event(plan, E.GIVE_UP, str(exc))
                        raise AmbiguousOutcome(f"order {coi}: {exc}", venue=VENUE, connector=self.name,
                                               client_order_index=coi) from exc
                    tracker.apply(OrderEvent.REJECT, reason=str(exc), error=exc)
                    return False
                if resend_nonce is not None:
                    self._lost_event(plan, E.CLEAR, f"nonce {resend_nonce} cannot run twice")
                    self._lost_event(plan, E.SEND, f"sent again with nonce {tx.nonce}")
                resend_nonce = None
                info = {"nonce": tx.nonce, "tx_hash": tx.tx_hash, "attempts": attempt,
                        "signed_ahead": plan.signed_ahead}
                if result.outcome is SendOutcome.ACCEPTED:
                    self._nonce.used(tx.nonce)
                    plan.predicted_execution_ms = result.predicted_execution_ms
                    plan.venue_tx_hash = result.tx_hash
                    plan.accepted_tx_hash = result.tx_hash or tx.tx_hash
                    if lost:
                        self._lost_event(plan, E.FIND, "the venue accepted the order sent again")
                    tracker.apply(OrderEvent.ACCEPT, info={**info, "tx_hash": result.tx_hash or tx.tx_hash})
                    return True
                if result.outcome is SendOutcome.REFUSED:
                    error = self._refusal(result)
                    if isinstance(error, NonceMismatch):
                        self._nonce.invalidate()
                        nonce_refusals += 1
                        if lost:
                            # the nonce of the lost send was used meanwhile: by the lost transaction arriving late,
                            # or by another user of the key; only the venue's settled records tell which
                            self._lost_event(plan, E.ASK, f"nonce {tx.nonce} refused as used")
                            verdict = await self._resolve(plan, lost)
                            if verdict is None:
                                tracker.apply(OrderEvent.ACCEPT, info=self._landed_info(lost, attempt))
                                return True
                            resend_nonce, lost_may_run = verdict, verdict <= lost[-1].nonce
                    elif isinstance(error, RateLimited):
                        troubled_sends += 1
                    retry = (isinstance(error, NonceMismatch) and nonce_refusals <= self.max_nonce_retries) or (
                        isinstance(error, RateLimited) and troubled_sends < self.max_send_attempts
                    )
                    if retry:
                        logger.warning("%s: order %s attempt %d refused (%s); sending again", self.name, coi,
                                       attempt, error)
                        if isinstance(error, RateLimited):
                            await self.clock.sleep(0.1 * troubled_sends)
                        continue
                    if lost_may_run:
                        try:
                            landed = await self._lost_order_landed(plan, lost)
                        except AmbiguousOutcome as exc:
                            self._lost_event(plan, E.GIVE_UP, exc.message)
                            raise
                        if landed:
                            self._lost_event(plan, E.FIND, "the venue shows the lost order")
                            tracker.apply(OrderEvent.ACCEPT, info=self._landed_info(lost, attempt))
                            return True
                        self._lost_event(plan, E.GIVE_UP, f"sending it again was refused ({error})")
                        raise AmbiguousOutcome(
                            f"order {coi}: sending it again was refused ({error}), and the lost send (nonce "
                            f"{lost[-1].nonce}) could still run", venue=VENUE, connector=self.name,
                            client_order_index=coi,
                        ) from error
                    if lost:
                        self._lost_event(plan, E.PROVE_ABSENT, f"the lost send cannot run; sending again: {error}")
                    tracker.apply(OrderEvent.REJECT, reason=str(error), error=error, info=info)
                    return False
                if result.outcome is SendOutcome.NOT_SENT and not lost:
                    error = VenueUnavailable(f"sendTx: {result.message}", venue=VENUE, connector=self.name)
                    tracker.apply(OrderEvent.REJECT, reason=str(error), error=error, info=info)
                    return False
                # the answer is lost: the order may be at the venue, and nothing is sent again until it says
                troubled_sends += 1
                if result.outcome is not SendOutcome.NOT_SENT:
                    lost.append(tx)
                self._nonce.invalidate()
                if tracker.state is OrderState.SUBMITTING:
                    tracker.apply(OrderEvent.LOSE_ANSWER, reason=f"answer lost: {result.message}", info=info)
                plan.settled.set()
                logger.warning("%s: order %s answer lost (%s); resolving by client order index", self.name, coi,
                               result.message)
                self._lose(plan, result.message)
                verdict = await self._resolve(plan, lost)
                if verdict is None:
                    tracker.apply(OrderEvent.ACCEPT, info=self._landed_info(lost, attempt))
                    return True
                if troubled_sends >= self.max_send_attempts:
                    self._lost_event(plan, E.GIVE_UP, f"{troubled_sends} sends without an answer")
                    raise AmbiguousOutcome(
                        f"order {coi}: {troubled_sends} sends without an answer; not at the venue now, but the last "
                        f"one (nonce {lost[-1].nonce if lost else nonce}) could still arrive",
                        venue=VENUE, connector=self.name, client_order_index=coi,
                    )
                resend_nonce, lost_may_run = verdict, verdict <= lost[-1].nonce
