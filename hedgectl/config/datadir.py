"""Where hedgectl keeps its own state (journal, locks, nonce and client order id files), and making that place.

Live runs use ``[general] data_dir`` or the user data directory; paper runs (``--paper``) use ``paper/`` inside it,
so a paper cycle never lands in the live journal. The directory is created private (0700); one that cannot be used
is a configuration error (exit 2), said in one line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hedgectl.config.model import Config
from hedgectl.errors import ConfigError
from hedgectl.files import private_dir, warn_if_shared

PAPER_SUBDIR = "paper"


def data_dir_path(config: Config | None, *, paper: bool) -> Path:
    """The data directory of ``config`` (None: no config file), paper runs in their own; nothing is created."""
    from hedgectl.config.loader import user_data_dir

    base = (config.general.data_dir if config is not None else None) or user_data_dir()
    return base / PAPER_SUBDIR if paper else base


def ensure_data_dir(path: Path) -> Path:
    """Create ``path`` private (0700) if missing and prove a file can be made in it; ConfigError otherwise."""
    try:
        private_dir(path, warn=False)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except NotADirectoryError:
        raise ConfigError(f"general.data_dir: {path} (or a parent) is not a directory") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"general.data_dir: cannot use {path} as the data directory: {reason}") from None
    warn_if_shared(path)
    return path
