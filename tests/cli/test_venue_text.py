"""A venue's words reach the operator as plain text: brackets are not markup, control characters are shown as
escapes, and the length is bounded, whatever the venue answered."""

from __future__ import annotations

from decimal import Decimal

from hedgectl.cli.hedge_view import HedgeLiveView
from hedgectl.cli.terminal import Terminal
from hedgectl.errors import MESSAGE_LIMIT, VenueError
from hedgectl.strategies.hedge.cycle import HedgeResult
from hedgectl.strategies.hedge.phases import Outcome
from hedgectl.strategies.hedge.status import CycleStatus

HOSTILE = "margin [/] [bold red]low[/bold red] [link=http://x]x[/link] \x1b[2J\x1b]0;title\x07\u202e"


def test_a_venue_error_message_keeps_its_words_with_control_characters_made_visible():
    error = VenueError(HOSTILE + "x" * 2000, connector="backpack", code="E1")

    assert "\x1b" not in str(error) and "\x07" not in str(error) and "\u202e" not in str(error)
    assert "\\x1b[2J" in error.message and "\\u202e" in error.message
    assert error.message.startswith("margin [/] [bold red]low[/bold red]")
    assert len(error.message) <= MESSAGE_LIMIT + 1


def test_the_terminals_lines_print_brackets_literally(capsys):
    terminal = Terminal()
    text = str(VenueError(HOSTILE, connector="backpack"))
    terminal.event("refused", {}, text=text)
    terminal.info(text)
    terminal.warn(text)
    captured = capsys.readouterr()

    assert captured.out.count("[bold red]low[/bold red]") == 2
    assert "[link=http://x]" in captured.err and "[/]" in captured.err
    assert "\x1b[2J" not in captured.out + captured.err


def test_the_hedge_summary_draws_a_reason_that_quotes_a_venue(capsys):
    reason = f"emergency exit: {VenueError(HOSTILE, connector='lighter1')}"
    result = HedgeResult(
        Outcome.FAILED, reason, positions={"BP": Decimal("0.5"), "L1": None, "L2": Decimal(0)},
        open_positions=["BP ETH_USDC_PERP 0.5 [/]"],
    )
    Terminal().out.print(HedgeLiveView(CycleStatus("long", {})).summary(result))
    out = capsys.readouterr().out

    assert "[bold red]low[/bold red]" in out
    assert "STILL OPEN: BP ETH_USDC_PERP 0.5 [/]" in out


def test_a_venue_refusal_with_markup_and_escapes_is_one_plain_line(desk):
    desk.venues.arm("backpack", "reject", message="[/] no \x1b[2J margin", count=1)
    result = desk.run("order", "market", "backpack", "--side", "buy", "--size", "0.01", "--yes")

    assert result.exit_code == 1
    assert "[/] no \\x1b[2J margin" in result.output
    assert "\x1b[2J" not in result.output
