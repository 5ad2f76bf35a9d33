"""``python -m benchmarks --quick`` runs end to end and prints every row (it measures nothing worth asserting)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    "naked window / push minimum L",
    "naked window / REST minimum 2L",
    "paper liquidation of L2 -> first emergency order at a venue",
    "critical path: BP fill known -> L1 order at the venue",
    "cold start: hedgectl --help",
    "cold start: hedgectl positions --all --json",
    "fan-out: positions of the hedge's 3 connectors",
    "collector: heartbeats/s",
    "peak RSS: hedge run --paper",
    "peak RSS: positions --all --json",
)


def test_the_benchmark_command_runs_and_prints_every_row(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--markdown"], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = [line for line in completed.stdout.splitlines() if line.startswith("| ")]
    for row in ROWS:
        assert any(line.startswith(f"| {row}") for line in table), row
