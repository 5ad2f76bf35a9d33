"""Telegram messages for a hedge cycle (start, finish, emergency exit, liquidation warnings) and for the end of a
loop of cycles.

Implements the cycle's notifier interface over ``TelegramNotifier``; a failure to notify is logged, never raised.
"""

from __future__ import annotations

import html
import logging
from decimal import Decimal
from typing import Any

from hedgectl.notify.telegram import (
    TelegramNotifier,
    format_emergency_exit,
    format_hedge_finish,
    format_hedge_start,
    format_liquidation_warning,
)

logger = logging.getLogger(__name__)


class HedgeTelegramNotifier:
    """Sends the cycle's messages to one Telegram chat."""

    def __init__(self, notifier: TelegramNotifier, *, threshold_pct: Decimal | None = None):
        self.notifier = notifier
        self.threshold_pct = threshold_pct

    @classmethod
    def from_config(cls, telegram, *, liquidation_warning_pct: Decimal | None = None) -> HedgeTelegramNotifier:
        """From the config's [telegram] table (``TelegramConfig``) with its token and chat id resolved."""
        notifier = TelegramNotifier(telegram.bot_token.reveal(), telegram.chat_id, base_url=telegram.base_url)
        threshold = None if liquidation_warning_pct is None else liquidation_warning_pct * 100
        return cls(notifier, threshold_pct=threshold)

    async def _send(self, text: str) -> None:
        result = await self.notifier.send_html(text)
        if not result.ok:
            logger.warning("telegram notification failed: %s", result.error)

    async def hedge_started(self, status) -> None:
        venues = {role: f"{leg.connector} ({leg.venue} {leg.symbol})" for role, leg in status.legs.items()}
        await self._send(
            format_hedge_start(direction=status.direction, size=status.size, venues=venues, cycle=status.cycle_id)
        )

    async def hedge_finished(self, result) -> None:
        if result.outcome.value in ("emergency_exit", "failed"):
            still_open = {role: size for role, size in result.positions.items() if size}
            unknown = [role for role, size in result.positions.items() if size is None]
            reason = result.reason + (f"; position UNKNOWN on {', '.join(unknown)}" if unknown else "")
            await self._send(
                format_emergency_exit(
                    reason=reason, flattened=result.flattened, still_open=still_open, cycle=result.cycle_id
                )
            )
        await self._send(
            format_hedge_finish(
                pnl_by_leg={role: value for role, value in result.pnl.items() if role != "total"},
                duration_secs=result.duration_secs,
                outcome=result.outcome.value,
                cycle=result.cycle_id,
            )
        )

    async def liquidation_warning(self, leg, distance: Decimal) -> None:
        await self._send(
            format_liquidation_warning(
                role=f"{leg.role} ({leg.connector})",
                distance_pct=(distance * 100).quantize(Decimal("0.01")),
                mark_price=leg.mark_price,
                liquidation_price=leg.liquidation_price,
                threshold_pct=self.threshold_pct,
            )
        )

    async def loop_stopped(self, report) -> None:
        await self._send(format_loop_stopped(report.as_dict()))

    async def aclose(self) -> None:
        await self.notifier.aclose()


#: The stop reasons a person must look at (the loop did not end because it was told to).
_ALARMING = frozenset({"failed", "refused", "emergency_exits", "loss_limit_day", "loss_limit_total"})


def format_loop_stopped(loop: dict[str, Any]) -> str:
    """A loop ended: why, how many cycles with which outcomes, realised PnL (fees included) per UTC day and total."""

    def esc(value: object) -> str:
        return html.escape(str(value), quote=False)

    reason = loop["stop_reason"] or "unknown"
    mark = "\N{WARNING SIGN} " if reason in _ALARMING else ""
    where = f" (group {esc(loop['group'])})" if loop.get("group") else ""
    outcomes = ", ".join(f"{esc(name)} {count}" for name, count in loop["outcomes"].items()) or "none"
    lines = [
        f"{mark}<b>Hedge loop stopped</b>{where}",
        f"Reason: <b>{esc(reason)}</b>: {esc(loop['stop_detail'])}",
        f"Cycles run: {esc(loop['cycles_run'])} ({outcomes})",
        "PnL by UTC day (fees included):",
        *(f"  {esc(day)}: {esc(pnl)}" for day, pnl in loop["pnl_by_day"].items()),
        f"Total PnL: <b>{esc(loop['pnl_total'])}</b>",
        f"Exit code: {esc(loop['exit_code'])}",
    ]
    return "\n".join(lines)
