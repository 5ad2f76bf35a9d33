"""The daily Telegram summary: one UTC day's figures of ``history --stats`` (volume, fills, fees, realised PnL,
cost per 10,000 per venue and account), sent once a day by a running loop or fleet at ``[telegram] daily_summary``
(``HH:MM`` UTC), or at once by ``history --stats --notify``."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hedgectl.config.model import parse_summary_time

logger = logging.getLogger(__name__)

#: How often a running loop or fleet looks whether the summary is due.
CHECK_SECS = 30.0


def format_daily_summary(figures: dict[str, Any], day: str, *, group: str | None = None) -> str:
    """The message (HTML, every variable part escaped) for ``day``'s block of a ``TradingStats.as_dict()``."""
    block = next((item for item in figures.get("days", []) if item.get("day") == day), None)
    title = f"Daily summary {html.escape(day)} (UTC)" + (f", group {html.escape(group)}" if group else "")
    if block is None:
        return f"<b>{title}</b>\nno cycle that day"
    lines = [f"<b>{title}</b>", f"cycles: {block['cycles']}"]
    for row in [*block["accounts"], block["all"]]:
        name = "all" if row is block["all"] else f"{row['venue']} {row['connector']}"
        lines.append(f"{html.escape(name)}: volume {html.escape(row['volume'])}, fills {row['fills']}, fees "
                     f"{html.escape(row['fees'])}, PnL {html.escape(row['realised_pnl'])}, cost per 10k "
                     f"{html.escape(row['cost_per_10k'] or '-')}")
    return "\n".join(lines)


def sent_marker(data_dir: Path, group: str | None) -> Path:
    """The file that remembers the last day whose summary went out (so a restart does not send it twice)."""
    return data_dir / ("daily-summary.sent" if group is None else f"daily-summary-{group}.sent")


def summary_due(now: datetime, at: time, last_sent: str | None) -> str | None:
    """The day whose summary is due at ``now`` and not yet sent, or None. A summary time before 12:00 covers the
    UTC day before it (the whole day that just ended); from 12:00 on, the current UTC day up to then."""
    now = now.astimezone(UTC)
    if now.timetz().replace(tzinfo=UTC) < at:
        return None
    day = (now.date() - timedelta(days=1)) if at.hour < 12 else now.date()
    return None if last_sent == day.isoformat() else day.isoformat()


async def send_summary(notifier, journal_file: Path, day: str, *, group: str | None = None) -> bool:
    """Compute ``day``'s figures from the journal and send them; whether Telegram took the message."""
    from hedgectl.journal import Journal
    from hedgectl.journal.stats import journal_stats

    journal = Journal(journal_file)
    try:
        figures = journal_stats(journal, since=date.fromisoformat(day)).as_dict()
    finally:
        journal.close()
    result = await notifier.send_html(format_daily_summary(figures, day, group=group))
    if not result.ok:
        logger.warning("daily summary for %s not sent: %s", day, result.error)
    return result.ok


async def run_daily_summaries(
    notifier, at: time, targets: list[tuple[str | None, Path]], data_dir: Path,
    *, now: Callable[[], datetime] | None = None, check_secs: float = CHECK_SECS,
) -> None:
    """Until cancelled: send each target's (group, journal file) summary once a day at ``at``."""
    clock = now or (lambda: datetime.now(UTC))
    while True:
        for group, journal_file in targets:
            marker = sent_marker(data_dir, group)
            last = marker.read_text().strip() if marker.exists() else None
            day = summary_due(clock(), at, last)
            if day is not None:
                try:
                    if await send_summary(notifier, journal_file, day, group=group):
                        marker.write_text(day + "\n")
                except Exception as exc:  # a summary must never stop the loops that send it
                    logger.warning("daily summary failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(check_secs)
