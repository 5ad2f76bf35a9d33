"""A pytest plugin that fails any test whose output or logs contain a configured secret, in any encoding.

Secrets are what hedgectl registered while the test ran (every Secret the config loaded: Backpack API secrets,
Lighter private keys, Telegram bot tokens, telemetry tokens). What is scanned: the test's captured stdout and
stderr, every log record of every logger at DEBUG and above (raw, before hedgectl's own redaction), and the output
of every hedgectl run the fixtures made (in-process and subprocess).
"""

from __future__ import annotations

import logging
import threading

import pytest

from hedgectl.config.secrets import known_secret_forms

_lock = threading.Lock()
_texts: list[str] = []


def record_output(*texts: str) -> None:
    """Add text that hedgectl printed (from a fixture that captured it) to the current test's scan."""
    with _lock:
        _texts.extend(t for t in texts if t)


class _RecordEverything(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += " " + repr(record.exc_info[1])
        except Exception:  # a record that cannot format is scanned as its template
            text = str(record.msg)
        record_output(text)


_handler = _RecordEverything(level=logging.DEBUG)


def pytest_sessionstart(session) -> None:
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(logging.DEBUG)


def find_leaks(texts: list[str]) -> list[str]:
    """The secret forms found in ``texts``, each shown masked (first and last two characters)."""
    forms = known_secret_forms()
    leaks = []
    for form in forms:
        if any(form in text for text in texts):
            leaks.append(f"{form[:2]}...{form[-2:]} ({len(form)} chars)")
    return sorted(leaks)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _lock:
        _texts.clear()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "teardown":
        return
    report = outcome.get_result()
    with _lock:
        texts = list(_texts) + [section[-1] for section in item._report_sections]
        _texts.clear()
    leaks = find_leaks(texts)
    if leaks and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = f"a configured secret appeared in hedgectl's output or logs: {', '.join(leaks)}"
