"""Starting and stopping the paper venues: threaded runner, state file, and the serve loop under signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hedgectl.sim.runner import ThreadedPaperVenues


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def test_threaded_runner_accepts_connections_once_started_and_none_after_stop() -> None:
    venues = ThreadedPaperVenues(seed=3, tick_seconds=0, kinds=["telegram"]).start()
    venue = venues.venues.venue("telegram")
    address = (venue.host, venue.port)
    assert venue.port != 0 and _accepts(*address)
    venues.stop()
    assert not _accepts(*address)
    assert venues._thread is None


def test_state_file_keeps_accounts_across_restarts(tmp_path: Path) -> None:
    state_file = tmp_path / "paper-state.json"
    with ThreadedPaperVenues(seed=3, tick_seconds=0, kinds=["telegram"], state_file=state_file) as first:
        before = first.accounts_document()["telegram"]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    with ThreadedPaperVenues(seed=3, tick_seconds=0, kinds=["telegram"], state_file=state_file) as second:
        after = second.accounts_document()["telegram"]
    assert after["bot_token"] == before["bot_token"] and after["chat_id"] == before["chat_id"]


def test_startup_failure_on_a_taken_port_is_raised_to_the_caller() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(OSError):
            ThreadedPaperVenues(kinds=["telegram"], ports={"telegram": port}, tick_seconds=0).start()


SERVE_SCRIPT = """
import logging, sys
from hedgectl.sim.runner import run_serve
logging.basicConfig(level=logging.INFO)
run_serve(accounts_out=sys.argv[1], kinds=sys.argv[2].split(","), seed=5)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_writes_the_accounts_file_when_ready_and_stops_cleanly_on_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    accounts_file = tmp_path / "accounts.json"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(accounts_file), "telegram"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not accounts_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        document: dict[str, Any] = json.loads(accounts_file.read_text())
        assert stat.S_IMODE(accounts_file.stat().st_mode) == 0o600
        section = document["telegram"]
        answer = httpx.post(f"{section['url']}/bot{section['bot_token']}/sendMessage",
                            json={"chat_id": section["chat_id"], "text": "hello"})
        assert answer.json()["ok"] is True
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert section["bot_token"] not in output


def test_state_file_keeps_backpack_keys_collateral_and_positions(tmp_path: Path) -> None:
    from .conftest import BackpackTestClient

    state_file = tmp_path / "paper-state.json"
    options = {"seed": 3, "tick_seconds": 0, "kinds": ["backpack"], "state_file": state_file}
    with ThreadedPaperVenues(**options) as first, httpx.Client() as http:
        section = first.accounts_document()["backpack"]
        account = section["accounts"][0]
        client = BackpackTestClient(section["url"], account["api_key"], account["api_secret"], http)
        assert client.market("Ask", "0.5").status_code == 200
        collateral = client.request("GET", "/api/v1/capital").json()["USDC"]["available"]
    with ThreadedPaperVenues(**options) as second, httpx.Client() as http:
        section = second.accounts_document()["backpack"]
        assert section["accounts"][0] == account
        client = BackpackTestClient(section["url"], account["api_key"], account["api_secret"], http)
        assert client.signed_size() == "-0.5"
        assert client.request("GET", "/api/v1/capital").json()["USDC"]["available"] == collateral


def test_accounts_document_has_the_accounts_file_shape(paper_venues: ThreadedPaperVenues) -> None:
    document = paper_venues.accounts_document()
    backpack = document["backpack"]
    assert backpack["url"].startswith("http://127.0.0.1:")
    assert [sorted(account) for account in backpack["accounts"]] == [["api_key", "api_secret", "name"]]
    assert backpack["accounts"][0]["name"] == "backpack"
    assert sorted(document["telegram"]) == ["bot_token", "chat_id", "url"]
    assert isinstance(document["telegram"]["chat_id"], str)
