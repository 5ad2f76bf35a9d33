"""Every string from the network reaches the operator's terminal as plain text: no markup, no escape sequences."""

from __future__ import annotations

import io
import subprocess
import sys

import httpx
import pytest
from rich.console import Console

from hedgectl.cli.board_view import render_board
from hedgectl.text import visible
from tests.telemetry.conftest import TOKEN

HOSTILE = [
    "[/]",
    "[link=https://example.invalid]click[/link]",
    "[bold red]ALERT[/bold red]",
    "g\ud800x",
    "\x1b[2J\x1b[H",
    "\x1b]0;owned title\x07",
    "\x9b31m\x85",
    "a\u202eb",
    "\x00\x08\r\n\t",
]
# What a terminal would act on, as it would arrive in the output.
SEQUENCES = ["\x1b[2J", "\x1b[H", "\x1b]", "\x07", "\x9b", "\x85", "\u202e", "\x00", "\x08", "\r", "\x1b]8;"]


def render_on_a_terminal(renderable) -> str:
    """What a colour terminal would receive (Rich's own style codes included), as text that encodes as UTF-8."""
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=True, color_system="truecolor").print(renderable)
    text = out.getvalue()
    text.encode("utf-8")
    return text


def status_with(field: str, value: str) -> dict:
    payload = {"group": "g", "role": "BP", "symbol": "ETH", "direction": "long", "position_base": "0.5", field: value}
    name = value if field == "name" else "bp-1"
    return {"now": 1, "bots": [{"name": name, "online": True, "last_update_ms_ago": 5, "payload": payload}]}


@pytest.mark.parametrize("field", ["group", "role", "symbol", "direction", "name", "position_base", "balance_total"])
@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_string_in_any_shown_field_is_drawn_as_plain_visible_text(field, value):
    text = render_on_a_terminal(render_board(status_with(field, value), source="http://127.0.0.1:1"))

    for sequence in SEQUENCES:
        assert sequence not in text.replace("\n", "")
    if field not in ("position_base", "balance_total"):
        assert visible(value).upper()[:3] in text.upper()


def test_markup_is_shown_literally_not_applied():
    text = render_on_a_terminal(render_board(status_with("symbol", "[bold red]ALERT[/bold red]")))

    assert "[bold red]ALERT[/bold red]" in text


def test_control_characters_are_made_visible():
    assert visible("\x1b[2J") == "\\x1b[2J"
    assert visible("\x1b]0;t\x07") == "\\x1b]0;t\\x07"
    assert visible("\x9b") == "\\x9b"
    assert visible("g\ud800") == "g\\ud800"
    assert visible("x" * 100, 10) == "x" * 10 + "…"
    assert visible(10**5000) == "?"


def test_a_collector_error_and_pruned_names_are_shown_as_plain_text():
    frame = render_board(None, error="HTTP 500: [/]\x1b[2J", footer="pruned 1 offline bots: [link=x]\x1b]0;t\x07")

    text = render_on_a_terminal(frame)

    assert "[/]\\x1b[2J" in text
    assert "\x1b[2J" not in text and "\x1b]0" not in text


def test_watch_once_prints_hostile_payload_strings_as_plain_text(collector):
    payload = {"group": "[/]\x1b[2J", "role": "BP", "symbol": "\x1b]0;t\x07[link=x]y", "position_base": "1"}
    response = httpx.post(f"{collector.url}/ingest/bp-1", json=payload, headers={"x-auth-token": TOKEN})
    assert response.status_code == 200

    result = subprocess.run(
        [sys.executable, "-m", "hedgectl", "telemetry", "watch", "--once", "--url", collector.url],
        env={"HEDGECTL_TELEMETRY_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        capture_output=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout.decode("utf-8")
    assert "\x1b" not in out and "\x07" not in out
    assert "Group [/]\\x1b[2J" in out
    assert "\\x1b]0;t\\x07[link=x]y" in out
