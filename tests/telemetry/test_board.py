"""The Rich board: groups and roles from a status document, NET rows, and the watch loop against a real collector."""

from __future__ import annotations

import asyncio
import os
import re
import termios
from decimal import Decimal

import httpx
import pytest
from rich.console import Console

from hedgectl.cli.board_view import KEY_PRUNE, KEY_QUIT, key_commands, legs_table, render_board, watch, watch_board
from hedgectl.telemetry.board import BoardClient, LegRow, board_groups, format_age, net_position
from hedgectl.telemetry.collector import ThreadedCollector
from tests.telemetry.conftest import TOKEN


def bot(name, *, group=None, role=None, position="0", online=True, age=500, **extra):
    payload = {"group": group, "role": role, "symbol": "ETH", "direction": "long", "position_base": position}
    payload.update(extra)
    return {"name": name, "online": online, "last_update_ms_ago": age, "payload": payload}


STATUS = {
    "now": 1_700_000_000_000,
    "bots": [
        bot("hedge-b-l2", group="hedge-b", role="L2", position="-0.2", online=False, age=95_000),
        bot("hedge-a-l2", group="hedge-a", role="L2", position="-0.2", balance_total="300.5", latency=12.5),
        bot("hedge-a-bp", group="hedge-a", role="BP", position="0.5", balance_total="1000"),
        bot("loner", position="1.25"),
        bot("hedge-a-l1", group="hedge-a", role="L1", position=-0.3),
        bot("hedge-b-bp", group="hedge-b", role="BP", position="0.5"),
        bot("hedge-b-l1", group="hedge-b", role="L1", position="-0.25"),
    ],
}


# The same bots with hedge-b's L2 heard from just now, so hedge-b's NET is a current figure.
ALL_ONLINE = {
    **STATUS,
    "bots": [
        bot("hedge-b-l2", group="hedge-b", role="L2", position="-0.2") if entry["name"] == "hedge-b-l2" else entry
        for entry in STATUS["bots"]
    ],
}


def render_text(renderable, width=140) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def render_ansi(renderable, width=140) -> str:
    console = Console(record=True, width=width, force_terminal=True, color_system="standard")
    console.print(renderable)
    return console.export_text(styles=True)


def table_lines(text: str, title: str) -> list[str]:
    """The lines of the table under `title`, up to the next blank-titled block."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    block = []
    for line in lines[start + 1 :]:
        if line.strip().startswith(("Group ", "Ungrouped")) and block:
            break
        block.append(line)
    return block


def test_groups_are_sorted_and_legs_come_in_role_order_with_ungrouped_last():
    groups = board_groups(STATUS)

    assert [group.name for group in groups] == ["hedge-a", "hedge-b", None]
    assert [row.label for row in groups[0].rows] == ["hedge-a-bp", "hedge-a-l1", "hedge-a-l2"]
    assert [row.role for row in groups[1].rows] == ["BP", "L1", "L2"]
    assert [row.label for row in groups[2].rows] == ["loner"]


def test_numeric_and_string_positions_both_become_decimals():
    rows = board_groups(STATUS)[0].rows

    assert [row.position for row in rows] == [Decimal("0.5"), Decimal("-0.3"), Decimal("-0.2")]
    assert net_position(rows) == Decimal(0)


def test_board_shows_each_group_with_its_legs_and_a_flat_net():
    text = render_text(render_board(STATUS, source="http://127.0.0.1:10123"))
    group_a = table_lines(text, "Group hedge-a")

    assert "7 bots, 6 online" in text
    roles = [re.match(r"\W*(BP|L1|L2|NET)\b", line) for line in group_a]
    assert [match.group(1) for match in roles if match] == ["BP", "L1", "L2", "NET"]
    net_line = next(line for line in group_a if "NET" in line)
    assert "flat" in net_line and "NOT FLAT" not in net_line
    bp_line = next(line for line in group_a if "hedge-a-bp" in line)
    assert all(cell in bp_line for cell in ("online", "500ms", "ETH", "long", "0.5", "1000"))
    assert "12.5ms" in next(line for line in group_a if "hedge-a-l2" in line)


def test_group_whose_legs_do_not_cancel_is_flagged_not_flat_with_its_net():
    text = render_text(render_board(ALL_ONLINE))
    net_line = next(line for line in table_lines(text, "Group hedge-b") if "NET" in line)

    assert "NOT FLAT" in net_line
    assert "0.05" in net_line


def test_not_flat_net_is_highlighted_and_offline_bots_are_red():
    assert re.search(r"\x1b\[[0-9;]*41m[^\x1b]*NOT FLAT", render_ansi(render_board(ALL_ONLINE)))
    ansi = render_ansi(render_board(STATUS))

    assert re.search(r"\x1b\[1;31m[^\x1b]*offline", ansi)
    assert re.search(r"\x1b\[1;32m[^\x1b]*online", ansi)


def test_a_group_with_a_stale_leg_shows_its_net_unknown_with_the_age_never_a_figure():
    text = render_text(render_board(STATUS))
    group_b = table_lines(text, "Group hedge-b")
    net_line = next(line for line in group_b if "NET" in line)

    assert "unknown" in net_line and "stale 1m35s" in net_line
    assert "NOT FLAT" not in net_line and "0.05" not in net_line
    assert "(stale)" in next(line for line in group_b if "hedge-b-l2" in line)


def test_heartbeats_older_than_the_online_window_never_show_a_flat_net():
    # 4m37s old, and a collector (the old one) that still calls them online: the board keeps its own clock
    stale = [
        bot(f"s-{role.lower()}", group="s", role=role, position=position, age=277_000, telemetry_interval_secs=10)
        for role, position in (("BP", "0.5"), ("L1", "-0.5"), ("L2", "0"))
    ]

    text = render_text(render_board({"bots": stale}))
    net_line = next(line for line in table_lines(text, "Group s") if "NET" in line)

    assert "flat" not in net_line
    assert "unknown" in net_line and "stale 4m37s" in net_line
    assert "0 online" in text


def test_an_announced_huge_interval_does_not_keep_a_bot_online_on_the_board():
    entry = bot("x-bp", group="x", role="BP", age=7_200_000, telemetry_interval_secs=1e308)

    assert board_groups({"bots": [entry]})[0].rows[0].online is False


def test_offline_bot_shows_offline_and_its_age():
    line = next(line for line in render_text(render_board(STATUS)).splitlines() if "hedge-b-l2" in line)

    assert "offline" in line
    assert "1m35s" in line


def test_ungrouped_bots_are_shown_on_their_own_without_a_net_row():
    text = render_text(render_board(STATUS))
    ungrouped = table_lines(text, "Ungrouped bots")

    assert any("loner" in line and "1.25" in line for line in ungrouped)
    assert not any("NET" in line for line in ungrouped)


def test_malformed_status_entries_render_as_unknown_instead_of_failing():
    status = {
        "bots": [
            bot("weird-bp", group="g", role="bp", position="abc", latency="fast"),
            bot("weird-l1", group="g", role="L1", position=None),
            {"name": "no-payload", "online": "yes", "payload": ["x"]},
            "not a bot",
        ]
    }

    text = render_text(render_board(status))
    group = table_lines(text, "Group g")

    assert any("weird-bp" in line and "BP" in line and "?" in line for line in group)
    assert "unknown" in next(line for line in group if "NET" in line)
    assert "no-payload" in text
    assert "offline" in next(line for line in text.splitlines() if "no-payload" in line)


def test_status_without_bots_says_nobody_reported():
    assert "no bots have reported yet" in render_text(render_board({"now": 1, "bots": []}))


def test_legs_table_renders_plain_rows_without_liveness_for_venue_reads():
    rows = [
        LegRow("backpack", role="BP", symbol="ETH_USDC_PERP", direction="long", position=Decimal("0.5")),
        LegRow("lighter1", role="L1", symbol="ETH", direction="short", position=Decimal("-0.5")),
        LegRow("lighter2", role="L2", symbol="ETH", direction="long", position=Decimal("0.01")),
    ]

    text = render_text(legs_table(rows, title="Positions", show_liveness=False, flat_tolerance=Decimal("0.01")))

    assert "Status" not in text and "Age" not in text
    assert "Leg" in text
    net_line = next(line for line in text.splitlines() if "NET" in line)
    assert "flat" in net_line and "NOT FLAT" not in net_line
    assert "0.01" in net_line


def test_unknown_position_makes_the_net_unknown():
    rows = [LegRow("a", position=Decimal(1)), LegRow("b", position=None)]

    assert net_position(rows) is None
    assert "unknown" in render_text(legs_table(rows))


@pytest.mark.parametrize(
    ("age_ms", "text"),
    [
        (None, "-"),
        (0, "0ms"),
        (999, "999ms"),
        (1000, "1s"),
        (65_000, "1m05s"),
        (7_800_000, "2h10m"),
        (90_000_000, "1d01h"),
        (1e300, ">99d"),
        (float("nan"), "-"),
    ],
)
def test_ages_are_short(age_ms, text):
    assert format_age(age_ms) == text


def ingest(url: str, name: str, **payload) -> None:
    response = httpx.post(f"{url}/ingest/{name}", json=payload, headers={"x-auth-token": TOKEN})
    assert response.status_code == 200


def test_watch_once_renders_one_frame_from_a_live_collector(collector):
    ingest(collector.url, "a-bp", group="a", role="BP", symbol="ETH_USDC_PERP", direction="short", position_base="-1")
    ingest(collector.url, "a-l1", group="a", role="L1", symbol="ETH", direction="long", position_base="1")
    console = Console(record=True, width=140, color_system=None)

    async def scenario():
        async with BoardClient(collector.url, TOKEN) as board:
            return await watch_board(console, board, once=True)

    assert asyncio.run(scenario()) is True
    text = console.export_text()
    assert "Group a" in text
    assert "a-bp" in text and "a-l1" in text
    assert "flat" in next(line for line in text.splitlines() if "NET" in line)


def test_watch_once_reports_a_refused_token_without_showing_it(collector):
    console = Console(record=True, width=140, color_system=None)

    async def scenario():
        async with BoardClient(collector.url, TOKEN + "-wrong") as board:
            return await watch_board(console, board, once=True)

    assert asyncio.run(scenario()) is False
    text = console.export_text()
    assert "refused the token" in text
    assert TOKEN not in text


def test_watch_once_reports_an_unreachable_collector():
    with ThreadedCollector(port=0) as server:
        url = server.url
    console = Console(record=True, width=140, color_system=None)

    async def scenario():
        async with BoardClient(url) as board:
            return await watch_board(console, board, once=True)

    assert asyncio.run(scenario()) is False
    assert "collector error: ConnectError" in console.export_text()


def test_prune_key_removes_offline_bots_and_quit_key_ends_the_watch(collector, clock):
    ingest(collector.url, "stale", group="a", role="BP", telemetry_interval_secs=1)
    clock.advance(5_000)
    ingest(collector.url, "fresh", group="a", role="L1", telemetry_interval_secs=1)
    console = Console(record=True, width=140, color_system=None)

    async def scenario():
        commands: asyncio.Queue[str] = asyncio.Queue()
        for key in (KEY_PRUNE, KEY_QUIT):
            commands.put_nowait(key)
        async with BoardClient(collector.url, TOKEN) as board:
            return await watch_board(console, board, interval_secs=30, commands=commands)

    assert asyncio.run(scenario()) is True
    assert "pruned 1 offline bots: stale" in console.export_text()
    assert [entry["name"] for entry in collector.store.status()["bots"]] == ["fresh"]


def test_prune_first_then_once_shows_the_pruned_board(collector, clock):
    ingest(collector.url, "gone", role="L2", telemetry_interval_secs=1)
    clock.advance(2_000)
    console = Console(record=True, width=140, color_system=None)

    async def scenario():
        async with BoardClient(collector.url, TOKEN) as board:
            return await watch_board(console, board, once=True, prune_first=True)

    assert asyncio.run(scenario()) is True
    text = console.export_text()
    assert "pruned 1 offline bots: gone" in text
    assert "no bots have reported yet" in text


def test_key_presses_on_a_terminal_arrive_lower_cased_and_the_terminal_is_restored():
    controller, terminal = os.openpty()
    before = termios.tcgetattr(terminal)

    async def scenario():
        async with key_commands(terminal) as keys:
            assert not termios.tcgetattr(terminal)[3] & termios.ICANON
            os.write(controller, b"Pq")
            return [await asyncio.wait_for(keys.get(), 10), await asyncio.wait_for(keys.get(), 10)]

    try:
        assert asyncio.run(scenario()) == ["p", "q"]
        assert termios.tcgetattr(terminal) == before
    finally:
        os.close(controller)
        os.close(terminal)


def test_watch_reads_keys_from_a_terminal_until_quit(collector):
    ingest(collector.url, "x-bp", group="x", role="BP", position_base="0")
    controller, terminal = os.openpty()
    console = Console(record=True, width=140, color_system=None)

    async def type_keys_once_in_cbreak_mode():
        # Keys typed before the switch would be flushed with the line buffer, as on a real terminal.
        while termios.tcgetattr(terminal)[3] & termios.ICANON:
            await asyncio.sleep(0.01)
        os.write(controller, b"rq")

    async def scenario():
        typist = asyncio.get_running_loop().create_task(type_keys_once_in_cbreak_mode())
        ok = await asyncio.wait_for(watch(console, collector.url, TOKEN, interval_secs=30, keys_fd=terminal), 20)
        await typist
        return ok

    try:
        ok = asyncio.run(scenario())
    finally:
        os.close(controller)
        os.close(terminal)

    assert ok is True
    text = console.export_text()
    assert "Group x" in text
    assert "r refresh" in text
