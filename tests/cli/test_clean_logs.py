"""A venue that disappears while hedgectl connects to it is reported in hedgectl's own words, never as noise from
the layers below (unretrieved task exceptions, coroutines never awaited, unclosed sessions, tracebacks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NOISE = ("Traceback", "never awaited", "never retrieved", "Exception ignored", "Unclosed", "RuntimeWarning",
         "was destroyed but it is pending")


@pytest.fixture
def served(tmp_path: Path):
    """A ``sim serve`` process with a config written for it; the test kills it when it chooses."""
    config = tmp_path / "paper" / "hedgectl.toml"
    env = {**os.environ, "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "--quiet", "sim", "serve", "--seed", "5", "--write-config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path,
    )
    deadline = time.monotonic() + 30
    while not (config.parent / ".env").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (config.parent / ".env").exists(), "sim serve wrote no config"
    yield process, config, env
    if process.poll() is None:
        process.kill()
    process.wait()


@pytest.mark.parametrize("phase", ["preflight", "wait"])
def test_venues_killed_mid_cycle_leave_no_noise_in_the_log(served, tmp_path, phase):
    venues, config, env = served
    run = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "--config", str(config), "hedge", "run", "--direction", "long", "--size",
         "0.1", "--wait-min", "1", "--wait-max", "1", "--timeout", "3", "--poll-interval", "0.2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    reached = False
    for line in run.stdout:
        event = json.loads(line)
        # preflight is an event of its own, the later phases are "phase" events
        if event.get("event") == phase or (event.get("event") == "phase" and event.get("phase") == phase):
            reached = True
            break
    venues.send_signal(signal.SIGKILL)  # every venue gone at once, connections and listeners alike
    venues.wait()
    _, stderr = run.communicate(timeout=180)

    assert reached, f"the run never reached {phase}: {stderr[-2000:]}"
    assert run.returncode != 0  # the cycle could not go on; hedgectl says so in its own words
    assert [marker for marker in NOISE if marker in stderr] == [], stderr[-3000:]
