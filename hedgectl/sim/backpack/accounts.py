"""Paper Backpack's API keys: an account's Ed25519 key pair, as the accounts file hands it to connectors."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from nacl.signing import SigningKey, VerifyKey


@dataclass
class ApiKey:
    """A Backpack API key pair; ``secret`` is the base64 Ed25519 seed (never logged)."""

    account: str
    public: str
    secret: str

    def verify_key(self) -> VerifyKey:
        return VerifyKey(base64.b64decode(self.public))

    def __repr__(self) -> str:
        return f"ApiKey(account={self.account!r}, public={self.public!r})"


def new_api_key(account: str) -> ApiKey:
    """A fresh Ed25519 API key for ``account``."""
    signing_key = SigningKey.generate()
    return ApiKey(
        account,
        base64.b64encode(bytes(signing_key.verify_key)).decode(),
        base64.b64encode(bytes(signing_key)).decode(),
    )
