"""Every bad config or data directory is one line and exit 2; hedgectl's own files are private whatever the umask,
and an existing one others can read gets one warning."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hedgectl import locks
from hedgectl.connectors.lighter.nonces import NonceFile
from hedgectl.model.client_ids import LIGHTER_RANGE, ClientIdAllocator
from hedgectl.journal import Journal, journal_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _deep(tmp_path: Path) -> Path:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    return path


def _data_dir(value: str):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "hedgectl.toml"
        path.write_text(f'[general]\ndata_dir = "{value}"\n')
        return path

    return make


def _data_dir_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("not a directory")
    return _data_dir(str(tmp_path / "afile"))(tmp_path)


def _data_dir_below_a_file(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("not a directory")
    return _data_dir(str(tmp_path / "afile" / "data"))(tmp_path)


def _directory(tmp_path: Path) -> Path:
    (tmp_path / "conf.toml").mkdir()
    return tmp_path / "conf.toml"


def _unreadable(tmp_path: Path) -> Path:
    return Path("/proc/self/mem")  # reading it at offset 0 fails (EIO) even for root, unlike a chmod 000 file


def _dotenv_not_utf8(tmp_path: Path) -> Path:
    (tmp_path / ".env").write_bytes(b"HEDGECTL_X=\xff\xfe\n")
    os.chmod(tmp_path / ".env", 0o600)
    return _data_dir(str(tmp_path / "data"))(tmp_path)


BAD = {
    "toml nested 5000 deep": (_deep, "nested too deeply"),
    "data_dir under /proc": (_data_dir("/proc/hedgectl/data"), "general.data_dir"),
    "data_dir is /proc": (_data_dir("/proc"), "general.data_dir"),
    "data_dir is a file": (_data_dir_is_a_file, "is not a directory"),
    "data_dir below a file": (_data_dir_below_a_file, "is not a directory"),
    "data_dir of an unknown user": (_data_dir("~no-such-user-here/data"), "general.data_dir"),
    "data_dir with a NUL": (_data_dir("/tmp/a\\u0000b"), "general.data_dir"),
    "config is a directory": (_directory, "is a directory"),
    "config unreadable": (_unreadable, "cannot read config file"),
    ".env not UTF-8": (_dotenv_not_utf8, "cannot read secrets file"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("command", [("history",), ("hedge", "status"), ("config", "check")])
def test_each_bad_config_is_one_line_and_exit_2(cli, tmp_path, case, command):
    make, needle = BAD[case]
    path = make(tmp_path)
    result = cli("--config", str(path), *command)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.output and "internal error" not in result.output


# --- private files ------------------------------------------------------------------------------------------------


@pytest.fixture
def permissive_umask():
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_journal_and_its_wal_and_shm_are_private_under_a_permissive_umask(tmp_path, permissive_umask):
    data_dir = tmp_path / "a" / "b" / "data"
    journal = Journal(journal_path(data_dir))
    try:
        journal.start_cycle(direction="long", accounts={"BP": "x"}, params={}, pid=1)
        files = [journal_path(data_dir), data_dir / "journal.sqlite3-wal", data_dir / "journal.sqlite3-shm"]
        assert all(path.exists() for path in files)
        assert [mode(path) for path in files] == [0o600] * 3
        assert [mode(path) for path in (data_dir, data_dir.parent, data_dir.parent.parent)] == [0o700] * 3
    finally:
        journal.close()


def test_locks_nonce_and_client_id_files_are_private_under_a_permissive_umask(tmp_path, permissive_umask):
    data_dir = tmp_path / "data"
    with locks.acquire(data_dir, "lighter-1-3") as lock:
        assert mode(lock.path) == 0o600 and mode(lock.path.parent) == 0o700
    nonce = NonceFile(data_dir, "lighter-1", 3)
    nonce.write(41)
    assert nonce.last_used() == 41
    assert mode(nonce.path) == 0o600
    assert mode(nonce.path.parent) == 0o700 and mode(nonce.path.parent.parent) == 0o700
    allocator = ClientIdAllocator(LIGHTER_RANGE, state_path=data_dir / "client_ids" / "x.json")
    allocator.next()
    assert mode(data_dir / "client_ids" / "x.json") == 0o600 and mode(data_dir / "client_ids") == 0o700
    assert mode(data_dir) == 0o700


def test_a_command_run_under_umask_000_creates_a_private_data_directory(tmp_path):
    data_dir = tmp_path / "fresh" / "data"
    config = tmp_path / "hedgectl.toml"
    config.write_text(f'[general]\ndata_dir = "{data_dir}"\n')
    done = subprocess.run([sys.executable, "-m", "hedgectl", "--config", str(config), "history", "--json"],
                          capture_output=True, text=True, preexec_fn=lambda: os.umask(0), timeout=60)
    assert done.returncode == 0, done.stderr
    assert mode(data_dir) == 0o700 and mode(data_dir.parent) == 0o700
    assert mode(journal_path(data_dir)) == 0o600
    assert str(journal_path(data_dir)) in done.stdout


def test_an_existing_journal_others_can_read_gets_one_warning(tmp_path, caplog):
    data_dir = tmp_path / "data"
    Journal(journal_path(data_dir)).close()
    os.chmod(journal_path(data_dir), 0o644)
    caplog.set_level(logging.WARNING, logger="hedgectl.files")
    for _ in range(2):
        Journal(journal_path(data_dir)).close()
    warnings = [r.getMessage() for r in caplog.records if "readable by other users" in r.getMessage()]
    assert len(warnings) == 1
    assert str(journal_path(data_dir)) in warnings[0] and "chmod 600" in warnings[0]
    assert mode(journal_path(data_dir)) == 0o644  # the operator's file is warned about, not changed


def test_an_existing_shared_data_directory_and_lock_file_are_warned_about(tmp_path, caplog):
    data_dir = tmp_path / "shared"
    (data_dir / "locks").mkdir(parents=True)
    os.chmod(data_dir / "locks", 0o755)
    lock_file = data_dir / "locks" / "acct.lock"
    lock_file.write_text("")
    os.chmod(lock_file, 0o644)
    caplog.set_level(logging.WARNING, logger="hedgectl.files")
    locks.acquire(data_dir, "acct").release()
    messages = [r.getMessage() for r in caplog.records]
    assert any(str(data_dir / "locks") in m and "chmod 700" in m for m in messages)
    assert any(str(lock_file) in m and "chmod 600" in m for m in messages)


def test_the_probe_that_checks_a_data_directory_leaves_nothing_behind(cli, tmp_path):
    data_dir = tmp_path / "data"
    config = tmp_path / "hedgectl.toml"
    config.write_text(f'[general]\ndata_dir = "{data_dir}"\n')
    assert cli("--config", str(config), "history").exit_code == 0
    names = {p.name for p in data_dir.iterdir()}
    assert "journal.sqlite3" in names
    assert not [name for name in names if name.startswith(".probe-")]
