"""Every hedgectl benchmark in one table: ``python -m benchmarks [--quick] [--markdown]`` from the repository root.

Rows: the hedge's naked window over the protocol minimum and its critical path (paper venues adding 50 ms to every
request), cold starts beside ``python -c "import httpx"``, the positions fan-out with 200 ms on every request, the
telemetry collector's heartbeat rate and its memory and /api/status latency at the bot cap, and peak memory. Ratios
are taken within one run, on this machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import bench_collector
from benchmarks.hedge_path import measure_hedge_path, measure_liquidation_reaction
from benchmarks.processes import PaperWorld, measure_cold_start, measure_fan_out, measure_memory

HEDGE_CONNECTORS = ["backpack", "lighter1", "lighter2"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def cold_start_rows(world: PaperWorld, runs: int) -> list[tuple[str, str, str]]:
    cold = measure_cold_start(world, runs)
    return [
        ('cold start: python -c "import httpx" (baseline)', f"{cold.baseline_secs * 1000:.0f} ms", "-"),
        ("cold start: hedgectl --help", f"{cold.help_secs * 1000:.0f} ms ({cold.help_ratio:.1f}x baseline)",
         "<= 1.3x"),
        ("cold start: hedgectl positions --all --json (4 paper connectors)",
         f"{cold.positions_secs * 1000:.0f} ms ({cold.positions_ratio:.1f}x baseline)", "<= 2.5x"),
    ]


def collect_cold_start(runs: int) -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory(prefix="hedgectl-bench-") as temp:
        world = PaperWorld(Path(temp))
        try:
            return cold_start_rows(world, runs)
        finally:
            world.close()


def collect(cycles: int, runs: int, collector_seconds: float) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    hedge = measure_hedge_path(cycles=cycles, injected_ms=50)
    ratios = hedge.naked_ratios()
    rows.append((
        f"naked window / push minimum L (L = 50 ms, streams, {cycles} cycles)",
        f"median {statistics.median(ratios):.2f}, p95 {percentile(ratios, 0.95):.2f}"
        f" (median {statistics.median(hedge.naked_ms):.1f} ms; minimum {hedge.protocol_minimum_ms:.0f} ms)",
        "median <= 1.15, p95 <= 1.35",
    ))
    liquidations = max(1, min(5, cycles))
    reactions = measure_liquidation_reaction(runs=liquidations, injected_ms=50)
    rows.append((
        f"paper liquidation of L2 -> first emergency order at a venue (L = 50 ms, streams, {liquidations} cycles)",
        f"median {statistics.median(reactions):.1f} ms, max {max(reactions):.1f} ms (poll interval 5 s)",
        "<= 1.2 x L/2 + 10 ms = 40 ms",
    ))
    rest = measure_hedge_path(cycles=cycles, injected_ms=50, streams=False)
    rest_ratios = rest.naked_ratios()
    rows.append((
        f"naked window / REST minimum 2L (L = 50 ms, --no-streams, {cycles} cycles)",
        f"median {statistics.median(rest_ratios):.2f}, p95 {percentile(rest_ratios, 0.95):.2f}"
        f" (median {statistics.median(rest.naked_ms):.1f} ms; minimum {rest.protocol_minimum_ms:.0f} ms)",
        "<= 1.25",
    ))
    rows.append((
        "critical path: BP fill known -> L1 order at the venue",
        f"median {statistics.median(hedge.critical_ms):.2f} ms, p95 {percentile(hedge.critical_ms, 0.95):.2f} ms",
        "median <= 5 ms",
    ))
    with tempfile.TemporaryDirectory(prefix="hedgectl-bench-") as temp:
        world = PaperWorld(Path(temp))
        try:
            rows += cold_start_rows(world, runs)
            every = measure_fan_out(world, runs)
            hedge_legs = measure_fan_out(world, runs, only=HEDGE_CONNECTORS)
            for fan, label in ((hedge_legs, "the hedge's 3 connectors"), (every, "all 4 (GRVT logs in first)")):
                rows.append((
                    f"fan-out: positions of {label}, 200 ms per request",
                    f"{fan.ratio:.2f} x 200 ms (read {fan.read_secs * 1000:.0f} ms;"
                    f" whole command {fan.command_secs * 1000:.0f} ms)",
                    "close to 1",
                ))
            memory = measure_memory(world)
            rows.append(('peak RSS: python -c "import httpx" (baseline)', f"{memory.baseline_mb:.0f} MB", "-"))
            rows.append(("peak RSS: hedge run --paper", f"{memory.hedge_run_mb:.0f} MB", "-"))
            rows.append(("peak RSS: positions --all --json", f"{memory.positions_mb:.0f} MB", "-"))
        finally:
            world.close()
    outcome = bench_collector.measure(concurrency=32, auth=True, seconds=collector_seconds)
    rows.append((
        "collector: heartbeats/s sustained (32 in flight, with token)",
        f"{outcome.rate:.0f}/s, p99 {outcome.percentile(0.99):.1f} ms, {outcome.failed} failed",
        ">= 1000/s",
    ))
    for capacity in bench_collector.measure_capacity():
        rows.append((
            f"collector at {capacity.bots:,} bots, {capacity.label} ({capacity.payload_bytes} B)",
            f"RSS +{capacity.rss_growth_bytes / 2**20:.1f} MiB ({capacity.per_bot_bytes:.0f} B/bot;"
            f" refilled after prune +{capacity.rss_refilled_bytes / 2**20:.1f} MiB);"
            f" /api/status ({capacity.status_bytes / 2**20:.1f} MiB)"
            f" median {statistics.median(capacity.status_ms):.0f} ms,"
            f" p95 {capacity.percentile(0.95):.0f} ms",
            "bounded (16 MiB of payloads)",
        ))
    return rows


def render(rows: list[tuple[str, str, str]], *, markdown: bool) -> str:
    headers = ("benchmark", "result", "target")
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=30, help="hedge cycles for the naked window (default 30)")
    parser.add_argument("--runs", type=int, default=10, help="repetitions of each timed command (default 10)")
    parser.add_argument("--collector-seconds", type=float, default=3.0, help="collector load duration (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: proves the command runs, measures little")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for BENCHMARKS.md)")
    parser.add_argument("--cold-start-only", action="store_true", help="only the cold-start rows (about 20 s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.cycles, args.runs, args.collector_seconds = 2, 1, 0.5
    started = time.perf_counter()
    if args.cold_start_only:
        rows = collect_cold_start(args.runs)
    else:
        rows = collect(args.cycles, args.runs, args.collector_seconds)
    print(f"hedgectl benchmarks on {machine()}")
    print(render(rows, markdown=args.markdown))
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
