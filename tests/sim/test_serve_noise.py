"""``sim serve`` keeps its log clean when clients go away mid-request: a killed client is the client's business."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

#: A client that sends a request's headers and part of its body, says so, then waits to be killed.
CUT_SHORT_CLIENT = """
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
connection = socket.create_connection((host, port))
connection.sendall(("POST " + path + " HTTP/1.1\\r\\nHost: paper\\r\\nContent-Type: " + sys.argv[4] +
                    "\\r\\nContent-Length: 4000\\r\\n\\r\\n" + sys.argv[5]).encode())
print("sent", flush=True)
time.sleep(600)
"""


@pytest.fixture
def serve(tmp_path: Path):
    """A ``sim serve`` process and its accounts document; its stderr after SIGINT is what the test reads."""
    accounts = tmp_path / "accounts.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "hedgectl", "sim", "serve", "--accounts-out", str(accounts)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 30
    while not accounts.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert accounts.exists(), process.stderr.read() if process.poll() is not None else "no accounts file"
    stopped: list[str] = []

    def stop() -> str:
        process.send_signal(signal.SIGINT)
        stopped.append(process.communicate(timeout=30)[1])
        return stopped[0]

    yield json.loads(accounts.read_text()), stop
    if not stopped:
        process.kill()
        process.communicate()


def kill_mid_body(url: str, path: str, content_type: str, partial_body: str) -> None:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    client = subprocess.Popen([sys.executable, "-c", CUT_SHORT_CLIENT, host, port, path, content_type, partial_body],
                              stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "sent"
    client.send_signal(signal.SIGKILL)
    client.wait()


def test_clients_killed_mid_request_leave_no_error_in_the_sim_serve_log(serve):
    accounts, stop = serve
    lighter, backpack = accounts["lighter"]["url"], accounts["backpack"]["url"]

    kill_mid_body(lighter, "/api/v1/sendTx", "application/x-www-form-urlencoded", "tx_type=14&tx_info=")
    kill_mid_body(backpack, "/api/v1/order", "application/json", '{"symbol": "ETH_')
    kill_mid_body(lighter, "/_sim/faults", "application/json", '{"kind": "lat')
    # the venues still answer, on the same event loop that saw the dead connections
    assert httpx.get(f"{lighter}/_sim/state", timeout=10).status_code == 200
    assert httpx.get(f"{backpack}/_sim/state", timeout=10).status_code == 200
    log = stop()

    assert "Traceback" not in log
    assert " ERROR " not in log and "Error handling request" not in log
    assert "paper venues stopped" in log  # the log was read to its end


def test_a_telegram_client_that_leaves_mid_request_does_not_put_the_bot_token_in_the_log(
    paper_venues_factory, caplog
):
    caplog.set_level("DEBUG", logger="hedgectl.sim")
    venues = paper_venues_factory(kinds=["telegram"])
    token = venues.accounts_document()["telegram"]["bot_token"]
    kill_mid_body(venues.url("telegram"), f"/bot{token}/sendMessage", "application/json", '{"chat_id": ')
    deadline = time.monotonic() + 30
    while "client left" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)

    assert "client left during POST /bot***/sendMessage" in caplog.text
    assert token not in caplog.text and token.split(":")[1] not in caplog.text
