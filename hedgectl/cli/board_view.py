"""The live board: Rich tables of the hedge legs from a collector's /api/status, and the polling loop around them.

`legs_table` takes plain `LegRow` data and adds a NET row, so `positions --watch` draws venue reads the same way the
board draws heartbeats. Every string that came over the network is drawn as plain text (`plain.plain`), and a leg
whose heartbeat is older than its online window is never shown as current: its NET is unknown, with the age.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hedgectl.cli.plain import plain
from hedgectl.telemetry.board import BoardClient, BoardError, LegRow, board_groups, format_age, net_position
from hedgectl.text import visible

KEY_REFRESH = "r"
KEY_PRUNE = "p"
KEY_QUIT = "q"
KEY_HELP = "r refresh · p prune offline · q quit"

# A figure wider than this is cut: a board cell, not a place for a thousand digits from the network.
_FIGURE_CHARS = 32


def _decimal_text(value: Decimal | None) -> str:
    return "?" if value is None else visible(format(value, "f"), _FIGURE_CHARS)


def _signed_text(value: Decimal | None, *, stale: bool = False) -> Text:
    if value is None:
        return Text("?", style="yellow")
    if stale:
        return Text(f"{_decimal_text(value)} (stale)", style="dim")
    return Text(_decimal_text(value), style="green" if value > 0 else "red" if value < 0 else "")


def _oldest_stale_age(rows: Sequence[LegRow]) -> float | None:
    ages = [row.age_ms for row in rows if row.online is False and row.age_ms is not None]
    return max(ages) if ages else None


def _net_cells(rows: Sequence[LegRow], flat_tolerance: Decimal) -> tuple[Text, Text]:
    """The NET row's label and figure; never `flat` or a figure from a leg whose heartbeat is stale."""
    if any(row.online is False for row in rows):
        age = _oldest_stale_age(rows)
        detail = f"stale {format_age(age)}" if age is not None else "stale"
        return Text("unknown", style="bold yellow"), Text(detail, style="yellow")
    net = net_position(rows)
    if net is None:
        return Text("unknown", style="bold yellow"), Text("?", style="yellow")
    flat = abs(net) <= flat_tolerance
    style = "bold green" if flat else "bold white on red"
    return Text("flat" if flat else "NOT FLAT", style=style), Text(_decimal_text(net), style=style)


def legs_table(
    rows: Sequence[LegRow],
    *,
    title: str | None = None,
    show_liveness: bool = True,
    net_row: bool = True,
    flat_tolerance: Decimal = Decimal(0),
) -> Table:
    """A table of legs, with a NET row that is highlighted when the legs do not cancel out within `flat_tolerance`."""
    table = Table(title=None if title is None else plain(title, 80), title_justify="left", expand=False)
    table.add_column("Role")
    table.add_column("Bot" if show_liveness else "Leg")
    if show_liveness:
        table.add_column("Status")
        table.add_column("Age", justify="right")
    table.add_column("Symbol")
    table.add_column("Dir")
    table.add_column("Position", justify="right")
    table.add_column("Balance", justify="right")
    table.add_column("Latency", justify="right")
    for row in rows:
        cells: list[RenderableType] = [plain(row.role or "-", 8), plain(row.label)]
        if show_liveness:
            cells.append(Text("online", style="bold green") if row.online else Text("offline", style="bold red"))
            cells.append(Text(format_age(row.age_ms)))
        cells += [
            plain(row.symbol or "-", 32),
            plain(row.direction or "-", 16),
            _signed_text(row.position, stale=row.online is False),
            Text("-" if row.balance is None else _decimal_text(row.balance)),
            Text("-" if row.latency_ms is None else visible(f"{row.latency_ms:g}ms", _FIGURE_CHARS)),
        ]
        table.add_row(*cells)
    if net_row:
        label, figure = _net_cells(rows, flat_tolerance)
        cells = [Text("NET", style="bold"), label]
        if show_liveness:
            cells += ["", ""]
        cells += ["", "", figure, "", ""]
        table.add_section()
        table.add_row(*cells)
    return table


def render_board(
    status: Mapping[str, Any] | None,
    *,
    source: str | None = None,
    error: str | None = None,
    flat_tolerance: Decimal = Decimal(0),
    footer: str | None = None,
) -> RenderableType:
    """One frame of the board: a header line, a table per group (with NET), and the ungrouped bots on their own."""
    parts: list[RenderableType] = []
    groups = board_groups(status) if status is not None else []
    count = sum(len(group.rows) for group in groups)
    online = sum(1 for group in groups for row in group.rows if row.online)
    header = Text.assemble(
        ("Telemetry", "bold"),
        f" {visible(source, 120)}" if source else "",
        f"  {count} bots, ",
        (f"{online} online", "green" if online == count else "yellow"),
        f"  {time.strftime('%H:%M:%S')}",
    )
    parts.append(header)
    if error:
        parts.append(Text(f"collector error: {visible(error, 300)}", style="bold red"))
    for group in groups:
        if group.name is None:
            parts.append(legs_table(group.rows, title="Ungrouped bots", net_row=False))
        else:
            title = f"Group {visible(group.name)}"
            parts.append(legs_table(group.rows, title=title, flat_tolerance=flat_tolerance))
    if status is not None and not groups:
        parts.append(Text("no bots have reported yet", style="dim"))
    if footer:
        parts.append(Text(visible(footer, 400), style="dim"))
    return Group(*parts)


async def _frame(
    board: BoardClient, note: str | None, flat_tolerance: Decimal, footer: str | None
) -> tuple[RenderableType, bool]:
    try:
        status = await board.status()
    except BoardError as exc:
        return render_board(None, source=board.base_url, error=str(exc), footer=note or footer), False
    frame = render_board(status, source=board.base_url, flat_tolerance=flat_tolerance, footer=note or footer)
    return frame, True


async def watch_board(
    console: Console,
    board: BoardClient,
    *,
    interval_secs: float = 2.0,
    once: bool = False,
    prune_first: bool = False,
    commands: asyncio.Queue[str] | None = None,
    flat_tolerance: Decimal = Decimal(0),
) -> bool:
    """Show the board on `console`, refreshing every `interval_secs` until cancelled or told to quit.

    `once` prints a single frame. `prune_first` prunes offline bots before the first frame. `commands` delivers
    keys: KEY_REFRESH redraws now, KEY_PRUNE prunes offline bots, KEY_QUIT ends the watch.
    Returns whether the last fetch succeeded.
    """
    note = None
    if prune_first:
        note = await _prune_note(board)
    if once:
        frame, ok = await _frame(board, note, flat_tolerance, None)
        console.print(frame)
        return ok
    footer = KEY_HELP if commands is not None else None
    frame, ok = await _frame(board, note, flat_tolerance, footer)
    with Live(frame, console=console, auto_refresh=False, transient=False) as live:
        live.refresh()
        while True:
            key = await _next_command(commands, interval_secs)
            note = None
            if key == KEY_QUIT:
                return ok
            if key == KEY_PRUNE:
                note = await _prune_note(board)
            frame, ok = await _frame(board, note, flat_tolerance, footer)
            live.update(frame, refresh=True)


async def _prune_note(board: BoardClient) -> str:
    try:
        removed = await board.prune()
    except BoardError as exc:
        return f"prune failed: {exc}"
    return f"pruned {len(removed)} offline bots" + (f": {', '.join(removed)}" if removed else "")


async def _next_command(commands: asyncio.Queue[str] | None, timeout_secs: float) -> str | None:
    if commands is None:
        await asyncio.sleep(timeout_secs)
        return None
    try:
        async with asyncio.timeout(timeout_secs):  # not wait_for: it can swallow a cancel on Python 3.11
            return await commands.get()
    except TimeoutError:
        return None


@contextlib.asynccontextmanager
async def key_commands(fd: int) -> AsyncIterator[asyncio.Queue[str]]:
    """Single key presses from the terminal on `fd` (put in cbreak mode meanwhile), lower-cased, as a queue."""
    # POSIX-only modules, imported here so the board itself renders anywhere.
    import termios
    import tty

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    saved = termios.tcgetattr(fd)

    def on_readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            loop.remove_reader(fd)
            return
        for char in data.decode("utf-8", errors="ignore").lower():
            queue.put_nowait(char)

    tty.setcbreak(fd)
    loop.add_reader(fd, on_readable)
    try:
        yield queue
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def watch(
    console: Console,
    base_url: str,
    token: str | None = None,
    *,
    interval_secs: float = 2.0,
    once: bool = False,
    prune_first: bool = False,
    keys_fd: int | None = None,
    flat_tolerance: Decimal = Decimal(0),
) -> bool:
    """What `telemetry watch` runs: the board of the collector at `base_url`, reading keys from `keys_fd` when given
    (a terminal; ignored with `once`). Returns whether the last fetch succeeded."""
    async with BoardClient(base_url, token) as board:
        if once or keys_fd is None:
            return await watch_board(
                console,
                board,
                interval_secs=interval_secs,
                once=once,
                prune_first=prune_first,
                flat_tolerance=flat_tolerance,
            )
        async with key_commands(keys_fd) as commands:
            return await watch_board(
                console,
                board,
                interval_secs=interval_secs,
                prune_first=prune_first,
                commands=commands,
                flat_tolerance=flat_tolerance,
            )
