"""``hedgectl history``: past hedge cycles with size, duration, outcome and PnL, from the journal; with ``--stats``,
the volume, fees, realised PnL and cost per venue and account, per UTC day and in total."""

from __future__ import annotations

import typer

from hedgectl.cli.state import GROUP_OPTION, state


def history(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=10000, help="How many cycles, newest first."),
    paper: bool = typer.Option(False, "--paper", help="The journal of paper runs."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    stats: bool = typer.Option(
        False, "--stats", help="Volume, fills, fees, realised PnL and cost per 10,000 of volume, per venue "
        "and account, per UTC day and in total."
    ),
    since: str | None = typer.Option(None, "--since", help="With --stats: only cycles started on or after this UTC "
                                     "day (YYYY-MM-DD)."),
    group: str | None = GROUP_OPTION,
    notify: bool = typer.Option(
        False, "--notify", help="With --stats: also send the figures of one UTC day (--since's, default today) to "
        "Telegram, as the daily summary (for cron)."
    ),
) -> None:
    """Past hedge cycles, newest first."""
    from hedgectl.cli.hedge import _journal_file, journal_line
    from hedgectl.errors import UsageError
    from hedgectl.journal import Journal

    if since is not None and not stats:
        raise UsageError("--since needs --stats")
    if notify and not stats:
        raise UsageError("--notify needs --stats")
    if stats:
        from hedgectl.journal.stats import parse_day

        try:
            since_day = parse_day(since) if since is not None else None
        except ValueError as exc:
            raise UsageError(f"--since: {exc}") from None
    app_state = state(ctx, group=group)
    path = _journal_file(app_state, paper)
    if stats:
        _stats(app_state, path, since_day, json_output)
        if notify:
            _notify(app_state, path, since_day)
        return
    journal = Journal(path)
    try:
        cycles = journal.history(limit)
    finally:
        journal.close()
    rows = []
    for cycle in cycles:
        result = cycle.result or {}
        rows.append(
            {
                "id": cycle.id,
                "started_at": cycle.created_at,
                "direction": cycle.direction,
                "size": cycle.params.get("plan", {}).get("size"),
                "duration_secs": result.get("duration_secs", round(cycle.updated_at - cycle.created_at, 3)),
                "outcome": cycle.outcome or ("unresolved" if not cycle.resolved else None),
                "pnl": (result.get("pnl") or {}).get("total"),
                "resolved": cycle.resolved,
            }
        )

    def render():
        import time

        from rich.table import Table

        table = Table("cycle", "started", "direction", "size", "duration s", "outcome", "pnl", title="hedge history")
        for row in rows:
            style = {"completed": "green", "emergency_exit": "yellow", "failed": "red", "abandoned": "yellow"}.get(
                row["outcome"] or "", "")
            table.add_row(
                row["id"],
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started_at"])),
                row["direction"],
                row["size"] or "-",
                str(row["duration_secs"]),
                f"[{style}]{row['outcome']}[/{style}]" if style else str(row["outcome"]),
                row["pnl"] or "-",
            )
        from rich.console import Group

        return Group(table, journal_line(path))

    app_state.terminal(json_mode=json_output).result({"cycles": rows, "journal": str(path)}, render)


def _notify(app_state, path, day) -> None:
    """Send one UTC day's figures to Telegram as the daily summary; exit 1 when it did not go out."""
    from datetime import UTC, datetime

    from hedgectl.cli.state import run
    from hedgectl.errors import ExitCode, UsageError
    from hedgectl.notify.daily import send_summary
    from hedgectl.notify.telegram import TelegramNotifier

    telegram = app_state.config().telegram
    if not (telegram.enabled and telegram.bot_token and telegram.chat_id):
        raise UsageError("--notify needs Telegram: [telegram] enabled = true with its bot token and chat id")
    day = (day or datetime.now(UTC).date()).isoformat()

    async def send() -> bool:
        notifier = TelegramNotifier(telegram.bot_token.reveal(), telegram.chat_id, base_url=telegram.base_url)
        try:
            return await send_summary(notifier, path, day, group=app_state.group)
        finally:
            await notifier.aclose()

    if not run(send()):
        app_state.terminal().error(f"the daily summary of {day} was not sent (see the warning above)")
        raise typer.Exit(ExitCode.FAILURE)


def _stats(app_state, path, since_day, json_output: bool) -> None:
    from hedgectl.cli.hedge import journal_line
    from hedgectl.journal import Journal
    from hedgectl.journal.stats import journal_stats

    journal = Journal(path)
    try:
        figures = journal_stats(journal, since=since_day)
    finally:
        journal.close()
    data = {**figures.as_dict(), "journal": str(path)}

    def render():
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        def table(title: str, block: dict) -> Table:
            out = Table("venue", "account", "volume", "fills", "fees", "realised pnl", "cost",
                        "cost per 10k", title=title)
            for row in [*block["accounts"], block["all"]]:
                # venue and account names come from the journal: drawn as plain text, never as markup
                out.add_row(Text(row["venue"]), Text(row["connector"]), row["volume"], str(row["fills"]),
                            row["fees"], row["realised_pnl"], row["cost"], row["cost_per_10k"] or "-",
                            style="bold" if row is block["all"] else None)
            return out

        def cycles(count: int) -> str:
            return f"{count} cycle" + ("" if count == 1 else "s")

        parts = [table(f"{day['day']} (UTC), {cycles(day['cycles'])}", day) for day in data["days"]]
        since_text = f"since {data['since']}" if data["since"] else "all days"
        parts.append(table(f"total, {since_text}, {cycles(data['total']['cycles'])}", data["total"]))
        everything = data["total"]["all"]
        if everything["from_journal"]:
            parts.append(Text(f"{everything['from_journal']} cycle legs counted from the journal's orders (the "
                              "venue's fills were not recorded): their fees are what the orders reported", style="yellow"))
        if everything["unpriced_orders"]:
            parts.append(Text(f"{everything['unpriced_orders']} filled orders without a known price: their volume "
                              "and PnL are not counted", style="yellow"))
        parts.append(journal_line(path))
        return Group(*parts)

    app_state.terminal(json_mode=json_output).result(data, render)
