"""Rich renderings of a hedge cycle: the live view while it runs, the summary after, a journaled cycle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hedgectl.decimals import plain, significant
from hedgectl.registry import ROLES
from hedgectl.strategies.hedge.status import CycleStatus, LegStatus

STATE_STYLES = {"filled": "green", "failed": "red", "cancelled": "yellow", "unknown": "magenta"}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "as_tuple"):
        return plain(value)
    return str(value)


#: A venue reading older than this is shown with its age: the cycle reads every poll interval while it monitors.
STALE_AFTER_SECS = 15.0


def position_cell(leg: LegStatus, now: float | None = None) -> Text:
    """A leg's position as the view shows it: where it comes from, and its age when it may no longer be true."""
    age = leg.position_age(now)
    if leg.position is None:
        if leg.position_error:
            return Text("unknown (read failed)", style="magenta")
        return Text("unknown", style="magenta")
    value = _fmt(leg.position)
    if leg.position_error:
        return Text(f"{value} stale {age or 0:.0f}s (read failed)", style="magenta")
    if leg.position_source == "fills":
        return Text(f"{value} (fills)")
    if leg.position_source == "journal":
        return Text(f"{value} (journal)")
    if leg.position_source == "stream":
        return Text(f"{value} (pushed {age or 0:.0f}s ago)", style="cyan")
    if age is not None and age > STALE_AFTER_SECS:
        return Text(f"{value} ({age:.0f}s old)", style="yellow")
    return Text(value)


class HedgeLiveView:
    """A renderable that redraws from the cycle's status on every refresh of a Rich Live region."""

    def __init__(self, status: CycleStatus):
        self.status = status

    def __rich__(self):
        status = self.status
        header = Text()
        header.append("hedge ", style="bold")
        header.append(status.cycle_id or "(preflight)")
        header.append(f"  phase {status.phase}", style="bold cyan")
        header.append(f"  {status.direction} {_fmt(status.size)}")
        remaining = status.countdown_remaining()
        if remaining is not None:
            header.append(f"  {status.countdown_label} {remaining:4.0f}s", style="bold yellow")
        header.append(f"  elapsed {time.time() - status.started_at:5.0f}s", style="dim")

        legs = Table("role", "venue", "side", "target", "filled", "avg price", "state", "latency ms", "position",
                     "to liq.", expand=False)
        for leg in status.legs.values():
            state_style = STATE_STYLES.get(leg.state, "")
            position = position_cell(leg)
            distance = leg.liquidation_distance()
            legs.add_row(
                leg.role,
                f"{leg.connector} ({leg.venue})",
                leg.side or "-",
                _fmt(leg.target),
                _fmt(leg.filled),
                _fmt(None if leg.average_price is None else significant(leg.average_price)),
                Text(leg.state, style=state_style),
                "-" if leg.latency_ms is None else f"{leg.latency_ms:.1f}",
                position,
                "-" if distance is None else f"{distance * 100:.2f}%",
            )
        net = status.net_exposure()
        stale = [leg.role for leg in status.legs.values() if leg.position is not None and leg.position_error]
        if net is None:
            net_line = Text("net exposure: unknown (a leg could not be read)", style="bold magenta")
        elif stale:
            net_line = Text(f"net exposure: {plain(net)} (stale: {', '.join(stale)} could not be read)",
                            style="bold magenta")
        else:
            net_line = Text(f"net exposure: {plain(net)}", style="bold green" if net == 0 else "bold yellow")
        log = Text()
        for at, text in list(status.events)[-8:]:
            log.append(time.strftime("%H:%M:%S ", time.localtime(at)), style="dim")
            log.append(text + "\n")
        return Group(Panel(Group(header, legs, net_line), title="tri-venue hedge"), Panel(log, title="events"))

    def summary(self, result) -> Table:
        columns = ["role", "final position", "realised pnl (fees incl.)"]
        if result.open_legs:
            columns += ["open size", "mark value", "unrealised pnl"]
        # the reason may quote a venue's answer: never markup
        table = Table(*columns, title=Text(f"hedge {result.outcome.value}: {result.reason}"))
        for role in ROLES:
            position = result.positions.get(role)
            row = [
                role,
                Text("unknown", style="magenta") if position is None else Text(plain(position)),
                _fmt(result.pnl.get(role)),
            ]
            if result.open_legs:
                leg = result.open_legs.get(role)
                opened = {} if leg is None else leg.open_dict()
                row += [opened.get("size") or "-", opened.get("mark_value") or ("-" if leg is None else "unknown"),
                        opened.get("unrealised_pnl") or ("-" if leg is None else "unknown")]
            table.add_row(*row)
        table.add_row("total", "", _fmt(result.pnl.get("total")), style="bold")
        if result.open_positions:
            table.caption = Text("STILL OPEN: " + "; ".join(result.open_positions), style="bold red")
        elif result.naked_window_ms is not None:
            table.caption = f"naked window {result.naked_window_ms:.1f} ms, duration {result.duration_secs:.1f} s"
        return table


def render_cycle_record(data: dict[str, Any]):
    """``hedge status``: one journaled cycle with its legs and orders."""
    title = f"cycle {data['id']}  phase {data['phase']}  outcome {data['outcome'] or '-'}  age {data['age_secs']}s"
    table = Table("role", "connector", "symbol", "order", "side", "size", "state", "filled", "avg price", title=title)
    for role, leg in data["legs"].items():
        orders = leg["orders"] or [None]
        for index, order in enumerate(orders):
            table.add_row(
                role if index == 0 else "",
                leg["connector"] if index == 0 else "",
                leg["symbol"] if index == 0 else "",
                "-" if order is None else f"{order['purpose']} #{order['client_order_index']}",
                "-" if order is None else order["side"],
                "-" if order is None else order["size"],
                "-" if order is None else order["state"],
                "-" if order is None else order["filled"],
                "-" if order is None else (order["average_price"] or "-"),
            )
    state = "resolved" if data["resolved"] else ("RUNNING" if data["running"] else "UNRESOLVED: run hedge recover")
    style = "green" if data["resolved"] else ("cyan" if data["running"] else "bold red")
    return Group(table, Text(f"net by journal: {data['net_by_journal']}  ({state})", style=style))


def render_plan(plan):
    """``hedge run --dry-run``: the orders the cycle would send, what they cost, and the checks they passed."""
    table = Table("role", "connector", "symbol", "side", "size", "notional", "margin", "slippage", "worst price",
                  "est. fee", title=f"hedge plan: {plan.direction} {plain(plan.size)} at {plain(plan.leverage)}x "
                  f"(dry run, nothing sent)")
    for leg in plan.legs:
        data = leg.as_dict()
        fee = "unknown" if data["estimated_fee"] is None else f"{data['estimated_fee']} ({plain(leg.fee_rate * 10_000)} bp)"
        table.add_row(
            leg.role, leg.connector, leg.symbol, data["side"], data["size"], data["notional"],
            data["margin"] + ("" if leg.max_leverage is None else f" (max {plain(leg.max_leverage)}x)"),
            f"{plain(leg.slippage * 100)} %", data["worst_price"] or "-", fee,
        )
    lines = Text()
    lines.append(f"L2 enters after {plan.wait_secs:.1f} s; net tolerance {plain(plan.tolerance)}\n", style="dim")
    for check in plan.checks:
        lines.append("ok ", style="green")
        lines.append(check + "\n")
    return Group(table, lines)


#: Loop events that also make a line of text for a person (the cycles' own events draw the live view).
LOOP_LINES = frozenset({"loop_cycle", "pause", "stop_requested", "loop_tally"})


class TerminalCycleDisplay:
    """Cycles shown through the terminal: JSON events, or the live view while a cycle runs and its summary after."""

    def __init__(self, terminal):
        self.terminal = terminal
        self._view: HedgeLiveView | None = None

    def cycle_event(self, name: str, data: dict[str, Any], text: str) -> None:
        self.terminal.event(name, data)

    def loop_event(self, name: str, data: dict[str, Any], text: str) -> None:
        self.terminal.event(name, data, text=text if name in LOOP_LINES else None)

    @contextmanager
    def watching(self, status: CycleStatus) -> Iterator[None]:
        view = self._view = HedgeLiveView(status)
        with self.terminal.live(lambda: view):
            yield

    def finished(self, result, loop_cycle: int | None) -> None:
        view = self._view
        summary = result.as_dict()
        summary["positions"] = {role: summary["positions"].get(role) for role in ROLES}
        if loop_cycle is not None:
            summary_event = {**summary, "loop_cycle": loop_cycle}
        else:
            summary_event = summary
        if self.terminal.json_mode:
            self.terminal.event("summary", summary_event)
        else:
            self.terminal.result(summary, lambda: view.summary(result))
