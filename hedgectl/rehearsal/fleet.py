"""Paper fleets: two hedge groups of fresh paper accounts on one set of paper venues, the config that names them,
and (``sim chaos --fleet``) a timed fleet run under faults judged by the venues' own state afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The groups of a paper fleet, and the accounts of each (the venues' default accounts serve the first).
PAPER_GROUPS = {
    "paper1": {"BP": "backpack", "L1": "lighter1", "L2": "lighter2"},
    "paper2": {"BP": "backpack2", "L1": "lighter3", "L2": "lighter4"},
}


def add_paper_group_accounts(venues) -> dict[str, Any]:
    """Open the second group's funded accounts on ``venues`` (a ``ThreadedPaperVenues``); the accounts document."""
    backpack = venues.venues.venue("backpack")
    lighter = venues.venues.venue("lighter")
    roles = PAPER_GROUPS["paper2"]

    def open_accounts() -> None:
        backpack.create_account(roles["BP"])
        for role in ("L1", "L2"):
            lighter.create_account(roles[role])

    venues.call_sync(open_accounts)
    return venues.accounts_document()


def paper_fleet_document(accounts: dict[str, Any], **hedge: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A config document with one [groups.NAME] per paper group (``hedge`` overrides the shared [hedge] keys),
    and the secrets it needs by variable."""
    from hedgectl.config.starter import paper_document

    document, secrets = paper_document(accounts)
    document["hedge"].update(hedge)
    document["hedge"].pop("roles", None)
    document["groups"] = {name: {"roles": dict(roles)} for name, roles in PAPER_GROUPS.items()}
    return document, secrets


def write_paper_fleet_config(venues, directory: Path, *, data_dir: Path, **hedge: Any) -> Path:
    """Write ``directory/fleet.toml`` (and its private secrets file) for a paper fleet on ``venues``; the fleet's
    data directory is ``data_dir``. The file is the fleet's own, rewritten for every paper fleet."""
    from hedgectl.config.starter import write_config

    document, secrets = paper_fleet_document(add_paper_group_accounts(venues), **hedge)
    document["general"]["data_dir"] = str(data_dir)
    path = directory / "fleet.toml"
    write_config(path, document, secrets, force=True)
    return path


# --- the fleet rehearsal under faults --------------------------------------------------------------------------

#: Seconds between two faults drawn during a fleet rehearsal (uniformly within).
FAULT_GAP_SECS = (2.0, 8.0)
#: How long the fleet may take to end every group's cycle after its SIGTERM.
STOP_TIMEOUT_SECS = 300.0


@dataclass
class FleetRehearsalReport:
    """A fleet rehearsal's run and its verdict, from the venues' own books and the groups' journals."""

    seed: int
    duration_secs: float
    command: str
    exit_code: int | None = None
    cycles: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    stop_reasons: dict[str, str | None] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    shared_accounts: list[str] = field(default_factory=list)
    nonce_collisions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unresolved or self.unsafe or self.duplicates or self.shared_accounts
                    or self.nonce_collisions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "seed": self.seed, "duration_secs": self.duration_secs, "command": self.command,
            "exit_code": self.exit_code, "cycles": self.cycles, "outcomes": self.outcomes,
            "stop_reasons": self.stop_reasons, "faults": self.faults, "faults_total": sum(self.faults.values()),
            "unresolved": self.unresolved, "unsafe": self.unsafe, "duplicates": self.duplicates,
            "shared_accounts": self.shared_accounts, "nonce_collisions": self.nonce_collisions,
        }


def run_fleet_rehearsal(duration_secs: float, *, seed: int = 0, workdir: Path | None = None,
                        log: Callable[[str], None] | None = None) -> FleetRehearsalReport:
    """Run a fleet of the two paper groups (``hedgectl fleet run --forever`` in a child process) for
    ``duration_secs`` while faults drawn from ``seed`` hit the venues, stop it with SIGTERM, and judge the end."""
    import tempfile

    from hedgectl.sim.runner import ThreadedPaperVenues

    say = log or (lambda line: logger.info("%s", line))
    with tempfile.TemporaryDirectory(prefix="hedgectl-fleet-") as scratch:
        home = Path(workdir) if workdir is not None else Path(scratch)
        with ThreadedPaperVenues(seed=seed, tick_seconds=0, kinds=["backpack", "lighter"]) as venues:
            config = write_paper_fleet_config(venues, home / "conf", data_dir=home / "data", size="0.5",
                                              monitor_timeout_secs=3.0, poll_interval_secs=0.5)
            args = ["fleet", "run", "--forever", "--pause", "2..4", "--stagger", "2", "--restarts", "100000",
                    "--max-emergency-exits", "1000", "--json"]
            report = FleetRehearsalReport(seed=seed, duration_secs=duration_secs,
                                          command="hedgectl " + " ".join(args))
            _run_and_fault(venues, config, args, report, say)
            _judge_fleet(venues, home / "data", config, report)
    return report


def _run_and_fault(venues, config: Path, args: list[str], report: FleetRehearsalReport, say) -> None:
    import json
    import os
    import random
    import signal
    import subprocess
    import sys
    import threading
    import time

    from hedgectl.rehearsal.plan import DEFAULT_VENUES
    from hedgectl.rehearsal.plan import _draw_fault

    process = subprocess.Popen([sys.executable, "-m", "hedgectl", "--config", str(config), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                               start_new_session=True)
    errors: list[str] = []

    def read_events() -> None:
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            group = event.get("group")
            if event.get("event") == "loop_tally" and group:
                report.cycles[group] = report.cycles.get(group, 0) + 1
                outcomes = report.outcomes.setdefault(group, {})
                outcomes[event.get("outcome")] = outcomes.get(event.get("outcome"), 0) + 1
                say(f"{group}: cycle {event.get('number')} {event.get('outcome')}")
            elif event.get("event") == "loop" and group:
                report.stop_reasons[group] = event.get("stop_reason")
                say(f"{group}: stopped: {event.get('stop_reason')}: {event.get('stop_detail')}")

    def read_errors() -> None:
        for line in process.stderr:
            errors.append(line.rstrip())

    readers = [threading.Thread(target=read_events, daemon=True), threading.Thread(target=read_errors, daemon=True)]
    for reader in readers:
        reader.start()
    rng = random.Random(seed_stream(report.seed))
    deadline = time.monotonic() + report.duration_secs
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(min(rng.uniform(*FAULT_GAP_SECS), max(0.0, deadline - time.monotonic())))
        if time.monotonic() >= deadline:
            break
        group = rng.choice(sorted(PAPER_GROUPS))
        fault = _draw_fault(rng, DEFAULT_VENUES)
        try:
            venues.arm(fault.venue, fault.kind, **fault.fault_options(PAPER_GROUPS[group]))
        except Exception as exc:  # a fault a venue does not take is skipped, never the end of the rehearsal
            say(f"fault {fault.describe()} not armed: {exc}")
            continue
        report.faults[fault.kind.value] = report.faults.get(fault.kind.value, 0) + 1
        say(f"fault for {group}: {fault.describe().partition(': ')[2]}")
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        report.exit_code = process.wait(timeout=STOP_TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        process.kill()
        report.exit_code = process.wait()
        report.unsafe.append(f"the fleet did not end within {STOP_TIMEOUT_SECS:g}s of its SIGTERM")
    for reader in readers:
        reader.join(timeout=10)
    if any("Traceback" in line for line in errors):
        report.unsafe.append("a traceback in the fleet's output: " + " | ".join(errors[-5:]))
    for line in errors:
        say(f"fleet: {line}")


def seed_stream(seed: int) -> int:
    """The fault stream of a fleet rehearsal: apart from the paper market's own stream of the same seed."""
    from hedgectl.sim.market import derived_seed

    return derived_seed(seed, "fleet-faults")


def _judge_fleet(venues, data_dir: Path, config: Path, report: FleetRehearsalReport) -> None:
    import time

    from hedgectl.journal import journal_path
    from hedgectl.config.loader import inspect_config
    from hedgectl.journal import Journal
    from hedgectl.rehearsal.checks import LegAccount, inspect_end_state
    from hedgectl.rehearsal.plan import DEFAULT_VENUES
    from hedgectl.rehearsal.runner import SETTLE_SECS, SYMBOLS

    for kind in ("backpack", "lighter"):
        venues.clear(kind)
    time.sleep(SETTLE_SECS)  # requests still in flight land before the books are read
    report.shared_accounts += [p for p in inspect_config(config).problems if p.startswith("groups.")]
    exchanges = {kind: venues.venues.venue(kind).exchange for kind in ("backpack", "lighter")}
    owner: dict[str, str] = {}
    for group, roles in PAPER_GROUPS.items():
        journal = Journal(journal_path(data_dir, group))
        try:
            cycles = journal.history(limit=100000)
        finally:
            journal.close()
        report.unresolved += [f"{group}: cycle {cycle.id} is not resolved" for cycle in cycles if not cycle.resolved]
        legs = [LegAccount(role, DEFAULT_VENUES[role], account, SYMBOLS[DEFAULT_VENUES[role]])
                for role, account in roles.items()]
        end = venues.call_sync(lambda legs=legs: inspect_end_state(exchanges, legs))
        # the journal checks of inspect_end_state judge one cycle; here every cycle's end is judged by the journal
        # (resolved) and the group's end by the venues (flat, nothing resting)
        if abs(end.net) > end.tolerance:
            report.unsafe.append(f"{group}: net exposure {end.net}")
        report.unsafe += [f"{group}: {reason}" for reason in end.resting]
        report.unsafe += [f"{group}: {leg.role} {leg.account} holds {end.positions[leg.role]}"
                          for leg in legs if end.positions[leg.role] != 0]
        report.duplicates += [f"{group}: {problem}" for problem in end.duplicates]
        for account in roles.values():
            if account in owner:
                report.shared_accounts.append(f"{account} is in groups {owner[account]} and {group}")
            owner[account] = group
    ledger = venues.venues.venue("lighter").ledger

    def used_nonces() -> list[tuple[int, int, int]]:
        return [(record.tx.account_index, record.tx.api_key_index, record.tx.nonce) for record in ledger.txs.values()]

    seen: set[tuple[int, int, int]] = set()
    for key in venues.call_sync(used_nonces):
        if key in seen:
            report.nonce_collisions.append(f"account {key[0]} api key {key[1]}: nonce {key[2]} used twice")
        seen.add(key)
