"""Secrets: a value type that never prints itself, the set of known secret values for redaction, key files.

Every secret hedgectl loads (from the environment, a .env file or a key file) is wrapped in ``Secret`` and
registered; ``redact`` and ``RedactingFilter`` scrub registered values, in their common encodings, from any text
that is about to be shown or logged.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
import urllib.parse
from pathlib import Path

logger = logging.getLogger(__name__)

MASK = "***"

_known: set[str] = set()
_known_lock = threading.Lock()


def _encodings(value: str) -> set[str]:
    """The forms a secret may take in text: raw, without 0x, url-quoted, base64 of it, hex of it."""
    forms = {value}
    if value.lower().startswith("0x"):
        forms.add(value[2:])
    forms.add(urllib.parse.quote(value, safe=""))
    forms.add(urllib.parse.quote_plus(value))
    raw = value.encode()
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.urlsafe_b64encode(raw).decode())
    forms.add(raw.hex())
    return {form for form in forms if len(form) >= 6}


def register_secret(value: str) -> None:
    """Remember ``value`` so that redaction scrubs it from output from now on."""
    if not value or len(value) < 6:
        return
    with _known_lock:
        _known.update(_encodings(value))


def known_secret_forms() -> frozenset[str]:
    with _known_lock:
        return frozenset(_known)


def redact(text: str) -> str:
    """Replace every registered secret (in any of its encodings) in ``text`` by ``***``."""
    with _known_lock:
        forms = sorted(_known, key=len, reverse=True)
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


class Secret:
    """A secret string: ``str()`` and ``repr()`` show ``***``; ``reveal()`` gives the value to the code that signs."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "unknown", *, register: bool = True):
        self._value = value
        self.source = source
        if register:  # a public value kept with the secrets (a public key) need not be scrubbed
            register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK}, source={self.source!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled")


class RedactingFilter(logging.Filter):
    """A logging filter that renders the message and scrubs registered secrets from it (and from tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _known:
            return True
        message = record.getMessage()
        scrubbed = redact(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if redact(str(exc)) != str(exc):
                # keep the type, drop a message that carries a secret
                record.exc_info = None
                record.exc_text = None
                record.msg = f"{record.msg} ({type(exc).__name__}: {redact(str(exc))})"
        return True


def check_permissions(path: Path) -> str | None:
    """A warning text when ``path`` holds secrets and is readable by group or others, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"{path} holds secrets and is readable by group or others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )
    return None


def warn_if_exposed(path: Path) -> None:
    warning = check_permissions(path)
    if warning:
        logger.warning("%s", warning)


#: Labels of the old key file formats, lower-cased, mapped to hedgectl's secret names.
KEY_FILE_LABELS = {
    "api key": "api_key",  # Backpack public key
    "api secret": "api_secret",  # Backpack Ed25519 seed
    "api key index": "api_key_index",  # Lighter
    "private key": "private_key",  # Lighter api private key
    "bot_token": "bot_token",  # Telegram
    "bot token": "bot_token",
    "chat_id": "chat_id",
    "chat id": "chat_id",
}


def read_key_file(path: Path) -> dict[str, str]:
    """Parse a key file of the old formats (``Label: value`` lines); warn when others can read it.

    Raises ValueError naming the file (never its content) when it cannot be read or has no known label.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    warn_if_exposed(path)
    values: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line or line.lstrip().startswith("#"):
            continue
        label, _, value = line.partition(":")
        name = KEY_FILE_LABELS.get(label.strip().lower())
        if name and value.strip():
            values[name] = value.strip()
    if not values:
        raise ValueError(f"key file {path} has none of the expected 'Label: value' lines")
    for name, value in values.items():
        if name in ("api_secret", "private_key", "bot_token"):
            register_secret(value)
    return values


def write_private_file(path: Path, text: str) -> None:
    """(Re)write a file hedgectl keeps for itself with mode 0600 from the first byte, in a 0700 directory."""
    from hedgectl.files import open_private

    fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
