"""How the Lighter connector proves what became of an order whose answer was lost.

Landed: the order (by client order index), a lost transaction (by hash) or a trade of it shows at the venue.
Resend: the venue's next nonce is still the lost transaction's, so a send with it and the lost one exclude each
other; or the nonce was consumed, and ``consumed_settle_secs`` later nothing of the order shows and the position
reads exactly as before the send (the venue's indexes lag its sequencer). Anything else stays ambiguous.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hedgectl.connectors.lighter.wire import ORDER_TYPE_MARKET, VENUE, is_not_found
from hedgectl.connectors.lost_answer import LostAnswerEvent
from hedgectl.connectors.marks import moved_since
from hedgectl.errors import AmbiguousOutcome, VenueError, VenueProtocolError
from hedgectl.model.orders import Side

if TYPE_CHECKING:
    from hedgectl.connectors.lighter.orders import _OrderPlan
    from hedgectl.connectors.lighter.signer import SignedTx

logger = logging.getLogger(__name__)


#: Delays between reads that resolve a lost answer (order lookup, tx lookup, next nonce).
RESOLVE_DELAYS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
#: How far before its first send a lost order's trades are looked for (the venue's clock against ours).
LOST_TRADES_CLOCK_MARGIN_SECS = 5.0


class LighterLostAnswers:
    """Resolving an order whose answer was lost (mixed into the connector): did it land, may it be sent again?"""

    def _lost_event(self, plan: _OrderPlan, event: LostAnswerEvent, reason: str | None = None) -> None:
        """Move the order's lost-answer resolution by ``event`` when the table allows it from where it is."""
        lost = plan.watch.lost if plan.watch is not None else None
        if lost is not None and lost.can_apply(event):
            lost.apply(event, reason)

    def _lose(self, plan: _OrderPlan, reason: str) -> None:
        """A send's answer was lost: the resolution starts (or starts again), and asks the venue."""
        if plan.watch is not None and (plan.watch.lost is None or plan.watch.lost.can_apply(LostAnswerEvent.LOSE)):
            plan.watch.lose(self.name, reason)

    async def _resolve(self, plan: _OrderPlan, lost: list[SignedTx]) -> int | None:
        """``_resolve_lost`` with its verdict recorded in the order's lost-answer resolution."""
        try:
            verdict = await self._resolve_lost(plan, lost)
        except AmbiguousOutcome as exc:
            self._lost_event(plan, LostAnswerEvent.GIVE_UP, exc.message)
            raise
        if verdict is None:
            self._lost_event(plan, LostAnswerEvent.FIND, "the venue shows the order")
        return verdict

    async def _unmoved_since_send(self, plan: _OrderPlan) -> str:
        """Why the position cannot vouch that the plan's order never ran; empty when it can: a market order that
        never ran leaves the position exactly as it was before the send (a resting limit order would not move it)."""
        if plan.order_type != ORDER_TYPE_MARKET:
            return "a limit order may rest without moving the position"
        return await moved_since(self, plan.baseline)

    @staticmethod
    def _landed_info(lost: list[SignedTx], attempt: int) -> dict[str, Any]:
        return {"nonce": lost[-1].nonce, "tx_hash": lost[-1].tx_hash, "attempts": attempt, "answer_lost": True}

    async def _lost_order_landed(self, plan: _OrderPlan, lost: list[SignedTx]) -> bool:
        """True when the venue shows the order (by client order index) or one of the lost transactions (by hash);
        AmbiguousOutcome when it cannot be asked."""
        try:
            if await self._orders_by_client_index(plan.intent.client_order_index, plan.market.market_id):
                return True
            for tx in lost:
                if await self._tx_known(tx.tx_hash):
                    return True
        except VenueError as exc:
            logger.info("%s: lookup of a lost order failed: %s", self.name, exc)
            raise AmbiguousOutcome(
                f"order {plan.intent.client_order_index}: cannot tell whether it reached the venue ({exc})",
                venue=VENUE, connector=self.name, client_order_index=plan.intent.client_order_index,
            ) from exc
        return False

    async def _tx_known(self, tx_hash: str) -> bool:
        """Whether the venue has this transaction; only its clean "not found" answer means it has not."""
        try:
            document = await self._rest.get("tx", {"by": "hash", "value": tx_hash})
        except VenueError as exc:
            if is_not_found(exc):
                return False
            raise
        if not (document.get("hash") or document.get("tx_hash")):
            raise VenueProtocolError("tx: an answer without the transaction's hash", venue=VENUE,
                                     connector=self.name)
        return True

    async def _lost_trace(self, plan: _OrderPlan, lost: list[SignedTx]) -> bool:
        """Whether the venue shows a lost transaction (by hash) or a trade of the order since its first send."""
        for tx in lost:
            if await self._tx_known(tx.tx_hash):
                return True
        since = (plan.first_sent_at or self.clock.now()) - LOST_TRADES_CLOCK_MARGIN_SECS
        trades, complete = await self._trades_back_to(
            {"account_index": self.account_index, "market_id": plan.market.market_id}, since
        )
        hashes = {tx.tx_hash for tx in lost}
        if any(self._trade_of(plan, trade, hashes) for trade in trades):
            return True
        if not complete:
            raise VenueProtocolError(f"the account's trades could not be read back to {since:.0f}", venue=VENUE,
                                     connector=self.name)
        return False

    def _trade_of(self, plan: _OrderPlan, trade: dict[str, Any], hashes: set[str | None]) -> bool:
        """Whether ``trade`` fills the plan's order: our side of it, by the order's transaction or client index."""
        side_key = "bid" if plan.intent.side is Side.BUY else "ask"
        return trade.get(f"{side_key}_account_id") == self.account_index and (
            trade.get("tx_hash") in hashes or trade.get(f"{side_key}_client_id") == plan.intent.client_order_index
        )

    async def _resolve_lost(self, plan: _OrderPlan, lost: list[SignedTx]) -> int | None:
        """None when the venue shows the order landed; else the nonce to send it again with, once the venue proved
        that sending it again cannot duplicate it.

        Proof is the venue's next nonce still at (or below) the lost transaction's: sent again with that nonce, at
        most one of the two can ever run. A consumed nonce was used by the lost transaction or by another user of
        the key; it counts as someone else's only when the order, the lost transactions and any trade of the order
        since its first send are all still absent ``consumed_settle_secs`` after the nonce was first seen used,
        because the venue's indexes can lag the sequencer. Until then nothing is sent; a lookup that fails or a
        venue that does not settle it by the deadline ends in AmbiguousOutcome.
        """
        coi = plan.intent.client_order_index
        deadline = self.clock.monotonic() + self.resolve_timeout_secs
        last_error: Exception | None = None
        consumed_since: float | None = None
        last_unproven = ""  # why the position cannot vouch that the lost order did not run
        step = 0
        while True:
            # every read of a round that starts after the settle window is a reading of the settled venue
            now = self.clock.monotonic()
            settled = consumed_since is not None and now - consumed_since >= self.consumed_settle_secs
            try:
                if await self._orders_by_client_index(coi, plan.market.market_id):
                    return None
                server_next = await self._server_next_nonce()
                self._nonce.next_nonce = server_next
                if server_next <= lost[-1].nonce:
                    # the lost transaction's nonce is unused: sending with it again means that at most one of the
                    # two can ever run (and a nonce below it means the lost one was refused)
                    return server_next
                if consumed_since is None:
                    consumed_since = self.clock.monotonic()
                    deadline = max(deadline, consumed_since + self.consumed_settle_secs + 2 * RESOLVE_DELAYS[-1])
                if await self._lost_trace(plan, lost):
                    return None
                if settled:
                    # the records may trail the sequencer for longer still: only a position that has not moved
                    # since before the send proves that the lost order did not run
                    unproven = await self._unmoved_since_send(plan)
                    if not unproven:
                        logger.warning("%s: order %s: nonce %d was used by another user of the key; sending with %d",
                                       self.name, coi, lost[-1].nonce, server_next)
                        return server_next
                    if unproven != last_unproven:
                        logger.warning("%s: order %s: nonce %d was used and the venue shows no trace of the order, "
                                       "but %s: not sending it again", self.name, coi, lost[-1].nonce, unproven)
                    last_unproven = unproven
            except VenueError as exc:
                last_error = exc
            if self.clock.monotonic() >= deadline:
                if consumed_since is None:
                    why = f"the venue could not be asked whether it has the order ({last_error})"
                else:
                    why = (f"nonce {lost[-1].nonce} was used, and the venue did not settle whether by this order"
                           + (f" ({last_error})" if last_error else "")
                           + (f"; {last_unproven}" if last_unproven else ""))
                raise AmbiguousOutcome(f"order {coi}: {why}", venue=VENUE, connector=self.name,
                                       client_order_index=coi)
            await self.clock.sleep(RESOLVE_DELAYS[min(step, len(RESOLVE_DELAYS) - 1)])
            step += 1
