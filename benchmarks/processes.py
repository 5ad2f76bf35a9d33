"""What an operator waits for and what a process costs: cold starts, the positions fan-out, and peak memory.

Commands run as child processes (``python -m hedgectl``) against paper venues in this process, with a config file
written for them, as an operator would run them against ``hedgectl sim serve``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hedgectl.config.starter import paper_document, write_config
from hedgectl.sim.runner import ThreadedPaperVenues

HEDGECTL = [sys.executable, "-m", "hedgectl"]


#: Forks, execs argv[1:] and prints the child's peak RSS (KiB) and exit code. Linux carries a process's peak RSS
#: across exec, and a child spawned from this (large) process would start from ours; forked from a bare
#: interpreter, the floor is that interpreter's few MB.
RSS_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def wall_time(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Run ``command`` to its end and return its wall time; RuntimeError if it fails."""
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}: {completed.stderr[-500:]!r}")
    return wall


def median_wall(command: list[str], runs: int, **options) -> float:
    return statistics.median(wall_time(command, **options) for _ in range(runs))


def peak_rss_mb(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """The peak resident memory of ``command`` run to its end, in MiB; RuntimeError if it fails."""
    completed = subprocess.run([sys.executable, "-c", RSS_LAUNCHER, *command], capture_output=True, text=True,
                               env=env, cwd=cwd)
    kib, code = completed.stdout.split()[-2:]
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(command)} exited {code}: {completed.stderr[-500:]!r}")
    return int(kib) / 1024


class PaperWorld:
    """Paper venues in this process and a hedgectl config (plus .env) pointing child processes at them."""

    def __init__(self, directory: Path):
        self.venues = ThreadedPaperVenues(tick_seconds=0).start()
        self.directory = directory
        self.config = directory / "hedgectl.toml"
        document, secrets = paper_document(self.venues.accounts_document())
        document["general"]["data_dir"] = str(directory / "data")
        write_config(self.config, document, secrets)
        # Children keep their compiled bytecode as an installed package does (pip writes it at install time): an
        # inherited PYTHONDONTWRITEBYTECODE would have every child compile hedgectl's sources again, which no
        # operator pays, while the baseline's httpx comes precompiled.
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("HEDGECTL_") and key != "PYTHONDONTWRITEBYTECODE"}
        self.warm_up()

    def warm_up(self) -> None:
        """Run each measured command once, untimed, so that its bytecode is cached before any measurement."""
        options = {"env": self.env, "cwd": self.directory}
        wall_time([sys.executable, "-c", "import httpx"], **options)
        wall_time([*HEDGECTL, "--help"], **options)
        wall_time(self.command("positions", "--all", "--json"), **options)

    def command(self, *args: str) -> list[str]:
        return [*HEDGECTL, "--config", str(self.config), *args]

    def inject_latency(self, ms: int) -> None:
        for kind in self.venues.venues.venues:
            if kind != "telegram":
                self.venues.arm(kind, "latency", ms=ms)

    def clear_faults(self) -> None:
        for kind in self.venues.venues.venues:
            self.venues.clear(kind)

    def close(self) -> None:
        self.venues.stop()


@dataclass
class ColdStart:
    baseline_secs: float  # python -c "import httpx"
    help_secs: float
    positions_secs: float

    @property
    def help_ratio(self) -> float:
        return self.help_secs / self.baseline_secs

    @property
    def positions_ratio(self) -> float:
        return self.positions_secs / self.baseline_secs


def measure_cold_start(world: PaperWorld, runs: int) -> ColdStart:
    options = {"env": world.env, "cwd": world.directory}
    baseline = median_wall([sys.executable, "-c", "import httpx"], runs, **options)
    help_ = median_wall([*HEDGECTL, "--help"], runs, **options)
    positions = median_wall(world.command("positions", "--all", "--json"), runs, **options)
    return ColdStart(baseline, help_, positions)


@dataclass
class FanOut:
    injected_ms: float
    connectors: int
    read_secs: float  # the concurrent read of every connector, fresh connectors (what positions --all does)
    command_secs: float  # the whole command, cold start included

    @property
    def ratio(self) -> float:
        return self.read_secs * 1000 / self.injected_ms


def measure_fan_out(world: PaperWorld, runs: int, injected_ms: int = 200, *, only: list[str] | None = None) -> FanOut:
    """Read every connector (or ``only`` these) with ``injected_ms`` on every request of every venue."""
    from hedgectl.config.loader import load_config
    from hedgectl.execution.snapshot import read_positions
    from hedgectl.connectors.factory import ConnectorSet

    config = load_config(world.config)
    names = only or list(config.connectors)

    async def read_once() -> float:
        async with ConnectorSet(config, data_dir=world.directory / "data") as connectors:
            started = time.perf_counter()
            snapshot = await read_positions(connectors, names)
            elapsed = time.perf_counter() - started
        if not snapshot.ok:
            raise RuntimeError(f"positions read failed: {snapshot.as_dict()['errors']}")
        return elapsed

    world.inject_latency(injected_ms)
    try:
        reads = [asyncio.run(read_once()) for _ in range(runs)]
        selection = list(only) if only else ["--all"]
        command = median_wall(world.command("positions", *selection, "--json"), max(1, runs // 2), env=world.env,
                              cwd=world.directory)
    finally:
        world.clear_faults()
    return FanOut(injected_ms, len(names), statistics.median(reads), command)


@dataclass
class Memory:
    baseline_mb: float  # python -c "import httpx"
    hedge_run_mb: float
    positions_mb: float


def measure_memory(world: PaperWorld) -> Memory:
    baseline = peak_rss_mb([sys.executable, "-c", "import httpx"], env=world.env, cwd=world.directory)
    with tempfile.TemporaryDirectory(prefix="hedgectl-bench-") as home:
        env = {**world.env, "HOME": home, "XDG_DATA_HOME": f"{home}/data", "XDG_CONFIG_HOME": f"{home}/cfg"}
        hedge = peak_rss_mb([*HEDGECTL, "hedge", "run", "--paper", "--json", "--size", "0.2", "--wait-min", "0.1",
                             "--wait-max", "0.2", "--timeout", "0.5", "--poll-interval", "0.2"], env=env, cwd=Path(home))
    positions = peak_rss_mb(world.command("positions", "--all", "--json"), env=world.env, cwd=world.directory)
    return Memory(baseline, hedge, positions)
