"""Every way an operator's world tells ``hedge run`` to stop ends safe: real processes, real signals, paper venues,
and the venues' own books to judge the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from hedgectl.config.starter import paper_document, write_config
from hedgectl.journal import Journal, journal_path


class SignalWorld:
    """Paper venues (with the paper Telegram) in this test process, a config for them with its own data dir, and
    ``hedge run`` processes pointed at them."""

    def __init__(self, venues, home: Path):
        self.venues = venues
        self.home = home
        self.config = home / "conf" / "hedgectl.toml"
        self.data_dir = home / "data"
        document, secrets = paper_document(venues.accounts_document())
        document["general"]["data_dir"] = str(self.data_dir)
        write_config(self.config, document, secrets)
        self.env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "xdg"),
                    "XDG_CONFIG_HOME": str(home / "cfg")}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hedgectl", "--config", str(self.config), *args]

    def start(self, *args: str, **popen) -> subprocess.Popen:
        options = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        options.update(popen)
        return subprocess.Popen(self.command(*args), env=self.env, cwd=self.home, **options)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), capture_output=True, text=True, env=self.env, cwd=self.home,
                              timeout=120)

    def positions(self) -> dict[str, Decimal]:
        """Every paper account's signed size, summed over its markets, from the venues' own state."""
        sizes = {}
        for kind in ("backpack", "lighter"):
            for name, account in self.venues.state(kind)["accounts"].items():
                sizes[name] = sum((Decimal(str(p.get("signed_size", 0))) for p in account["positions"]), Decimal(0))
        return sizes

    def flat(self) -> bool:
        return all(size == 0 for size in self.positions().values())

    def orders_sent(self) -> int:
        return sum(len(self.venues.state(kind)["orders"]) for kind in ("backpack", "lighter"))

    def open_orders(self) -> int:
        return sum(len(self.venues.state(kind)["open_orders"]) for kind in ("backpack", "lighter"))

    def messages(self) -> list[str]:
        answer = httpx.get(f"{self.venues.url('telegram')}/_sim/messages").json()
        return [message.get("text", "") for message in answer["messages"]]

    def last_cycle(self):
        journal = Journal(journal_path(self.data_dir))
        try:
            return journal.last_cycle()
        finally:
            journal.close()


def events_until(process: subprocess.Popen, predicate, timeout: float = 60) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        seen.append(event)
        if predicate(event):
            return seen
    raise AssertionError(f"event not seen; got {[e['event'] for e in seen]}; stderr: {process.stderr.read()[-2000:]}")


def phase_is(name: str):
    return lambda event: event["event"] == "phase" and event["phase"] == name


@pytest.fixture
def world(paper_venues_factory, tmp_path):
    return SignalWorld(paper_venues_factory(kinds=["backpack", "lighter", "telegram"]), tmp_path)


SHORT = ["--size", "0.5", "--wait-min", "0.5", "--wait-max", "0.8", "--timeout", "60", "--poll-interval", "0.2"]
LONG_WAIT = ["--size", "0.5", "--wait-min", "30", "--wait-max", "30"]

#: phase -> (hedge run arguments, what to arm and when so the signal lands while the phase's order is out)
PHASES = {
    "bp_entry": (SHORT, "start", ("backpack", {"ms": 800, "path": "/api/v1/order", "count": 1})),
    "l1_hedge": (SHORT, "bp_entry", ("lighter", {"ms": 800, "path": "/api/v1/sendTx", "count": 1})),
    "wait": (LONG_WAIT, None, None),
    "l2_entry": (SHORT, "wait", ("lighter", {"ms": 800, "path": "/api/v1/sendTx", "count": 1})),
    "rebalance": (SHORT, "l2_entry", ("backpack", {"ms": 800, "path": "/api/v1/order", "count": 1})),
    "monitor": (SHORT, None, None),
}


def stop_in_phase(world: SignalWorld, phase: str, signum: int) -> tuple[int, dict, str]:
    args, arm_at, fault = PHASES[phase]
    if arm_at == "start":
        world.venues.arm(fault[0], "latency", **fault[1])
    process = world.start("hedge", "run", "--json", *args)
    if arm_at not in (None, "start"):
        events_until(process, phase_is(arm_at))
        world.venues.arm(fault[0], "latency", **fault[1])
    events_until(process, phase_is(phase))
    process.send_signal(signum)
    out, err = process.communicate(timeout=90)
    summary = json.loads(out.splitlines()[-1])
    return process.returncode, summary, err


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM],
                         ids=["SIGHUP", "SIGQUIT", "SIGTERM"])
def test_a_stop_signal_in_each_phase_ends_flat_resolved_and_alerted(world, phase, signum):
    code, summary, err = stop_in_phase(world, phase, signum)
    assert code == 3, err[-2000:]
    assert summary["outcome"] == "emergency_exit"
    assert signal.Signals(signum).name in err
    assert world.flat(), world.positions()
    assert world.open_orders() == 0
    assert world.last_cycle().resolved
    assert any("EMERGENCY EXIT" in text and "interrupted by the operator" in text for text in world.messages())


def test_a_third_sigint_during_the_flatten_still_exits_4_and_recovery_ends_flat(world):
    process = world.start("hedge", "run", "--json", *LONG_WAIT)
    events_until(process, lambda e: e["event"] == "countdown")
    # the next orders are the flatten's: hold them at the venues so the flatten is in flight
    world.venues.arm("backpack", "latency", ms=1500, path="/api/v1/order", count=1)
    world.venues.arm("lighter", "latency", ms=1500, path="/api/v1/sendTx", count=1)
    process.send_signal(signal.SIGINT)
    events_until(process, lambda e: e["event"] == "intent" and e["purpose"] == "flatten")
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)  # spacing between the signals, as a person pressing Ctrl-C again; nothing is timed
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 4, err[-2000:]
    assert "hedge recover" in err
    assert "Traceback" not in err
    world.venues.clear("backpack")
    world.venues.clear("lighter")
    recovered = world.run("hedge", "recover", "--yes", "--json")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    assert world.flat() and world.open_orders() == 0
    assert world.last_cycle().resolved


@pytest.mark.parametrize("after", ["result", "summary"])
def test_a_sigint_right_after_an_emergency_exit_finished_keeps_exit_3(world, after):
    process = world.start("hedge", "run", "--json", *LONG_WAIT)
    events_until(process, lambda e: e["event"] == "countdown")
    process.send_signal(signal.SIGINT)
    events_until(process, lambda e: e["event"] == after)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 3, err[-2000:]
    assert "Traceback" not in err
    assert world.flat()
    assert world.last_cycle().resolved and world.last_cycle().outcome == "emergency_exit"


@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGINT, signal.SIGINT], [signal.SIGTERM]],
                         ids=["SIGINT", "double SIGINT", "SIGTERM"])
def test_an_interrupt_during_the_preflight_against_a_hung_venue_exits_130_with_nothing_traded(world, signals):
    world.venues.arm("lighter", "latency", ms=60000, count=1000)  # the venue takes every request and never answers
    process = world.start("hedge", "run", "--json", *SHORT)
    events_until(process, lambda e: e["event"] == "preflight")
    for signum in signals:
        process.send_signal(signum)
    out, err = process.communicate(timeout=30)  # the retries alone would take about 20 s; the cap is a hang guard
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert world.orders_sent() == 0
    assert world.last_cycle() is None


def _on_a_tty(world: SignalWorld, *args: str) -> tuple[subprocess.Popen, int]:
    """``hedge run`` with its terminal (stdin, stdout, stderr) on a pseudo-terminal; returns the master side."""
    master, slave = os.openpty()
    process = world.start("hedge", "run", *args, stdin=slave, stdout=slave, stderr=slave, text=False)
    os.close(slave)
    return process, master


def _drain(fd: int) -> None:
    """Read what the process wrote so far (a full pty would block it), without waiting."""
    import select

    while select.select([fd], [], [], 0)[0]:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


@pytest.mark.parametrize(("on_hangup", "code", "outcome"),
                         [("stop", 3, "emergency_exit"), ("continue", 0, "completed")])
def test_losing_the_terminal_ends_safe_or_carries_on_detached_as_asked(world, on_hangup, code, outcome):
    args = ["--size", "0.5", "--wait-min", "1.5", "--wait-max", "1.5", "--timeout", "1", "--poll-interval", "0.2"]
    process, master = _on_a_tty(world, *args, "--on-hangup", on_hangup)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            _drain(master)
            cycle = world.last_cycle() if journal_path(world.data_dir).exists() else None
            if cycle is not None and cycle.phase == "wait":
                break
            time.sleep(0.05)
        assert process.poll() is None, "hedge run ended before its wait"
    finally:
        os.close(master)  # the terminal goes away first, as when an SSH session drops
    process.send_signal(signal.SIGHUP)
    assert process.wait(timeout=90) == code
    cycle = world.last_cycle()
    assert cycle.resolved and cycle.outcome == outcome
    assert world.flat() and world.open_orders() == 0
    if on_hangup == "stop":
        assert any("EMERGENCY EXIT" in text for text in world.messages())


def test_an_unknown_hangup_choice_is_a_usage_error(world):
    result = world.run("hedge", "run", "--on-hangup", "ignore")
    assert result.returncode == 2
    assert "--on-hangup must be stop or continue" in result.stderr


def _open_positions(world: SignalWorld) -> None:
    """Positions opened by another client (the venues' own engines): BP long, L1 short."""
    from hedgectl.sim.exchange.records import Side

    for kind, account, symbol, side in (("backpack", "backpack", "ETH_USDC_PERP", Side.BUY),
                                        ("lighter", "lighter1", "ETH", Side.SELL)):
        exchange = world.venues.venues.venue(kind).exchange
        world.venues.call_sync(lambda: exchange.submit_order(account, symbol, side, Decimal("0.5")))
    assert not world.flat()


def _flatten_in_flight(world: SignalWorld) -> subprocess.Popen:
    """``flatten --all --yes`` with its Backpack order held at the venue; returns once the Lighter close went out."""
    world.venues.arm("backpack", "latency", ms=1500, path="/api/v1/order", count=1)
    process = world.start("flatten", "--all", "--yes", "--json")
    deadline = time.monotonic() + 60
    def lighter_close_sent() -> bool:
        return any(o.get("account") == "lighter1" and o.get("reduce_only")
                   for o in world.venues.state("lighter")["orders"])

    while not lighter_close_sent():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.02)
    return process


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
                         ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"])
def test_a_first_signal_during_a_flatten_lets_it_finish_flat(world, signum):
    _open_positions(world)
    process = _flatten_in_flight(world)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    assert "finishing the flatten" in err
    assert json.loads(out)["ok"] is True
    assert world.flat() and world.open_orders() == 0


def test_a_second_signal_aborts_a_flatten_with_exit_4_and_flattening_again_ends_flat(world):
    _open_positions(world)
    process = _flatten_in_flight(world)
    for _ in range(3):
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)  # a signal sent while the same one is pending merges with it, as a person's would not
    _, err = process.communicate(timeout=60)
    assert process.returncode == 4, err[-2000:]
    assert "run 'hedgectl flatten' again" in err and "Traceback" not in err
    world.venues.clear("backpack")
    again = world.run("flatten", "--all", "--yes", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert world.flat()


def test_a_first_signal_during_hedge_recover_lets_the_recovery_finish_flat(world):
    process = world.start("hedge", "run", "--json", *LONG_WAIT)
    events_until(process, lambda e: e["event"] == "countdown")
    process.send_signal(signal.SIGKILL)  # a crash: BP and L1 are left open, the cycle unresolved
    process.communicate(timeout=30)
    assert not world.flat()
    # Backpack's cancel and close requests share a path: hold both, so the close is still out when the signal comes
    world.venues.arm("backpack", "latency", ms=1500, path="/api/v1/order", count=3)
    recovering = world.start("hedge", "recover", "--yes", "--json")

    def lighter_close_sent() -> bool:
        return any(o.get("account") == "lighter1" and o.get("reduce_only")
                   for o in world.venues.state("lighter")["orders"])

    deadline = time.monotonic() + 90
    while not lighter_close_sent():
        assert recovering.poll() is None and time.monotonic() < deadline, recovering.communicate()[1][-2000:]
        time.sleep(0.02)
    recovering.send_signal(signal.SIGTERM)
    out, err = recovering.communicate(timeout=90)
    assert recovering.returncode == 0, err[-2000:]
    assert "finishing the recovery" in err
    assert json.loads(out)["recovered"][0]["resolved"] is True
    assert world.flat() and world.open_orders() == 0
    assert world.last_cycle().resolved


def test_under_nohup_a_hangup_stays_ignored_and_the_cycle_completes(world):
    def like_nohup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    process = world.start("hedge", "run", "--json", "--size", "0.5", "--wait-min", "1", "--wait-max", "1",
                          "--timeout", "0.5", preexec_fn=like_nohup)
    events_until(process, lambda e: e["event"] == "countdown")
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err[-2000:]
    assert json.loads(out.splitlines()[-1])["outcome"] == "completed"
    assert world.flat()
