"""The live view as a person sees it: ``hedge run`` in a real pseudo-terminal, and one frame rendered by Rich."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from decimal import Decimal

from rich.console import Console

from hedgectl.cli.hedge_view import HedgeLiveView
from hedgectl.strategies.hedge.status import CycleStatus, LegStatus

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def test_hedge_run_in_a_terminal_draws_the_live_view(tmp_path):
    master, slave = os.openpty()
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "hedge", "run", "--paper", "--size", "0.5", "--wait-min", "1",
         "--wait-max", "1.5", "--timeout", "2", "--poll-interval", "0.5"],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path, close_fds=True,
    )
    os.close(slave)
    chunks = []
    deadline = time.time() + 90
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(master)
    screen = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    assert process.returncode == 0, screen[-3000:]
    for needle in ("tri-venue hedge", "phase wait", "L2 enters in", "phase monitor", "net exposure: 0", "events",
                   "hedge completed"):
        assert needle in screen, needle


def test_a_frame_shows_legs_net_exposure_countdown_and_unknown_legs():
    status = CycleStatus(
        direction="short",
        cycle_id="c-1",
        phase="monitor",
        size=Decimal("0.5"),
        legs={
            "BP": LegStatus("BP", "backpack", "backpack", "ETH_USDC_PERP", side="buy", position=Decimal("0")),
            "L1": LegStatus("L1", "lighter1", "lighter", "ETH", side="buy", filled=Decimal("0.5"),
                            state="filled", position=Decimal("0.5")),
            "L2": LegStatus("L2", "lighter2", "lighter", "ETH", position=None, position_error="503"),
        },
    )
    status.countdown_until = time.time() + 30
    status.countdown_label = "monitor ends in"
    status.log("L2 position unknown (503); retrying")
    console = Console(record=True, width=130)
    console.print(HedgeLiveView(status))
    text = console.export_text()
    assert "phase monitor" in text and "monitor ends in" in text
    assert "net exposure: unknown" in text  # one leg unknown: no made-up net
    assert "unknown" in text.split("L2")[1]
    assert "L2 position unknown (503); retrying" in text
