"""Paper Lighter's api keys: registration per account, the per-(account, api key) nonce sequence, and auth tokens.

Signatures are not verified (the signer's curve is not practical to check here); what is checked is that the api key
index is registered for the account, that the nonce is the next one, and that an auth token names a registered key
and has not expired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hedgectl.sim.lighter.wire import (
    CODE_INVALID_AUTH,
    CODE_INVALID_NONCE,
    CODE_INVALID_PUBLIC_KEY,
    LighterApiError,
)

logger = logging.getLogger(__name__)

# The longest an auth token may live, counted from when it is presented.
MAX_AUTH_TOKEN_LIFETIME_S = 8 * 3600
MAX_API_KEY_INDEX = 254


@dataclass
class ApiKey:
    """One registered api key: its public key as the venue prints it (hex, no 0x) and the next nonce it expects."""

    account_index: int
    api_key_index: int
    public_key: str
    next_nonce: int
    transaction_time: int

    def as_wire(self) -> dict[str, object]:
        return {
            "account_index": self.account_index,
            "api_key_index": self.api_key_index,
            "nonce": self.next_nonce,
            "public_key": self.public_key,
            "transaction_time": self.transaction_time,
        }


class KeyRing:
    """Api keys of every paper account and their nonces."""

    def __init__(self) -> None:
        self._keys: dict[tuple[int, int], ApiKey] = {}

    def register(self, account_index: int, api_key_index: int, public_key: str, *, nonce: int = 1,
                 transaction_time: int = 0) -> ApiKey:
        """Register (or replace) the key at ``api_key_index``; the public key is stored without a 0x prefix."""
        if not 0 <= api_key_index <= MAX_API_KEY_INDEX:
            raise ValueError(f"api key index {api_key_index} outside 0..{MAX_API_KEY_INDEX}")
        public = public_key[2:] if public_key.startswith(("0x", "0X")) else public_key
        key = ApiKey(account_index, api_key_index, public.lower(), nonce, transaction_time)
        self._keys[(account_index, api_key_index)] = key
        return key

    def keys_of(self, account_index: int, api_key_index: int | None = None) -> list[ApiKey]:
        return sorted(
            (key for (account, index), key in self._keys.items()
             if account == account_index and (api_key_index is None or index == api_key_index)),
            key=lambda key: key.api_key_index,
        )

    def get(self, account_index: int, api_key_index: int) -> ApiKey:
        """The registered key, or the venue's refusal for an unregistered one."""
        key = self._keys.get((account_index, api_key_index))
        if key is None:
            raise LighterApiError(CODE_INVALID_PUBLIC_KEY, "invalid PublicKey, please run changePubKey")
        return key

    def check_nonce(self, account_index: int, api_key_index: int, nonce: int) -> None:
        if self.get(account_index, api_key_index).next_nonce != nonce:
            raise LighterApiError(CODE_INVALID_NONCE, "invalid nonce")

    def consume(self, account_index: int, api_key_index: int) -> None:
        self.get(account_index, api_key_index).next_nonce += 1

    def skew(self, account_index: int, api_key_index: int, by: int) -> int:
        """Move the server's next nonce ahead, as when another process used the same key; returns the new value."""
        key = self.get(account_index, api_key_index)
        key.next_nonce += by
        logger.info("nonce of account %s key %s skewed by %s to %s", account_index, api_key_index, by,
                    key.next_nonce)
        return key.next_nonce

    def check_auth_token(self, token: str | None, account_index: int, now_s: float) -> ApiKey:
        """Validate an SDK auth token ``deadline:account:api_key:signature`` for reading ``account_index``."""
        if not token:
            raise LighterApiError(CODE_INVALID_AUTH, "auth token is required")
        parts = token.split(":")
        if len(parts) != 4 or not all(part.isdigit() for part in parts[:3]) or not parts[3]:
            raise LighterApiError(CODE_INVALID_AUTH, "invalid auth token")
        deadline, token_account, api_key_index = (int(part) for part in parts[:3])
        if token_account != account_index:
            raise LighterApiError(CODE_INVALID_AUTH, "auth token is for another account")
        if deadline <= now_s:
            raise LighterApiError(CODE_INVALID_AUTH, "auth token expired")
        if deadline - now_s > MAX_AUTH_TOKEN_LIFETIME_S:
            raise LighterApiError(CODE_INVALID_AUTH, "auth token expiry too far in the future")
        try:
            return self.get(account_index, api_key_index)
        except LighterApiError:
            raise LighterApiError(CODE_INVALID_AUTH, "auth token api key is not registered") from None
