"""Every operator command answers bad arguments with one line on stderr and exit code 2, before touching a venue."""

from __future__ import annotations

import pytest

COMMANDS = [
    ["positions"],
    ["positions", "--watch"],
    ["nonce", "show", "lighter1"],
    ["nonce", "refresh", "lighter1"],
    ["min-order", "probe", "--yes"],
    ["smoke-test", "backpack"],
    ["order", "market", "backpack", "--side", "buy", "--size", "0.01", "--yes"],
    ["order", "limit", "backpack", "--side", "buy", "--size", "0.01", "--price", "100", "--yes"],
    ["order", "cancel-all", "backpack", "--yes"],
    ["flatten", "--all", "--yes"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_without_a_config_every_command_says_so_in_one_line(cli, args):
    result = cli(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "no config file found" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["positions", "--bogus"],
        ["nonce", "show"],
        ["min-order", "probe", "--attempts", "many"],
        ["smoke-test"],
        ["order", "market", "backpack", "--size", "0.01"],
        ["order", "limit", "backpack", "--side", "buy", "--size", "0.01"],
        ["flatten", "--all", "--yes", "--paper", "--seed", "x"],
    ],
    ids=" ".join,
)
def test_usage_errors_from_the_command_line_parser_are_one_line(cli, args):
    result = cli(*args)

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "Usage:" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["positions", "nosuch"],
        ["nonce", "show", "nosuch"],
        ["min-order", "probe", "--target", "nosuch:buy", "--yes"],
        ["smoke-test", "nosuch"],
        ["order", "market", "nosuch", "--side", "buy", "--size", "0.01", "--yes"],
        ["order", "cancel-all", "nosuch", "--yes"],
        ["flatten", "nosuch", "--yes"],
    ],
    ids=" ".join,
)
def test_an_unknown_connector_is_named_in_one_line(desk, args):
    result = desk.run(*args)

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "unknown connector 'nosuch'" in result.stderr
