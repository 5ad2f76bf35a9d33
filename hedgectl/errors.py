"""The hedgectl exception tree and the process exit codes it maps to.

Strategies and commands branch on these classes, never on message strings. Connectors translate each venue's
error codes into this tree; the CLI edge turns an exception into a one-line message and an exit code.
"""

from __future__ import annotations

import enum

from hedgectl.text import visible

#: The longest error message kept from a venue answer.
MESSAGE_LIMIT = 600


class ExitCode(enum.IntEnum):
    """What a hedgectl process tells its caller (shell scripts and cron jobs branch on these)."""

    OK = 0
    #: An operation failed (a venue error, a failed order, a venue that could not be read); nothing is left open.
    FAILURE = 1
    #: Bad command line or configuration; nothing was attempted.
    USAGE = 2
    #: A safety action was taken (an emergency exit) and it ended with every venue flat.
    SAFETY_EXIT = 3
    #: Something is left open or unknown at a venue; the message says what and where. Needs an operator.
    POSITION_OPEN = 4
    #: Interrupted by the operator before anything was traded.
    INTERRUPTED = 130


class HedgectlError(Exception):
    """Base of every error hedgectl raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


# --- usage and configuration ------------------------------------------------------------------------------------


class UsageError(HedgectlError):
    """A command was called with arguments that cannot work (unknown connector, zero size, ...)."""

    exit_code = ExitCode.USAGE


class ConfigError(HedgectlError):
    """The configuration cannot be used; ``problems`` lists every problem found, each with its TOML key path."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class JournalUnavailable(ConfigError):
    """The journal cannot be opened or created where the data directory says (a bad ``general.data_dir``)."""


class LockHeld(HedgectlError):
    """Another hedgectl process holds the lock of a venue account (or of a journal cycle)."""

    exit_code = ExitCode.USAGE


class UnresolvedCycle(HedgectlError):
    """The journal holds a cycle whose positions were never reconciled; run ``hedgectl hedge recover``."""

    exit_code = ExitCode.USAGE


class PreflightFailed(HedgectlError):
    """A hedge was refused before anything was traded (a leg already holds a position, margin is short, ...)."""


class Interrupted(HedgectlError):
    """The operator stopped a command (a signal) before it traded anything."""

    exit_code = ExitCode.INTERRUPTED


class Aborted(HedgectlError):
    """The operator aborted a command that trades outright (a second signal): positions may be open."""

    exit_code = ExitCode.POSITION_OPEN


class CycleAborted(Aborted):
    """The operator aborted a running hedge outright (a second interrupt): positions may be open; recover it."""

    exit_code = ExitCode.POSITION_OPEN


class OrderStateError(HedgectlError):
    """An order was asked to make a transition its state table forbids (e.g. FILLED -> OPEN)."""


# --- venues -----------------------------------------------------------------------------------------------------


class VenueError(HedgectlError):
    """A venue refused a request or could not be reached.

    ``venue`` is the venue kind, ``connector`` the configured name, ``code`` the venue's own error code if any.
    """

    #: For a transport failure: whether the request may have reached the venue (see ``hedgectl.transport``);
    #: None when the error did not come from the transport.
    possibly_sent: bool | None = None

    def __init__(
        self,
        message: str,
        *,
        venue: str | None = None,
        connector: str | None = None,
        code: str | int | None = None,
        status: int | None = None,
    ):
        # the text is often the venue's own: bounded and with control characters made visible, wherever it is shown
        message = visible(message, MESSAGE_LIMIT)
        super().__init__(message)
        self.message = message
        self.venue = venue
        self.connector = connector
        self.code = code
        self.status = status

    def __str__(self) -> str:
        where = self.connector or self.venue
        prefix = f"{where}: " if where else ""
        code = f" [{self.code}]" if self.code not in (None, "") else ""
        return f"{prefix}{self.message}{code}"


class AuthError(VenueError):
    """The venue rejected our credentials or signature (bad key, bad signature, expired request, wrong chain)."""


class RateLimited(VenueError):
    """The venue asked us to slow down (HTTP 429 or its own rate-limit code); ``retry_after`` in seconds if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InsufficientMargin(VenueError):
    """The order needs more margin or funds than the account has available."""


class InvalidOrder(VenueError):
    """The venue refused the order itself (bad size, price, symbol, reduce-only that would not reduce, ...)."""


class BelowMinimumSize(InvalidOrder):
    """The size is below the market's minimum; refused locally before anything is sent."""


class PostOnlyRejected(InvalidOrder):
    """A post-only order would have taken liquidity, so the venue refused it; nothing was filled (re-price it)."""


class NonceMismatch(VenueError):
    """Lighter error 21104: the transaction's nonce is not the one the venue expects for this api key."""


class OrderNotFound(VenueError):
    """The venue knows no order with that id or client order index."""


class VenueUnavailable(VenueError):
    """The venue could not be reached or answered with a server error or maintenance; nothing is known to have run."""


class VenueTimeout(VenueUnavailable):
    """The venue did not answer in time (a read; for an order request see AmbiguousOutcome)."""


class VenueProtocolError(VenueError):
    """The venue answered with something we cannot interpret (unexpected shape or field)."""


class AmbiguousOutcome(VenueError):
    """An order request may or may not have executed (its answer was lost); resolve it by client order index."""

    def __init__(self, message: str, *, client_order_index: int | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.client_order_index = client_order_index
