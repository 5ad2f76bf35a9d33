"""Every command of the command line, found by walking the app, answers bad input with one line and exit code 2."""

from __future__ import annotations

import pytest
import typer

from hedgectl.cli import app


def leaf_commands(group=None, prefix=()):
    group = group or typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


ALL = list(leaf_commands())


def test_the_walk_finds_the_documented_commands():
    names = {" ".join(path) for path in ALL}
    for expected in ("hedge run", "hedge recover", "positions", "flatten", "sim serve", "telemetry watch",
                     "notify test", "config check", "history", "smoke-test", "min-order probe"):
        assert expected in names


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_an_unknown_option_is_one_line_and_exit_2(cli, path):
    result = cli(*path, "--no-such-option")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_help_works_for_every_command(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["hedge", "run", "--direction", "up", "--paper"], "--direction"),
        (["hedge", "run", "--size", "-0.5", "--paper"], "--size"),
        (["hedge", "run", "--size", "0", "--paper"], "--size"),
        (["hedge", "run", "--role", "BP=nosuch", "--paper"], "unknown connector 'nosuch'"),
        (["hedge", "run"], "no config file found"),
        (["hedge", "recover", "--action", "pray"], "--action"),
        (["hedge", "recover", "--yes"], "no config file found"),
        (["telemetry", "push"], "no config file found"),
        (["telemetry", "watch", "--url", "ftp://example.org"], "http"),
        (["notify", "test"], "no config file found"),
        (["connectors", "list"], "no config file found"),
        (["config", "show"], "no config file found"),
        (["history", "--limit", "0"], "--limit"),
        (["order", "market", "backpack", "--side", "buy", "--size", "0", "--paper", "--yes"], "size"),
        (["order", "market", "backpack", "--side", "sideways", "--size", "1", "--paper", "--yes"], "side"),
        (["order", "market", "backpack", "--side", "buy", "--size", "1", "--symbol", "DOGE_XYZ", "--paper", "--yes"],
         "DOGE_XYZ"),
        (["smoke-test", "nosuch", "--paper"], "unknown connector 'nosuch'"),
        (["sim", "fault", "backpack", "boom"], "unknown fault kind"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_bad_arguments_name_the_problem_in_one_line(cli, args, needle):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
