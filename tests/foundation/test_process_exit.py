"""A command's process leaves what it imported out of the shutdown's cycle collection, and still ends as before: its
exit code, its exit handlers."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("args", "code"), [(["--help"], 0), (["frobnicate"], 2)])
def test_a_commands_process_freezes_its_objects_before_the_exit_and_still_runs_exit_handlers(args, code):
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(f'EXIT frozen={gc.get_freeze_count()}', flush=True))\n"
        f"sys.argv = ['hedgectl', *{args!r}]\n"
        "from hedgectl.cli import run\n"
        "run()\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert completed.returncode == code, completed.stderr
    marker = [line for line in completed.stdout.splitlines() if line.startswith("EXIT frozen=")]
    assert marker, completed.stdout
    # every module object, class and function of the CLI is alive at the exit: thousands of them
    assert int(marker[-1].removeprefix("EXIT frozen=")) > 5_000
