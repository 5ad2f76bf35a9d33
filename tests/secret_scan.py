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

#: Re-entrant: a log record can be emitted from inside ``record_output`` on the same thread (the garbage collector
#: finalizes a task while the list grows, and asyncio logs that task's error), which would deadlock a plain Lock.
_lock = threading.RLock()
_texts: list[tuple[str, str]] = []  # (where it came from, text)


def record_output(*texts: str, source: str = "hedgectl output") -> None:
    """Add text that hedgectl printed (from a fixture that captured it) to the current test's scan."""
    with _lock:
        _texts.extend((source, t) for t in texts if t)


#: Third-party wire traces hedgectl never turns on (its logging setup keeps them at INFO or above); at DEBUG they
#: print raw response headers, session cookies included, which would be the library user's own choice to enable.
UNSCANNED_DEBUG_LOGGERS = ("httpcore.",)


class _RecordEverything(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno <= logging.DEBUG and record.name.startswith(UNSCANNED_DEBUG_LOGGERS):
            return
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += " " + repr(record.exc_info[1])
        except Exception:  # a record that cannot format is scanned as its template
            text = str(record.msg)
        record_output(text, source=f"log record of {record.name}")


_handler = _RecordEverything(level=logging.DEBUG)


def pytest_sessionstart(session) -> None:
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(logging.DEBUG)


def find_leaks(texts: list[tuple[str, str]]) -> list[str]:
    """The secret forms found in ``texts``, each masked (first and last two characters) and with where it was."""
    forms = known_secret_forms()
    leaks = set()
    for form in forms:
        for source, text in texts:
            if form in text:
                leaks.add(f"{form[:2]}...{form[-2:]} ({len(form)} chars) in {source}")
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
        # pytest's own "log" sections repeat the records the handler above already scanned (and filtered)
        texts = list(_texts) + [
            (f"captured {section[1]}", section[-1]) for section in item._report_sections if section[1] != "log"
        ]
        _texts.clear()
    leaks = find_leaks(texts)
    if leaks and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = f"a configured secret appeared in hedgectl's output or logs: {', '.join(leaks)}"
