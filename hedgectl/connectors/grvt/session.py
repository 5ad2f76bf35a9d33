"""The GRVT connector's sessions and transport: the API-key login and its session cookie (sent in a header, never
kept in a cookie jar), the sub account the key logs in to, and one JSON POST mapped to the error tree, logging in
again once when the venue refuses the session."""

from __future__ import annotations

import email.utils
import http.cookies
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hedgectl.config.secrets import Secret, register_secret
from hedgectl.connectors.grvt import wire
from hedgectl.errors import (
    AmbiguousOutcome,
    AuthError,
    ConfigError,
    RateLimited,
    VenueProtocolError,
    VenueUnavailable,
)
from hedgectl.transport import map_transport_errors, possibly_sent, retry_after_secs

logger = logging.getLogger(__name__)

SESSION_REFRESH_MARGIN_SECS = 5.0
DEFAULT_SESSION_SECS = 3600.0


@dataclass
class _Session:
    """The session cookie a login gave, the account it belongs to and when it expires."""

    token: Secret
    account_id: str | None
    expires_at: float


class GrvtSessions:
    """Mixed into the connector: its login, session and POST (``hosts``, ``clock``, ``_login_lock``, ``_http`` and
    ``_sub_account_id`` are the connector's)."""

    def forget_session(self) -> None:
        """The venue refused the session cookie (on the stream): the next request logs in again."""
        self._session = None

    # --- transport ---------------------------------------------------------------------------------------------

    async def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            await self.start()
        return self._http

    async def _ensure_session(self) -> _Session:
        session = self._session
        if session is not None and session.expires_at - self.clock.now() > SESSION_REFRESH_MARGIN_SECS:
            return session
        async with self._login_lock:
            session = self._session
            if session is None or session.expires_at - self.clock.now() <= SESSION_REFRESH_MARGIN_SECS:
                session = self._session = await self._login()
            return session

    async def _login(self) -> _Session:
        client = await self._client()
        url = self.hosts.edge + "/auth/api_key/login"
        with map_transport_errors("login", venue=self.venue, connector=self.name):
            response = await client.post(url, content=json.dumps({"api_key": self._api_key.reveal()}),
                                         headers={"Cookie": "rm=true"})
        # The session lives in the header this connector sends, never in the client's cookie jar.
        client.cookies.clear()
        if not response.is_success:
            error = wire.error_from_response(response.status_code, response.text, connector=self.name)
            if isinstance(error, (VenueUnavailable, RateLimited)):
                raise error
            raise AuthError(f"login refused: {error.message}", venue=self.venue, connector=self.name,
                            code=error.code, status=response.status_code)
        token, expires_at = _session_cookie(response, self.clock.now())
        if token is None:
            raise AuthError("login answered without a session cookie", venue=self.venue, connector=self.name)
        register_secret(token)
        self._adopt_sub_account(response)
        logger.debug("%s: logged in to GRVT (sub account %s)", self.name, self._sub_account_id)
        return _Session(Secret(token, source="grvt login"), response.headers.get("X-Grvt-Account-Id"), expires_at)

    def _adopt_sub_account(self, response: httpx.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {}
        reported = body.get("sub_account_id") if isinstance(body, dict) else None
        if reported in (None, ""):
            return
        try:
            reported_id = int(str(reported))
        except ValueError:
            return
        if self._sub_account_id is None:
            self._sub_account_id = reported_id
        elif self._sub_account_id != reported_id:
            raise AuthError(f"the API key logs in to sub account {reported_id}, but sub_account_id is "
                            f"{self._sub_account_id}", venue=self.venue, connector=self.name)

    async def _sub_account(self) -> int:
        if self._sub_account_id is None:
            await self._ensure_session()
        if self._sub_account_id is None:
            raise ConfigError(f"connectors.{self.name}: the venue did not report a sub account; set sub_account_id")
        return self._sub_account_id

    async def _post(self, url: str, body: dict[str, Any], *, auth: bool, what: str,
                    order_index: int | None = None) -> Any:
        """POST ``body`` as JSON and return the parsed answer, or raise the mapped VenueError.

        With ``order_index`` (an order creation), a failure after the request may have reached the venue raises
        AmbiguousOutcome instead of an error that says nothing happened.
        """
        client = await self._client()
        content = json.dumps(body, separators=(",", ":"))
        for attempt in (1, 2):
            headers = await self._auth_headers() if auth else {}
            started = time.monotonic()
            with map_transport_errors(what, venue=self.venue, connector=self.name, order=order_index is not None,
                                      client_order_index=order_index):
                response = await client.post(url, content=content, headers=headers)
            self.last_latency_ms = (time.monotonic() - started) * 1000
            if order_index is not None and possibly_sent(response.status_code):
                raise AmbiguousOutcome(f"{what}: HTTP {response.status_code} after sending", venue=self.venue,
                                       connector=self.name, client_order_index=order_index, status=response.status_code)
            if not response.is_success:
                error = wire.error_from_response(response.status_code, response.text, connector=self.name)
                if isinstance(error, RateLimited):
                    error.retry_after = retry_after_secs(response.headers.get("retry-after"))
                if auth and attempt == 1 and error.code == 1000:
                    logger.info("%s: session refused, logging in again", self.name)
                    self._session = None
                    continue
                raise error
            try:
                document = response.json()
            except ValueError:
                if order_index is not None:
                    raise AmbiguousOutcome(f"{what}: unreadable answer", venue=self.venue, connector=self.name,
                                           client_order_index=order_index) from None
                raise VenueProtocolError(f"{what}: answer is not JSON", venue=self.venue,
                                         connector=self.name) from None
            embedded = wire.embedded_error(document, response.status_code, connector=self.name)
            if embedded is not None:
                raise embedded
            return document
        raise AssertionError("unreachable")  # the second attempt returns or raises

    async def _auth_headers(self) -> dict[str, str]:
        session = await self._ensure_session()
        headers = {"Cookie": f"gravity={session.token.reveal()}"}
        if session.account_id:
            headers["X-Grvt-Account-Id"] = session.account_id
        return headers


def _session_cookie(response: httpx.Response, now: float) -> tuple[str | None, float]:
    """The ``gravity`` cookie's value and expiry (Unix seconds) from a login answer's Set-Cookie headers."""
    for header in response.headers.get_list("set-cookie"):
        jar = http.cookies.SimpleCookie()
        try:
            jar.load(header)
        except http.cookies.CookieError:
            continue
        morsel = jar.get("gravity")
        if morsel is None or not morsel.value:
            continue
        expires_at = now + DEFAULT_SESSION_SECS
        if morsel["expires"]:
            try:
                expires_at = email.utils.parsedate_to_datetime(morsel["expires"]).timestamp()
            except (TypeError, ValueError):
                pass
        return morsel.value, expires_at
    return None, 0.0
