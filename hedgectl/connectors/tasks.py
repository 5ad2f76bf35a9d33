"""The end of a connector's background order task, taken also when nobody waits for it any more.

An order task outlives its caller by design (it owns the nonce and the answer); when the caller stopped waiting, an
error it ends with would otherwise reach asyncio as "Task exception was never retrieved", a traceback with no
reader. A venue's answer is not news: the order's tracker and the venue's records hold the outcome for whoever
asks next. Anything else is a bug and is logged as one.
"""

from __future__ import annotations

import asyncio
import logging

from hedgectl.errors import VenueError


def collect_task(task: asyncio.Task, logger: logging.Logger, connector: str) -> None:
    """A done callback: retrieve ``task``'s exception so it is never reported as lost, and log what it means."""
    if task.cancelled():
        return
    error = task.exception()
    if error is None:
        return
    if isinstance(error, VenueError):
        logger.debug("%s: %s ended with %s", connector, task.get_name(), error)
    else:
        logger.error("%s: %s failed", connector, task.get_name(), exc_info=error)
