"""The collector token never has to be on a command line: the environment or a private file, and a loud warning
for --token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hedgectl.telemetry.token import TokenFileError, read_token_file
from tests.telemetry.conftest import TOKEN


def token_file(tmp_path: Path, mode: int, content: str = TOKEN + "\n") -> Path:
    path = tmp_path / "collector.token"
    path.write_text(content)
    path.chmod(mode)
    return path


def hedgectl(*args: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HEDGECTL_")}
    environment.update({"HOME": str(tmp_path), **(env or {})})
    return subprocess.Popen(
        [sys.executable, "-m", "hedgectl", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path,
    )


def serve_until_ready(process: subprocess.Popen) -> str:
    line = process.stdout.readline()
    assert "listening on " in line, process.stderr.read()
    return line.split("listening on ")[1].split()[0]


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out, err


def test_serve_reads_the_token_from_a_private_file(tmp_path):
    process = hedgectl("telemetry", "serve", "--port", "0", "--token-file", str(token_file(tmp_path, 0o600)),
                       tmp_path=tmp_path)
    try:
        url = serve_until_ready(process)
        assert httpx.get(f"{url}/api/status").status_code == 401
        assert httpx.get(f"{url}/api/status", headers={"x-auth-token": TOKEN}).status_code == 200
    finally:
        out, err = stop(process)
    assert TOKEN not in out + err
    assert "warning" not in err


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_serve_refuses_a_token_file_others_can_read(tmp_path, mode):
    process = hedgectl("telemetry", "serve", "--port", "0", "--token-file", str(token_file(tmp_path, mode)),
                       tmp_path=tmp_path)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert "chmod 600" in err and f"{mode:o}" in err
    assert TOKEN not in out + err


def test_serve_with_token_on_the_command_line_warns_that_ps_shows_it(tmp_path):
    process = hedgectl("telemetry", "serve", "--port", "0", "--token", TOKEN, tmp_path=tmp_path)
    try:
        url = serve_until_ready(process)
        assert httpx.get(f"{url}/api/status", headers={"x-auth-token": TOKEN}).status_code == 200
    finally:
        out, err = stop(process)
    assert "warning" in err and "`ps`" in err and "--token-file" in err
    assert TOKEN not in out + err


def test_serve_takes_the_token_from_the_environment_without_a_warning(tmp_path):
    process = hedgectl("telemetry", "serve", "--port", "0", tmp_path=tmp_path,
                       env={"HEDGECTL_TELEMETRY_TOKEN": TOKEN})
    try:
        url = serve_until_ready(process)
        assert httpx.get(f"{url}/api/status").status_code == 401
    finally:
        out, err = stop(process)
    assert "warning" not in err


def test_watch_reads_the_token_from_a_private_file(tmp_path, collector):
    process = hedgectl("telemetry", "watch", "--once", "--url", collector.url,
                       "--token-file", str(token_file(tmp_path, 0o600)), tmp_path=tmp_path)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    assert "no bots have reported yet" in out
    assert TOKEN not in out + err


def test_watch_with_a_readable_token_file_is_a_usage_error(tmp_path, collector):
    process = hedgectl("telemetry", "watch", "--once", "--url", collector.url,
                       "--token-file", str(token_file(tmp_path, 0o644)), tmp_path=tmp_path)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert "chmod 600" in err


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "printable ASCII"),
        ("tok\x01en\n", "printable ASCII"),
        ("töken", "printable ASCII"),
        ("x" * 5000, "larger"),
    ],
)
def test_a_token_file_without_one_usable_token_is_refused_without_showing_it(tmp_path, content, reason):
    path = token_file(tmp_path, 0o600, content)

    with pytest.raises(TokenFileError, match=reason) as caught:
        read_token_file(path)
    assert not content or content.strip() not in str(caught.value)


def test_a_missing_token_file_is_named():
    with pytest.raises(TokenFileError, match="cannot read token file /nonexistent/t"):
        read_token_file("/nonexistent/t")


def test_a_token_file_with_a_trailing_newline_gives_the_token(tmp_path):
    assert read_token_file(token_file(tmp_path, 0o400)) == TOKEN
