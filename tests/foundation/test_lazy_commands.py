"""Commands are registered by name and imported on use: the root help imports none of them, a command only its own."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from hedgectl.cli import COMMANDS, app
from hedgectl.cli.lazy import build

COMMAND_MODULES = sorted({entry.target.partition(":")[0] for entry in COMMANDS})


def loaded_after(*args: str) -> tuple[int, str, set[str]]:
    """Run ``main(args)`` in a fresh interpreter; its exit code, stdout, and which command modules it imported."""
    probe = (
        "import sys, json\n"
        "from hedgectl.cli import main\n"
        f"code = main({list(args)!r})\n"
        f"modules = sorted(m for m in sys.modules if m in {COMMAND_MODULES!r})\n"
        "print('LOADED=' + json.dumps(modules), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    marker = [line for line in completed.stderr.splitlines() if line.startswith("LOADED=")]
    assert marker, completed.stderr
    import json

    return completed.returncode, completed.stdout, set(json.loads(marker[-1].removeprefix("LOADED=")))


def test_root_help_lists_every_command_without_importing_any_command_module():
    code, stdout, loaded = loaded_after("--help")
    assert code == 0
    assert loaded == set()
    listed = [line.split()[0] for line in stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == [entry.name for entry in COMMANDS]


def test_root_help_imports_neither_rich_nor_asyncio_nor_pydantic():
    probe = (
        "import sys\n"
        "from hedgectl.cli import main\n"
        "main(['--help'])\n"
        "print('HEAVY=' + ','.join(sorted(m for m in ('rich', 'asyncio', 'pydantic', 'httpx') if m in sys.modules)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "HEAVY=\n" in completed.stdout, completed.stdout


def test_a_command_imports_its_own_module_and_no_other_command_module():
    code, _, loaded = loaded_after("config", "init", "--help")
    assert code == 0
    assert loaded == {"hedgectl.cli.config"}


def test_an_unknown_command_imports_no_command_module():
    code, _, loaded = loaded_after("frobnicate")
    assert code == 2
    assert loaded == set()


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda entry: entry.name)
def test_the_registered_help_is_the_commands_own_first_sentence(entry):
    command = build(entry)
    assert command.get_short_help_str(limit=10_000) == entry.help


def test_every_registered_command_is_reachable_from_the_app():
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    assert group.list_commands(ctx) == [entry.name for entry in COMMANDS]
    for entry in COMMANDS:
        assert group.get_command(ctx, entry.name).name == entry.name
