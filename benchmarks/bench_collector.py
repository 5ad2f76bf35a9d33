"""Benchmark: heartbeats per second the telemetry collector sustains, and their latency, under a concurrent client.

The collector runs in its own process (as `hedgectl telemetry serve` does) on an ephemeral loopback port; an aiohttp
client posts realistic heartbeats from many bots over keep-alive connections for a fixed time and prints a table.

    python benchmarks/bench_collector.py [--seconds 5] [--concurrency 8,32,128] [--bots 300]
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

TOKEN = "bench-token-0123456789"


def _run_collector(port_pipe: multiprocessing.connection.Connection, token: str | None) -> None:
    asyncio.run(serve(port=0, token=token, on_ready=port_pipe.send))


def _heartbeat(index: int, sequence: int) -> bytes:
    role = ("BP", "L1", "L2")[index % 3]
    return json.dumps(
        {
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run (default 5)")
    parser.add_argument("--concurrency", default="8,32,128", help="comma-separated in-flight request counts")
    parser.add_argument("--bots", type=int, default=300, help="distinct bot names posting (default 300)")
    parser.add_argument("--max-requests", type=int, default=500_000, help="hard cap on requests per run")
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
