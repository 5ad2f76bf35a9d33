"""Writers never replace an operator's file: ``sim serve --write-config`` / ``--accounts-out`` and ``config init``
refuse an existing file unless ``--force``, and an existing ``.env`` is never touched; a busy port is one line."""

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

import pytest

LIVE_CONFIG = b'# the operator\'s live config\n[connectors.backpack]\nvenue = "backpack"\n'
LIVE_DOTENV = b"HEDGECTL_BACKPACK_API_KEY='live-public-key'\nHEDGECTL_BACKPACK_API_SECRET='live-secret-value'\n"


def hedgectl(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    from tests.secret_scan import record_output

    done = subprocess.run([sys.executable, "-m", "hedgectl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)
    record_output(done.stdout, done.stderr)
    return done


@pytest.fixture
def operator_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "live"
    directory.mkdir()
    (directory / "hedgectl.toml").write_bytes(LIVE_CONFIG)
    (directory / ".env").write_bytes(LIVE_DOTENV)
    os.chmod(directory / ".env", 0o600)
    return directory


def test_write_config_onto_an_existing_config_and_dotenv_leaves_both_byte_identical(operator_dir):
    done = hedgectl("sim", "serve", "--write-config", str(operator_dir / "hedgectl.toml"), cwd=operator_dir)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "exists" in lines[0] and "--force" in lines[0]
    assert (operator_dir / "hedgectl.toml").read_bytes() == LIVE_CONFIG
    assert (operator_dir / ".env").read_bytes() == LIVE_DOTENV
    assert sorted(p.name for p in operator_dir.iterdir()) == [".env", "hedgectl.toml"]


def test_accounts_out_onto_an_existing_file_is_refused(tmp_path):
    accounts = tmp_path / "accounts.json"
    accounts.write_bytes(b'{"mine": true}\n')
    done = hedgectl("sim", "serve", "--accounts-out", str(accounts), cwd=tmp_path)
    assert done.returncode == 2
    assert "accounts file" in done.stderr and "--force" in done.stderr
    assert accounts.read_bytes() == b'{"mine": true}\n'


def serve_until_ready(args: list[str], cwd: Path, ready: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "hedgectl", "sim", "serve", *args], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), process.communicate(timeout=10)
    return process


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


def test_force_replaces_the_config_but_never_the_dotenv_and_the_config_works(operator_dir):
    config = operator_dir / "hedgectl.toml"
    own_env = operator_dir / "hedgectl.env"
    process = serve_until_ready(["--write-config", str(config), "--force"], operator_dir, own_env)
    try:
        assert (operator_dir / ".env").read_bytes() == LIVE_DOTENV
        assert config.read_bytes() != LIVE_CONFIG
        assert stat.S_IMODE(own_env.stat().st_mode) == 0o600
        checked = hedgectl("--config", str(config), "config", "check", "--online", "--json", cwd=operator_dir)
        assert checked.returncode == 0, checked.stderr
        report = json.loads(checked.stdout)
        assert report["online"]["backpack"]["ok"] is True  # the paper keys of hedgectl.env, not the live ones
    finally:
        err = stop(process)
    assert "left alone" in err and str(own_env) in err
    assert (operator_dir / ".env").read_bytes() == LIVE_DOTENV


def test_a_written_paper_config_has_its_own_data_dir_beside_it(tmp_path):
    config = tmp_path / "paper" / "desk.toml"
    process = serve_until_ready(["--write-config", str(config)], tmp_path, config.parent / ".env")
    try:
        status = hedgectl("--config", str(config), "hedge", "status", "--json", cwd=tmp_path)
    finally:
        stop(process)
    assert 'data_dir = "desk-data"' in config.read_text()
    assert json.loads(status.stdout)["journal"] == str(config.parent / "desk-data" / "journal.sqlite3")
    assert stat.S_IMODE((config.parent / "desk-data").stat().st_mode) == 0o700


def test_config_init_refuses_an_existing_file_and_never_touches_an_existing_dotenv(cli, operator_dir):
    config = operator_dir / "hedgectl.toml"
    refused = cli("config", "init", str(config))
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert config.read_bytes() == LIVE_CONFIG
    forced = cli("config", "init", str(config), "--force")
    assert forced.exit_code == 0, forced.output
    assert config.read_bytes() != LIVE_CONFIG
    assert (operator_dir / ".env").read_bytes() == LIVE_DOTENV
    assert "left alone" in forced.stderr and "HEDGECTL_LIGHTER1_PRIVATE_KEY" in forced.output


@pytest.mark.parametrize("option", ["--backpack-port", "--lighter-port", "--grvt-port", "--telegram-port"])
def test_a_busy_port_is_one_line_and_exit_2(tmp_path, option):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = hedgectl("sim", "serve", option, str(port), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: port {port} is in use"]
