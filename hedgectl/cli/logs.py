"""Logging for the CLI: Rich on a terminal, plain lines otherwise, always to stderr, secrets always scrubbed."""

from __future__ import annotations

import logging
import sys

from hedgectl.config.secrets import RedactingFilter

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (it may be replaced, e.g. by an embedding program)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(*, debug: bool = False, quiet: bool = False) -> None:
    """Route hedgectl's loggers (INFO; WARNING with --quiet; DEBUG with --debug) and third-party ones (WARNING)
    to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hedgectl", False):
            root.removeHandler(handler)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=debug, rich_tracebacks=False, markup=False
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    handler._hedgectl = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("hedgectl").setLevel(_hedgectl_level(debug=debug, quiet=quiet))
    for noisy in ("httpx", "httpcore", "aiohttp.access", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.WARNING)
    # httpx logs full request URLs at INFO; a Telegram URL carries the bot token, so never below WARNING
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _hedgectl_level(*, debug: bool, quiet: bool) -> int:
    # --debug is asked for to see more, so it wins over --quiet
    if debug:
        return logging.DEBUG
    return logging.WARNING if quiet else logging.INFO
