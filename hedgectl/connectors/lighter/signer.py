"""Signing and sending Lighter transactions through lighter-sdk's ``SignerClient``; importing this loads the SDK.

The connector chooses every nonce itself and passes it, with the api key index, explicitly to the SDK, so the SDK's
own nonce manager never runs. ``send`` turns whatever the SDK answers or raises into a ``SendResult`` that says
whether the venue accepted the transaction, refused it (nothing ran), or whether the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from dataclasses import dataclass

import aiohttp
from lighter.exceptions import ApiException
from lighter.nonce_manager import NonceManagerType
from lighter.signer_client import SignerClient

from hedgectl.config.secrets import Secret, redact
from hedgectl.connectors.lighter.wire import CODE_OK, VENUE, error_for_code
from hedgectl.errors import AuthError, InvalidOrder, VenueTimeout, VenueUnavailable
from hedgectl.transport import possibly_sent, status_row, transport_error, transport_row

logger = logging.getLogger(__name__)

AUTH_TOKEN_LIFETIME_SECS = 600
#: A cached auth token is replaced this long before it expires.
AUTH_TOKEN_MARGIN_SECS = 60


@dataclass(frozen=True)
class SignedTx:
    tx_type: int
    info: str
    tx_hash: str
    nonce: int
    api_key_index: int


class SendOutcome(str, enum.Enum):
    ACCEPTED = "accepted"  # the venue took it (code 200); not yet executed
    REFUSED = "refused"  # the venue answered with an error code: it did not run, the nonce is not consumed
    AMBIGUOUS = "ambiguous"  # timeout, dropped connection, 5xx or 429 after sending: it may or may not have run
    NOT_SENT = "not_sent"  # no connection could be made: nothing reached the venue


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    code: int | None = None
    message: str = ""
    http_status: int | None = None
    predicted_execution_ms: int | None = None
    tx_hash: str | None = None  # as the venue names the transaction (use it for GET tx lookups)


class LighterSigner:
    """One account's SignerClient for one api key. Construct inside the running event loop; ``await close()``."""

    def __init__(
        self,
        base_url: str,
        account_index: int,
        api_key_index: int,
        private_key: Secret,
        *,
        chain_id: int | None = None,
        connector: str | None = None,
    ):
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.connector = connector
        if not _looks_like_key(private_key.reveal()):
            # checked before the SDK builds its HTTP session, which it would leave open when the key is refused
            raise AuthError("the api private key must be 40 bytes of hex (80 hex digits, 0x optional)", venue=VENUE,
                            connector=connector)
        try:
            self._client = SignerClient(
                base_url.rstrip("/"),
                account_index,
                {api_key_index: private_key.reveal()},
                nonce_management_type=NonceManagerType.NONE,
                chain_id=chain_id,
            )
        except Exception as exc:  # the SDK raises bare Exception with the Go signer's message
            raise AuthError(
                f"the Lighter signer refused the api private key: {redact(str(exc))}", venue=VENUE, connector=connector
            ) from None
        self.chain_id = self._client.chain_id
        self._token: str | None = None
        self._token_expires = 0.0

    async def close(self) -> None:
        await self._client.close()

    # --- signing (synchronous, ~2-3 ms each) ---------------------------------------------------------------------

    def _signed(self, nonce: int, result: tuple) -> SignedTx:
        tx_type, tx_info, tx_hash, error = result
        if error is not None:
            raise InvalidOrder(f"the signer refused the transaction: {error}", venue=VENUE, connector=self.connector)
        return SignedTx(tx_type, tx_info, tx_hash, nonce, self.api_key_index)

    def sign_create_order(
        self,
        *,
        market_index: int,
        client_order_index: int,
        base_amount: int,
        price: int,
        is_ask: bool,
        order_type: int,
        time_in_force: int,
        reduce_only: bool,
        order_expiry: int,
        nonce: int,
    ) -> SignedTx:
        return self._signed(
            nonce,
            self._client.sign_create_order(
                market_index,
                client_order_index,
                base_amount,
                price,
                int(is_ask),
                order_type,
                time_in_force,
                int(reduce_only),
                SignerClient.NIL_TRIGGER_PRICE,
                order_expiry,
                nonce=nonce,
                api_key_index=self.api_key_index,
            ),
        )

    def sign_cancel_order(self, *, market_index: int, order_index: int, nonce: int) -> SignedTx:
        return self._signed(
            nonce,
            self._client.sign_cancel_order(market_index, order_index, nonce=nonce, api_key_index=self.api_key_index),
        )

    def sign_cancel_all(self, *, market_index: int, nonce: int) -> SignedTx:
        return self._signed(
            nonce,
            self._client.sign_cancel_all_orders(
                SignerClient.CANCEL_ALL_TIF_IMMEDIATE,
                0,
                market_index,
                nonce=nonce,
                api_key_index=self.api_key_index,
            ),
        )

    def sign_update_leverage(self, *, market_index: int, initial_margin_fraction: int, margin_mode: int,
                             nonce: int) -> SignedTx:
        return self._signed(
            nonce,
            self._client.sign_update_leverage(
                market_index, initial_margin_fraction, margin_mode, nonce=nonce, api_key_index=self.api_key_index
            ),
        )

    # --- sending -------------------------------------------------------------------------------------------------

    async def send(self, tx: SignedTx, *, timeout: float) -> SendResult:
        """POST the signed transaction to sendTx and classify the answer; never raises for venue answers."""
        try:
            response = await self._client.tx_api.send_tx(
                tx_type=tx.tx_type, tx_info=tx.info, _request_timeout=timeout
            )
        except ApiException as exc:
            return _classify_api_exception(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            row = transport_row(exc)
            outcome = SendOutcome.AMBIGUOUS if row.possibly_sent else SendOutcome.NOT_SENT
            return SendResult(outcome, message=f"{row.describe} ({type(exc).__name__}: {exc})")
        except ValueError as exc:  # an answer the SDK's models cannot read
            return SendResult(SendOutcome.AMBIGUOUS, message=f"unreadable answer: {exc}")
        code = getattr(response, "code", None)
        message = getattr(response, "message", None) or ""
        if code != CODE_OK:
            # HTTP 200 with an error code: the SDK reports no error, the venue refused it
            return SendResult(SendOutcome.REFUSED, code=code, message=message, http_status=200)
        return SendResult(
            SendOutcome.ACCEPTED,
            code=code,
            message=message,
            http_status=200,
            predicted_execution_ms=getattr(response, "predicted_execution_time_ms", None),
            tx_hash=getattr(response, "tx_hash", None) or tx.tx_hash,
        )

    async def fetch_next_nonce(self, *, timeout: float) -> int:
        """The venue's next nonce for our key, read through the SDK's HTTP session (which also opens its connection)."""
        try:
            answer = await self._client.tx_api.next_nonce(
                account_index=self.account_index, api_key_index=self.api_key_index, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                code, message = _code_and_message(exc)
                raise error_for_code(code, message, connector=self.connector, status=exc.status,
                                     context="nextNonce") from None
            row = status_row(exc.status or 0)
            error_class = row.error if row is not None else VenueUnavailable
            raise error_class(f"nextNonce: HTTP {exc.status}", venue=VENUE, connector=self.connector,
                              status=exc.status) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc, "nextNonce", venue=VENUE, connector=self.connector) from None
        except ValueError as exc:  # an answer the SDK's models cannot read
            raise VenueUnavailable(f"nextNonce: {type(exc).__name__}", venue=VENUE, connector=self.connector) from None
        return int(answer.nonce)

    # --- auth tokens and key check -------------------------------------------------------------------------------

    def auth_token(self) -> str:
        """A read auth token for this account, created by the signer and cached until shortly before it expires."""
        now = time.time()
        if self._token is None or now >= self._token_expires - AUTH_TOKEN_MARGIN_SECS:
            token, error = self._client.create_auth_token_with_expiry(
                AUTH_TOKEN_LIFETIME_SECS, timestamp=int(now), api_key_index=self.api_key_index
            )
            if error is not None or not token:
                raise AuthError(f"cannot create an auth token: {error}", venue=VENUE, connector=self.connector)
            self._token = token
            self._token_expires = int(now) + AUTH_TOKEN_LIFETIME_SECS
        return self._token

    def forget_auth_token(self) -> None:
        self._token = None

    async def check_key(self, *, timeout: float) -> None:
        """Ask the venue (through the Go signer) whether our api key is the one registered; AuthError if not."""
        try:
            # the Go signer's HTTP call blocks its thread; a venue that does not answer must not block us
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel on Python 3.11
                error = await asyncio.to_thread(self._client.check_client)
        except TimeoutError:
            raise VenueTimeout(f"api key check: no answer within {timeout:g}s", venue=VENUE,
                               connector=self.connector) from None
        if error is not None:
            raise AuthError(f"api key check failed: {redact(str(error))}", venue=VENUE, connector=self.connector)


def _looks_like_key(value: str) -> bool:
    digits = value[2:] if value[:2].lower() == "0x" else value
    return len(digits) == 80 and all(ch in "0123456789abcdefABCDEF" for ch in digits)


def _classify_api_exception(exc: ApiException) -> SendResult:
    status = exc.status
    code, message = _code_and_message(exc)
    # No status: the SDK failed after the request left. A 429 is the table's "not sent", but on sendTx it is treated
    # as a lost answer: the SDK raises it after the request went out, and the venue's nonce settles at once whether
    # the transaction ran, so the conservative reading costs one read.
    if not status or status == 429 or possibly_sent(status):
        return SendResult(SendOutcome.AMBIGUOUS, code=code, message=message or f"HTTP {status}", http_status=status)
    return SendResult(SendOutcome.REFUSED, code=code, message=message or f"HTTP {status}", http_status=status)


def _code_and_message(exc: ApiException) -> tuple[int | None, str]:
    data = getattr(exc, "data", None)
    code = getattr(data, "code", None)
    message = getattr(data, "message", None)
    if code is None and exc.body:
        try:
            body = json.loads(exc.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = body.get("code")
            message = body.get("message")
    return (code if isinstance(code, int) else None), str(message or "")


