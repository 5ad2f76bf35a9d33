"""Running a long command under the operator's stop signals, and running a strategy to completion.

SIGHUP, SIGTERM, SIGINT and SIGQUIT all take one path (``StopSignals``), held for the whole life of the command,
teardown included, so no signal ever meets Python's default handler halfway through: the first one asks the work to
stop safely (the hedge flattens), the second aborts it at once, any further one is logged and changes nothing. A
hangup (the terminal is gone) first takes the terminal's file descriptors off the dead tty; with
``on_hangup="continue"`` it is then ignored and the work carries on detached.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncio

    from hedgectl.connectors.factory import ConnectorSet

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Every signal an operator, a terminal or a supervisor uses to stop a process; all reach the same path.
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
#: What a hangup does: end the work safely like SIGTERM (the default), or carry on detached.
HANGUP_CHOICES = ("stop", "continue")

_hold_until_exit = False


def hold_signals_until_exit() -> None:
    """This process ends when its command returns: leave the handlers in place after a command instead of restoring
    the defaults, so that a signal arriving between the end of the work and the process exit changes nothing."""
    global _hold_until_exit
    _hold_until_exit = True


def ignore_stop_signals() -> None:
    """The command has returned and its exit code is decided: ignore stop signals from now until the exit (the
    interpreter's shutdown would otherwise put the default handlers back, and a late signal would kill it)."""
    for signum in STOP_SIGNALS:
        try:
            signal.signal(signum, signal.SIG_IGN)
        except (ValueError, OSError):
            pass


class StopSignals:
    """The one path every stop signal takes while a command runs (a context manager; main thread only).

    ``attach(task, stop)`` names the work: the first signal sets ``stop`` (or, without one, cancels ``task``: the
    work has nothing to unwind; or, for ``closing`` work such as a flatten, lets it finish: closing positions is
    the safe way to stop), the second cancels ``task``. A signal that comes before the work is attached counts
    when it is; signals after the work ended are logged and ignored: the exit code says how it ended. A signal the
    process was started with ignored (``nohup``, a shell's background job) stays ignored.
    """

    def __init__(self, *, what: str = "the command", on_hangup: str = "stop"):
        if on_hangup not in HANGUP_CHOICES:
            raise ValueError(f"on_hangup must be one of {', '.join(HANGUP_CHOICES)}, got {on_hangup!r}")
        self.what = what
        self.on_hangup = on_hangup
        self.received: list[signal.Signals] = []
        self.hung_up = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._ended = False
        self._previous: dict[signal.Signals, Any] = {}
        self._tty_fds: list[int] = []

    # --- life cycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> StopSignals:
        # a tty that has hung up no longer says it is one: remember which descriptors were
        self._tty_fds = [fd for fd in (0, 1, 2) if _isatty(fd)]
        for signum in STOP_SIGNALS:
            try:
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue  # whoever started us asked for it to be ignored (nohup: carry on after a hangup)
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # not the main thread: the caller's own handling stays
                pass
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.detach()
        self._loop = None
        if _hold_until_exit:
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def attach(self, task: asyncio.Task, stop: asyncio.Event | None = None, *, closing: bool = False) -> None:
        """The work the signals now act on (call it in the work's event loop)."""
        import asyncio  # here, not at the top: the command line imports this module before knowing it needs a loop

        self._loop = asyncio.get_running_loop()
        self._task = task
        self._stop = stop
        self._closing = closing
        self._ended = False
        if self.stop_requested:
            # a signal came while nothing was attached: it still counts
            self._dispatch(self.received[-1], len(self.received))

    def detach(self) -> None:
        """The work ended (its result stands): later signals are logged and ignored."""
        self._ended = True
        self._task = None
        self._stop = None

    @property
    def stop_requested(self) -> bool:
        return bool(self.received)

    # --- the handler -----------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        sig = signal.Signals(signum)
        if sig is signal.SIGHUP:
            if not self.hung_up:
                self.hung_up = True
                _leave_terminal(self._tty_fds)
            if self.on_hangup == "continue":
                self._later(logger.warning, "SIGHUP: the terminal is gone; %s carries on detached", self.what)
                return
        self.received.append(sig)
        count = len(self.received)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._dispatch, sig, count)
                return
            except RuntimeError:  # the loop closed in between
                pass
        if self._ended:
            logger.warning("%s received: %s is already ending; its exit code says how", sig.name, self.what)
        else:  # attach() acts on it
            logger.warning("%s received: stopping %s before it starts", sig.name, self.what)

    def _later(self, log, message: str, *args: Any) -> None:
        """Log from the event loop when one runs (a handler can interrupt a log record being written)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(log, message, *args)
                return
            except RuntimeError:
                pass
        log(message, *args)

    def _dispatch(self, sig: signal.Signals, count: int) -> None:
        task = self._task
        if task is None or task.done():
            logger.warning("%s received: %s is already ending; its exit code says how", sig.name, self.what)
            return
        if count == 1 and self._closing:
            logger.warning("%s received: finishing %s, which ends in a known state (send it again to abort at once)",
                           sig.name, self.what)
        elif count == 1 and self._stop is not None:
            logger.warning("%s received: stopping %s safely (send it again to abort at once)", sig.name, self.what)
            self._stop.set()
        elif count == 1:
            logger.warning("%s received: stopping %s", sig.name, self.what)
            task.cancel()
        elif count == 2:
            logger.error("%s received again: aborting %s now", sig.name, self.what)
            task.cancel()
        else:
            logger.warning("%s received: %s is already being aborted", sig.name, self.what)


async def under_stop_signals(
    work: Awaitable[T], *, what: str, stopped: Callable[[int], BaseException], closing: bool = True
) -> T:
    """Await ``work``, a command that trades and ends by itself in a known state (one order and its answer, a probe
    that puts back what it opened), with every stop signal on the one path.

    With ``closing`` (the default) the first signal lets the work finish: cancelling it could leave a request on
    the wire that lands after a clean-up has read the venue. Without it the first signal cancels the work, for work
    that cleans up after itself and could otherwise run for long (the smoke test's chase). A cancellation by a
    signal raises ``stopped(number of signals)`` in its place, which says how the command ended.
    """
    import asyncio

    with StopSignals(what=what) as signals:
        signals.attach(asyncio.current_task(), closing=closing)
        try:
            return await work
        except asyncio.CancelledError:
            if not signals.stop_requested:
                raise
            raise stopped(len(signals.received)) from None
        finally:
            signals.detach()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _leave_terminal(fds: list[int]) -> None:
    """Point the descriptors that were on the lost tty at /dev/null: a write to a hung-up tty fails (EIO), and
    nobody reads it any more. A log or output redirected to a file or pipe is left as it is."""
    if not fds:
        return
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        for fd in fds:
            try:
                os.dup2(devnull, fd)
            except OSError:
                pass
    finally:
        os.close(devnull)


class Strategy(Protocol):
    name: str

    async def run(self, stop: asyncio.Event) -> Any:
        """Do the work; return when done or soon after ``stop`` is set."""


async def run_strategy(
    strategy: Strategy,
    connectors: ConnectorSet | None = None,
    *,
    cancel_orders_on_exit: bool = False,
    stop: asyncio.Event | None = None,
    signals: StopSignals | None = None,
) -> Any:
    """Run ``strategy`` to completion with the stop signals acting on it; close ``connectors`` afterwards.

    With ``signals`` (the command's own, held until it ends) the strategy is attached to it and detached when it
    ends; without, the signals are handled for the strategy's run alone. A strategy's error is never swallowed: it
    is raised after the clean-up.
    """
    import asyncio

    stop = stop or asyncio.Event()
    task = asyncio.create_task(strategy.run(stop), name=f"strategy:{strategy.name}")
    own = signals is None
    handler = StopSignals(what=strategy.name) if own else signals
    if own:
        handler.__enter__()
    handler.attach(task, stop)
    try:
        return await task
    finally:
        handler.detach()
        if own:
            handler.__exit__(None, None, None)
        if connectors is not None:
            if cancel_orders_on_exit:
                await _cancel_everything(connectors)
            await connectors.close()


async def _cancel_everything(connectors: ConnectorSet) -> None:
    for name, connector in connectors.built().items():
        try:
            await connector.cancel_all()
        except Exception as exc:  # clean-up must reach every connector; the error is reported, not raised
            logger.error("%s: cancelling open orders on exit failed: %s", name, exc)
