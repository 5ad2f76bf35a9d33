"""Shared fixtures: an isolated home for every test, a runner for the command line, and paper venues started on
ephemeral loopback ports for one test and stopped afterwards."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hedgectl.cli import main
from hedgectl.sim.runner import ThreadedPaperVenues

pytest_plugins = ["pytester", "tests.secret_scan"]

ISOLATED_ENV_PREFIXES = ("HEDGECTL_", "XTB_")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own HOME, XDG dirs and working directory; no HEDGECTL_* variable leaks in."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith(ISOLATED_ENV_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    # a test runner may export its own terminal size (pytest-xdist workers set COLUMNS=80); tables would wrap at it
    for key in ("COLUMNS", "LINES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    work = home / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo what an in-process run of the CLI does to logging (levels, root handlers) before the next test.

    ``main`` configures logging for its whole process, e.g. httpx at WARNING; a later test that reads httpx's
    INFO records through caplog would otherwise depend on which tests ran before it.
    """
    loggers = logging.Logger.manager.loggerDict
    levels = {name: logger.level for name, logger in loggers.items() if isinstance(logger, logging.Logger)}
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    yield
    for name, logger in list(loggers.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
    root.setLevel(root_level)
    for handler in list(root.handlers):
        if handler not in root_handlers:
            root.removeHandler(handler)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


LOGGERS_THE_CLI_CONFIGURES = ("", "hedgectl", "httpx", "httpcore", "aiohttp.access", "urllib3", "asyncio")


@pytest.fixture
def cli(capsys):
    """Run ``hedgectl ARGS`` in-process: returns exit code, stdout and stderr.

    The command line configures logging for its process; here that configuration is undone after each run so it
    does not leak into the tests that follow.
    """
    import logging

    def run(*args: str) -> CliResult:
        from tests.secret_scan import record_output

        loggers = [logging.getLogger(name) for name in LOGGERS_THE_CLI_CONFIGURES]
        levels = [logger.level for logger in loggers]
        handlers = list(logging.getLogger().handlers)
        capsys.readouterr()
        try:
            code = main(list(args))
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
            root = logging.getLogger()
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
        captured = capsys.readouterr()
        record_output(captured.out, captured.err)
        return CliResult(int(code), captured.out, captured.err)

    return run


@pytest.fixture
def cli_subprocess():
    """Run ``python -m hedgectl ARGS`` in a child process (for import-time and signal behaviour)."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120):
        from tests.secret_scan import record_output

        full_env = {**os.environ, **(env or {})}
        completed = subprocess.run(
            [sys.executable, "-m", "hedgectl", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
        )
        record_output(completed.stdout, completed.stderr)
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def paper_venues_factory() -> Iterator[Callable[..., ThreadedPaperVenues]]:
    """Start paper venues with chosen options (those of ``PaperVenues``); all are stopped after the test."""
    started: list[ThreadedPaperVenues] = []

    def start(**options: Any) -> ThreadedPaperVenues:
        options.setdefault("seed", 1234)
        options.setdefault("tick_seconds", 0)
        venues = ThreadedPaperVenues(**options).start()
        started.append(venues)
        _register_paper_secrets(venues.accounts_document())
        return venues

    yield start
    for venues in started:
        venues.stop()


@pytest.fixture
def paper_venues(paper_venues_factory: Callable[..., ThreadedPaperVenues]) -> ThreadedPaperVenues:
    """Every paper venue on ephemeral ports with fresh funded accounts; prices move only when a test moves them."""
    return paper_venues_factory()


@pytest.fixture
def paper_accounts(paper_venues: ThreadedPaperVenues) -> dict[str, Any]:
    """The accounts document (the shape ``sim serve --accounts-out`` writes) of ``paper_venues``."""
    return paper_venues.accounts_document()


def _register_paper_secrets(accounts: dict[str, Any]) -> None:
    """Paper keys are secrets like any other: the secret scanner watches for them from the moment they exist."""
    from hedgectl.config.secrets import register_secret

    for section in accounts.values():
        for account in section.get("accounts", []):
            for key in ("api_secret", "api_private_key", "private_key"):
                if account.get(key):
                    register_secret(account[key])
        if section.get("bot_token"):
            register_secret(section["bot_token"])
