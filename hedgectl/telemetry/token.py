"""Where the collector token comes from without appearing on a command line: the environment or a private file.

A command line is visible to every local user (`ps`, /proc/PID/cmdline), so `--token` is only kept with a warning.
A token file must be readable by its owner alone (mode 0600); a file others can read is refused.
"""

from __future__ import annotations

import stat
from pathlib import Path

from hedgectl.telemetry.settings import check_token

TOKEN_ENV = "HEDGECTL_TELEMETRY_TOKEN"
# Larger than any sensible token; keeps a wrong path (a log, a device) from being read whole.
_MAX_TOKEN_FILE_BYTES = 4096

COMMAND_LINE_WARNING = (
    "--token puts the collector token on the command line, where `ps` shows it to every user of this machine; "
    f"use ${TOKEN_ENV} or --token-file PATH (mode 0600) instead"
)


class TokenFileError(ValueError):
    """A token file that cannot be used: missing, readable by others, empty or not a valid token. Names the file,
    never its content."""


def read_token_file(path: str | Path) -> str:
    """The token in `path` (surrounding whitespace and the final newline ignored); the file must be mode 0600 or
    stricter and hold one printable ASCII token."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {file}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise TokenFileError(f"token file {file} is not a regular file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(
            f"token file {file} can be read by group or others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {file}"
        )
    try:
        with file.open("rb") as handle:
            data = handle.read(_MAX_TOKEN_FILE_BYTES + 1)
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {file}: {exc.strerror or exc}") from None
    if len(data) > _MAX_TOKEN_FILE_BYTES:
        raise TokenFileError(f"token file {file} is larger than {_MAX_TOKEN_FILE_BYTES} bytes; is it the right file?")
    try:
        token = data.decode("ascii").strip()
        check_token(token)
    except (UnicodeDecodeError, ValueError):
        raise TokenFileError(f"token file {file} does not hold one printable ASCII token") from None
    return token
