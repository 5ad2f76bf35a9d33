"""``hedgectl history``: past hedge cycles with size, duration, outcome and PnL, from the journal."""

from __future__ import annotations

import typer

from hedgectl.cli.state import state


def history(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=10000, help="How many cycles, newest first."),
    paper: bool = typer.Option(False, "--paper", help="The journal of paper runs."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Past hedge cycles, newest first."""
    from hedgectl.cli.hedge import _journal_file, journal_line
    from hedgectl.journal import Journal

    app_state = state(ctx)
    path = _journal_file(app_state, paper)
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
