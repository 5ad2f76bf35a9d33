"""The last line of defence: a bug is one line, never a traceback, and its exit code never says "nothing is left
open" for a command that sends orders. The bug is injected by replacing a library function with one that raises,
since a real bug cannot be summoned on demand."""

from __future__ import annotations


def _bug(*args, **kwargs):
    raise RuntimeError("an injected bug")


def test_a_bug_in_a_command_that_trades_exits_4_and_says_to_check_positions(cli, monkeypatch):
    monkeypatch.setattr("hedgectl.strategies.smoke_test.SmokeTest.run", _bug)
    result = cli("smoke-test", "backpack", "--paper")

    assert result.exit_code == 4
    assert "internal error: RuntimeError: an injected bug" in result.stderr
    assert "hedgectl positions --all" in result.stderr
    assert "Traceback" not in result.output


def test_a_bug_in_a_read_only_command_exits_1(cli, monkeypatch):
    monkeypatch.setattr("hedgectl.connectors.factory.ConnectorSet.get", _bug)
    result = cli("positions", "--all", "--paper", "--json")

    assert result.exit_code == 1, result.output
    assert "internal error" in result.stderr and "positions may be open" not in result.stderr
