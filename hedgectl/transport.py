"""The one map from transport failures and HTTP statuses to the hedgectl error tree.

Every connector, the notifier and telemetry translate httpx (and, for the Lighter SDK, aiohttp) failures through
these tables, so that the rule "was the request possibly sent?" is written once: a failure that certainly happened
before any byte of the request left the process is safe to retry or resend; one that may have happened after the
venue received the request leaves an order's outcome ambiguous (AmbiguousOutcome) until the venue is asked.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from hedgectl.errors import (
    AmbiguousOutcome,
    AuthError,
    RateLimited,
    VenueError,
    VenueProtocolError,
    VenueTimeout,
    VenueUnavailable,
)


@dataclass(frozen=True)
class Row:
    """How one kind of failure is reported: the error class a read raises, whether the venue may have received (and
    acted on) the request, and a few words for the message."""

    error: type[VenueError]
    possibly_sent: bool
    describe: str


NOT_SENT = False
POSSIBLY_SENT = True

#: httpx's transport exceptions. The most specific class of an exception wins (the base classes are fallbacks).
HTTPX_MAP: Mapping[type[BaseException], Row] = {
    # Waiting for a free connection of the pool timed out: the request never had a socket to go out on.
    httpx.PoolTimeout: Row(VenueTimeout, NOT_SENT, "no free connection in time"),
    # The TCP or TLS connection was not established in time, so not a byte of the request was written. A timeout
    # (VenueTimeout), which is a kind of VenueUnavailable, so code that waits out an unreachable venue covers it.
    httpx.ConnectTimeout: Row(VenueTimeout, NOT_SENT, "cannot connect in time"),
    # Refused, unreachable, name resolution or TLS handshake failure: no connection, nothing written.
    httpx.ConnectError: Row(VenueUnavailable, NOT_SENT, "cannot connect"),
    # The proxy refused to open the tunnel; the venue was never reached.
    httpx.ProxyError: Row(VenueUnavailable, NOT_SENT, "the proxy refused the connection"),
    # The URL's scheme is not http(s): refused before any connection is made.
    httpx.UnsupportedProtocol: Row(VenueUnavailable, NOT_SENT, "unsupported URL scheme"),
    # Writing the request stalled or broke part-way: its first bytes may already be at the venue, and from here we
    # cannot prove the rest was not, so an order sent this way may have executed.
    httpx.WriteTimeout: Row(VenueTimeout, POSSIBLY_SENT, "the request could not be written in time"),
    httpx.WriteError: Row(VenueUnavailable, POSSIBLY_SENT, "connection lost while sending"),
    # The request was written and the answer did not come in time: the venue may be executing it right now.
    httpx.ReadTimeout: Row(VenueTimeout, POSSIBLY_SENT, "no answer in time"),
    # The connection broke after the request was written (reset, closed without an answer): the answer is lost.
    httpx.ReadError: Row(VenueUnavailable, POSSIBLY_SENT, "connection lost before the answer"),
    httpx.RemoteProtocolError: Row(VenueUnavailable, POSSIBLY_SENT, "the venue broke the connection"),
    # Closing the connection failed, which happens once the exchange is under way or over.
    httpx.CloseError: Row(VenueUnavailable, POSSIBLY_SENT, "connection failed while closing"),
    # Our own HTTP layer refused what we asked it to send. Usually before the first byte, but h11 also raises it
    # mid-body; only a certainty makes a resend safe. Repeating it cannot help, so it is no retryable class.
    httpx.LocalProtocolError: Row(VenueProtocolError, POSSIBLY_SENT, "the request broke HTTP"),
    # The venue answered, with a body that cannot be decoded (or redirects we do not follow): it received the
    # request, and what it did with it is unreadable.
    httpx.DecodingError: Row(VenueProtocolError, POSSIBLY_SENT, "the answer cannot be decoded"),
    httpx.TooManyRedirects: Row(VenueProtocolError, POSSIBLY_SENT, "redirected too often"),
    # Fallbacks for classes httpx may add: a timeout or a network failure at an unknown point of the exchange.
    httpx.TimeoutException: Row(VenueTimeout, POSSIBLY_SENT, "timed out"),
    httpx.NetworkError: Row(VenueUnavailable, POSSIBLY_SENT, "network failure"),
    httpx.ProtocolError: Row(VenueUnavailable, POSSIBLY_SENT, "HTTP protocol failure"),
    httpx.TransportError: Row(VenueUnavailable, POSSIBLY_SENT, "transport failure"),
}


@functools.cache
def aiohttp_map() -> Mapping[type[BaseException], Row]:
    """aiohttp's client errors (raised through lighter-sdk), built when first needed: importing aiohttp is costly,
    and only code that already imported it can raise its errors."""
    import aiohttp

    return {
        # No connection could be made (refused, DNS, TLS, proxy): nothing left the process.
        aiohttp.ClientConnectorError: Row(VenueUnavailable, NOT_SENT, "cannot connect"),
        # The connect phase timed out (aiohttp's sock_connect / connect timeout): nothing was written.
        aiohttp.ConnectionTimeoutError: Row(VenueTimeout, NOT_SENT, "cannot connect in time"),
        # A read of the answer timed out, after the request was written.
        aiohttp.SocketTimeoutError: Row(VenueTimeout, POSSIBLY_SENT, "no answer in time"),
        aiohttp.ServerTimeoutError: Row(VenueTimeout, POSSIBLY_SENT, "no answer in time"),
        # The venue closed the connection without an answer, or it broke while reading or writing.
        aiohttp.ServerDisconnectedError: Row(VenueUnavailable, POSSIBLY_SENT, "the venue broke the connection"),
        aiohttp.ClientOSError: Row(VenueUnavailable, POSSIBLY_SENT, "connection lost before the answer"),
        aiohttp.ClientConnectionError: Row(VenueUnavailable, POSSIBLY_SENT, "connection lost before the answer"),
        # An answer came but its body is broken or not what was expected: the venue had the request.
        aiohttp.ClientPayloadError: Row(VenueProtocolError, POSSIBLY_SENT, "the answer cannot be decoded"),
        aiohttp.ClientResponseError: Row(VenueProtocolError, POSSIBLY_SENT, "unexpected answer"),
        # A malformed URL is refused before any connection is made.
        aiohttp.InvalidURL: Row(VenueUnavailable, NOT_SENT, "invalid URL"),
        aiohttp.ClientError: Row(VenueUnavailable, POSSIBLY_SENT, "transport failure"),
        # aiohttp's total timeout (asyncio.TimeoutError) covers connecting and reading alike: it may have fired after
        # the request was written.
        TimeoutError: Row(VenueTimeout, POSSIBLY_SENT, "no answer in time"),
    }


#: HTTP statuses whose meaning is the same on every venue; the venue's own error codes refine the rest.
STATUS_MAP: Mapping[int, Row] = {
    # Refusals answered before the venue acts on the request.
    401: Row(AuthError, NOT_SENT, "unauthorized"),
    403: Row(AuthError, NOT_SENT, "forbidden"),
    # The server gave up waiting for the rest of the request: an incomplete request is never executed.
    408: Row(VenueTimeout, NOT_SENT, "the venue timed out reading the request"),
    # A rate limiter refuses a request before it reaches the venue's engine (RFC 6585, Backpack, GRVT error 1006).
    429: Row(RateLimited, NOT_SENT, "rate limited"),
    # The server failed while handling the request, possibly after acting on it.
    500: Row(VenueUnavailable, POSSIBLY_SENT, "server error"),
    # A gateway in front of the venue lost the answer of the server behind it, which may have executed the request.
    502: Row(VenueUnavailable, POSSIBLY_SENT, "bad gateway"),
    # Maintenance answers 503 before anything runs, but a load balancer also answers 503 when the server behind it
    # dropped mid-request; the two look the same from here.
    503: Row(VenueUnavailable, POSSIBLY_SENT, "service unavailable"),
    # The gateway stopped waiting; the server behind it may still execute the request (a classic lost answer).
    504: Row(VenueTimeout, POSSIBLY_SENT, "gateway timeout"),
}
#: Any other 5xx: a server-side failure at an unknown point of handling the request.
SERVER_ERROR = Row(VenueUnavailable, POSSIBLY_SENT, "server error")


def transport_row(exc: BaseException) -> Row | None:
    """The row for a transport exception (its most specific class in the tables), or None if it is none."""
    tables = [HTTPX_MAP]
    if "aiohttp" in sys.modules:
        tables.append(aiohttp_map())
    for cls in type(exc).__mro__:
        for table in tables:
            row = table.get(cls)
            if row is not None:
                return row
    return None


def status_row(status: int) -> Row | None:
    """The row for an HTTP status every venue means alike, or None (a 2xx, or a 4xx only the venue can explain)."""
    row = STATUS_MAP.get(status)
    if row is None and status >= 500:
        return SERVER_ERROR
    return row


def possibly_sent(status: int) -> bool:
    """Whether a request answered with ``status`` may have been acted on (an order so answered is ambiguous)."""
    row = status_row(status)
    return row.possibly_sent if row is not None else False


def transport_error(
    exc: BaseException,
    what: str,
    *,
    venue: str | None = None,
    connector: str | None = None,
    order: bool = False,
    client_order_index: int | None = None,
    message: str | None = None,
) -> VenueError:
    """The VenueError for transport exception ``exc`` raised while doing ``what``.

    With ``order`` (a request that must not run twice), a failure that may have reached the venue becomes
    AmbiguousOutcome. ``message`` replaces the default text. Raises TypeError for an exception not in the tables.
    """
    row = transport_row(exc)
    if row is None:
        raise TypeError(f"{type(exc).__name__} is not a transport failure")
    where = dict(venue=venue, connector=connector)
    text = message or f"{what}: {row.describe} ({type(exc).__name__})"
    if order and row.possibly_sent:
        error: VenueError = AmbiguousOutcome(
            message or f"{text}; outcome unknown", client_order_index=client_order_index, **where
        )
    else:
        error = row.error(text, **where)
    error.possibly_sent = row.possibly_sent
    return error


@contextlib.contextmanager
def map_transport_errors(
    what: str,
    *,
    venue: str | None = None,
    connector: str | None = None,
    order: bool = False,
    client_order_index: int | None = None,
) -> Iterator[None]:
    """Re-raise a transport failure inside the block as its VenueError (see ``transport_error``)."""
    try:
        yield
    except Exception as exc:
        if transport_row(exc) is None:
            raise
        raise transport_error(exc, what, venue=venue, connector=connector, order=order,
                              client_order_index=client_order_index) from None


def retry_after_secs(value: str | None, *, now: float | None = None) -> float | None:
    """A Retry-After header (delay seconds or an HTTP date) as seconds from now, or None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)
