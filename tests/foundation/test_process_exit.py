"""A command's process keeps the cycle collector off only while it starts, leaves what it loaded out of the
shutdown's collection, and still ends as before: its exit code, its exit handlers."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_probe(args: list[str], *, as_module: bool) -> tuple[int, str, str]:
    """Run the command line as ``hedgectl ARGS`` would (``hedgectl.cli.run``, or ``python -m hedgectl``); an exit
    handler prints how many objects were frozen and whether the collector was on when the command finished."""
    entry = "import runpy; runpy.run_module('hedgectl', run_name='__main__')" if as_module else (
        "from hedgectl.cli import run; run()")
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(f'EXIT frozen={gc.get_freeze_count()} enabled={gc.isenabled()}', flush=True))\n"
        f"sys.argv = ['hedgectl', *{args!r}]\n"
        f"{entry}\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    marker = [line for line in completed.stdout.splitlines() if line.startswith("EXIT ")]
    assert marker, (completed.stdout, completed.stderr)
    return completed.returncode, marker[-1], completed.stderr


@pytest.mark.parametrize("as_module", [False, True], ids=["script", "python -m"])
@pytest.mark.parametrize(("args", "code"), [(["--help"], 0), (["frobnicate"], 2)])
def test_a_commands_process_freezes_its_objects_before_the_exit_and_still_runs_exit_handlers(args, code, as_module):
    returncode, marker, stderr = run_probe(args, as_module=as_module)
    assert returncode == code, stderr
    # every module object, class and function of the command line is alive at the exit: thousands of them
    assert int(marker.split()[1].removeprefix("frozen=")) > 5_000


@pytest.mark.parametrize("as_module", [False, True], ids=["script", "python -m"])
def test_the_collector_is_on_again_once_the_commands_module_is_loaded(as_module, tmp_path):
    returncode, marker, stderr = run_probe(["config", "init", "--help"], as_module=as_module)
    assert returncode == 0, stderr
    assert marker.endswith("enabled=True")


def test_only_a_commands_own_process_turns_the_collector_off():
    # main() is what the in-process tests and library users call: it leaves the collector alone
    probe = (
        "import gc, sys\n"
        "from hedgectl.cli import main\n"
        "code = main(['--help'])\n"
        "print(f'enabled={gc.isenabled()} frozen={gc.get_freeze_count()}')\n"
        "sys.exit(code)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "enabled=True frozen=0" in completed.stdout
