"""Files on the operator's disk: hedgectl's own (data directory, journal, locks, nonce and client id files) are
private to the user (0700 directories, 0600 files, whatever the umask), and a file written for the operator (a
config, an accounts file) never replaces one that exists unless the operator forces it.

An existing private file or directory that other users can read is left as it is, with a one-line warning (once per
path and process): changing the modes of what the operator made is the operator's call.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import threading
from pathlib import Path

from hedgectl.errors import UsageError

logger = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_if_shared(path: Path) -> bool:
    """Warn (once per path) when ``path`` exists and group or others may read it; True when it is shared."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return False
    key = os.path.abspath(path)
    with _warned_lock:
        if key in _warned:
            return True
        _warned.add(key)
    wanted = "700" if stat.S_ISDIR(mode) else "600"
    logger.warning("%s is readable by other users (mode %o): run chmod %s %s", path, stat.S_IMODE(mode), wanted, path)
    return True


def private_dir(path: Path, *, warn: bool = True) -> Path:
    """Create ``path`` and its missing parents with mode 0700; warn (unless not ``warn``) when it already existed
    and is shared.

    Raises OSError when a component cannot be created or is not a directory.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile
        os.chmod(directory, PRIVATE_DIR_MODE)  # the umask may have taken bits away, never adds any
    if not path.is_dir():
        raise NotADirectoryError(20, "not a directory", str(path))
    if warn and not missing:
        warn_if_shared(path)
    return path


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """Open (creating it 0600 when missing) a file hedgectl keeps for itself; warn when an existing one is shared."""
    private_dir(Path(path).parent)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        warn_if_shared(path)
        return os.open(path, flags | os.O_CREAT, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd


def refuse_existing(path: Path, *, force: bool, what: str = "") -> None:
    """UsageError (exit 2, one line) when ``path`` exists and ``force`` is not given."""
    if Path(path).is_dir():
        raise UsageError(f"{path} is a directory; give a file path")
    if not force and os.path.lexists(path):
        label = f"{what} " if what else ""
        raise UsageError(f"{label}{path} exists; pass --force to replace it")


def write_new_file(path: Path, text: str, *, force: bool = False, private: bool = False, what: str = "") -> None:
    """Write ``text`` to a new file at ``path``: refuse (UsageError) when one exists unless ``force``.

    Without ``force`` the file is created exclusively, so a file that appears meanwhile is not replaced either; with
    it the new content replaces the old atomically (temp file and rename). ``private`` files are 0600.
    """
    path = Path(path)
    refuse_existing(path, force=force, what=what)
    mode = PRIVATE_FILE_MODE if private else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    if not force:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            refuse_existing(path, force=False, what=what)
            raise
        try:
            if private:
                os.fchmod(fd, mode)
            os.write(fd, data)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise

