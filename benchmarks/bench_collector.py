"""Benchmark: heartbeats per second the telemetry collector sustains, and their latency, under a concurrent client;
and the collector at its bot cap: memory per bot and in total, and the latency of /api/status.

The collector runs in its own process (as `hedgectl telemetry serve` does) on an ephemeral loopback port; an aiohttp
client posts realistic heartbeats from many bots over keep-alive connections for a fixed time and prints a table.
The capacity part fills the collector to 10,000 bots (realistic heartbeats, then the largest the byte bound allows
at that count), reads the process's resident memory, times GET /api/status, and prunes.

    python benchmarks/bench_collector.py [--seconds 5] [--concurrency 8,32,128] [--bots 300] [--capacity-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import time
from dataclasses import dataclass

import aiohttp

from hedgectl.telemetry.collector import serve
from hedgectl.telemetry.ingest import MAX_STRING_CHARS
from hedgectl.telemetry.store import DEFAULT_MAX_BOTS, DEFAULT_MAX_TOTAL_BYTES

TOKEN = "bench-token-0123456789"


def _run_collector(port_pipe: multiprocessing.connection.Connection, token: str | None) -> None:
    asyncio.run(serve(port=0, token=token, on_ready=port_pipe.send))


def _heartbeat(index: int, sequence: int, pad_bytes: int = 0) -> bytes:
    role = ("BP", "L1", "L2")[index % 3]
    pad = {f"pad{i}": "x" * MAX_STRING_CHARS for i in range(pad_bytes // (MAX_STRING_CHARS + 10))}
    return json.dumps(
        {
            **pad,
            "timestamp": time.time(),
            "telemetry_interval_secs": 5.0,
            "group": f"hedge-{index // 3}",
            "role": role,
            "symbol": "ETH_USDC_PERP" if role == "BP" else "ETH",
            "direction": "long" if role != "L1" else "short",
            "position_base": f"{(sequence % 100) / 100:.4f}",
            "balance_total": "1234.5678",
            "latency": 12.3,
        }
    ).encode()


@dataclass
class Outcome:
    concurrency: int
    auth: bool
    sent: int
    failed: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.sent / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def _drive(
    url: str, token: str | None, concurrency: int, seconds: float, bots: int, max_requests: int
) -> Outcome:
    headers = {"content-type": "application/json"}
    if token:
        headers["x-auth-token"] = token
    latencies: list[float] = []
    failed = 0
    issued = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        stop_at = started + seconds

        async def worker(worker_index: int) -> None:
            nonlocal failed, issued
            sequence = 0
            while time.perf_counter() < stop_at and issued < max_requests:
                issued += 1
                bot = (worker_index + sequence * concurrency) % bots
                body = _heartbeat(bot, sequence)
                sequence += 1
                sent = time.perf_counter()
                async with session.post(f"{url}/ingest/bench-bot-{bot}", data=body) as response:
                    await response.read()
                    if response.status != 200:
                        failed += 1
                latencies.append((time.perf_counter() - sent) * 1000)

        await asyncio.gather(*(worker(index) for index in range(concurrency)))
        elapsed = time.perf_counter() - started
        async with session.get(f"{url}/api/status") as response:
            status = await response.json()
    assert len(status["bots"]) == min(bots, len(latencies)), "collector lost bots"
    return Outcome(concurrency, token is not None, len(latencies), failed, elapsed, latencies)


def measure(concurrency: int, auth: bool, seconds: float, bots: int = 300, max_requests: int = 500_000) -> Outcome:
    """Start a collector process, post heartbeats at ``concurrency`` for ``seconds``, stop it; the outcome."""
    token = TOKEN if auth else None
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_run_collector, args=(sender, token), daemon=True)
    process.start()
    try:
        if not receiver.poll(30):
            raise RuntimeError("collector did not start")
        url = receiver.recv()
        return asyncio.run(_drive(url, token, concurrency, seconds, bots, max_requests))
    finally:
        process.terminate()
        process.join(10)


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Capacity:
    label: str
    bots: int
    payload_bytes: int
    rss_growth_bytes: int
    rss_after_prune_bytes: int
    rss_refilled_bytes: int
    status_bytes: int
    status_ms: list[float]

    @property
    def per_bot_bytes(self) -> float:
        return self.rss_growth_bytes / self.bots

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.status_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _fill_and_time(url: str, pid: int, bots: int, pad_bytes: int, label: str, reads: int) -> Capacity:
    headers = {"content-type": "application/json", "x-auth-token": TOKEN}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32), headers=headers) as session:
        async with session.get(f"{url}/api/status") as response:
            await response.read()
        before = _rss_bytes(pid)

        async def fill(prefix: str) -> None:
            queue = list(range(bots))
            refused = 0

            async def worker() -> None:
                nonlocal refused
                while queue:
                    index = queue.pop()
                    body = _heartbeat(index, 0, pad_bytes)
                    async with session.post(f"{url}/ingest/{prefix}-{index}", data=body) as response:
                        await response.read()
                        refused += response.status != 200

            await asyncio.gather(*(worker() for _ in range(32)))
            if refused:
                raise RuntimeError(f"{refused} heartbeats refused while filling to {bots} bots")

        await fill("cap")
        grown = _rss_bytes(pid) - before
        timings, size = [], 0
        for _ in range(reads):
            started = time.perf_counter()
            async with session.get(f"{url}/api/status") as response:
                size = len(await response.read())
            timings.append((time.perf_counter() - started) * 1000)
        async with session.post(f"{url}/admin/prune", params={"older_ms": "0"}) as response:
            await response.read()
        after_prune = _rss_bytes(pid) - before
        # The allocator keeps freed pages for reuse: bots under new names after a prune fit in what was freed.
        await fill("new")
        refilled = _rss_bytes(pid) - before
    payload = len(_heartbeat(0, 0, pad_bytes))
    return Capacity(label, bots, payload, grown, after_prune, refilled, size, timings)


def measure_capacity(bots: int = DEFAULT_MAX_BOTS, reads: int = 20) -> list[Capacity]:
    """Fill a fresh collector process to `bots` bots twice (realistic, then as large as the byte bound allows) and
    measure memory and /api/status latency at that count."""
    largest = DEFAULT_MAX_TOTAL_BYTES // bots - 200  # room for the name and the entry's framing
    results = []
    for label, pad in (("realistic heartbeats", 0), ("largest heartbeats the byte bound allows", largest - 300)):
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_run_collector, args=(sender, TOKEN), daemon=True)
        process.start()
        try:
            if not receiver.poll(30):
                raise RuntimeError("collector did not start")
            url = receiver.recv()
            results.append(asyncio.run(_fill_and_time(url, process.pid, bots, pad, label, reads)))
        finally:
            process.terminate()
            process.join(10)
    return results


def print_capacity(results: list[Capacity]) -> None:
    print(f"collector at {results[0].bots} bots (byte bound {DEFAULT_MAX_TOTAL_BYTES // 2**20} MiB)")
    for result in results:
        print(
            f"  {result.label}: payload {result.payload_bytes} B; RSS +{result.rss_growth_bytes / 2**20:.1f} MiB "
            f"({result.per_bot_bytes:.0f} B/bot), after prune +{result.rss_after_prune_bytes / 2**20:.1f} MiB, "
            f"refilled under new names +{result.rss_refilled_bytes / 2**20:.1f} MiB; "
            f"/api/status {result.status_bytes / 2**20:.1f} MiB, median {statistics.median(result.status_ms):.1f} ms, "
            f"p95 {result.percentile(0.95):.1f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run (default 5)")
    parser.add_argument("--concurrency", default="8,32,128", help="comma-separated in-flight request counts")
    parser.add_argument("--bots", type=int, default=300, help="distinct bot names posting (default 300)")
    parser.add_argument("--max-requests", type=int, default=500_000, help="hard cap on requests per run")
    parser.add_argument("--capacity-only", action="store_true", help="only the bot-cap memory and status part")
    args = parser.parse_args(argv)
    if args.capacity_only:
        print_capacity(measure_capacity())
        return 0
    levels = [int(level) for level in args.concurrency.split(",") if level]

    print(f"collector benchmark: {args.seconds:g}s per run, {args.bots} bots, Python {sys.version.split()[0]}")
    columns = [("concurrency", 11), ("auth", 5), ("requests", 9), ("failed", 6), ("hb/s", 9)]
    columns += [("p50 ms", 7), ("p99 ms", 7), ("max ms", 7)]
    header = " ".join(f"{name:>{width}}" for name, width in columns)
    print(header)
    print("-" * len(header))
    worst = None
    for auth in (False, True):
        for level in levels:
            outcome = measure(level, auth, args.seconds, args.bots, args.max_requests)
            worst = outcome.rate if worst is None else min(worst, outcome.rate)
            print(
                f"{outcome.concurrency:>11} {'yes' if outcome.auth else 'no':>5} {outcome.sent:>9} {outcome.failed:>6} "
                f"{outcome.rate:>9.0f} {statistics.median(outcome.latencies_ms):>7.2f} "
                f"{outcome.percentile(0.99):>7.2f} "
                f"{max(outcome.latencies_ms):>7.2f}"
            )
    print(f"lowest sustained rate: {worst:.0f} heartbeats/s (target >= 1000)")
    print_capacity(measure_capacity())
    return 0


if __name__ == "__main__":
    sys.exit(main())
