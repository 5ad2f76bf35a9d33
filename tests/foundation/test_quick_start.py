"""The README's quick start and the CI entry point run the same test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_that_make_their_own_virtualenv():
    commands = quick_start_commands()

    assert len(commands) == 2
    for command in commands:
        # the system python3 only creates the virtualenv: installing into it is what PEP 668 refuses
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install ")
        assert "python3 -m pip" not in command
    assert commands[0].endswith(".venv/bin/hedgectl hedge run --paper --direction long")


def test_ci_runs_the_readmes_test_command():
    test_command = quick_start_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]

    assert test_command in ci_lines
