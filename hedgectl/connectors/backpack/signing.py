"""Backpack request signing: the signing string rebuilt from a request's parameters, and Ed25519 signatures over it.

The venue parses the JSON body (or the query string) and rebuilds the string itself, so what is signed here must be
exactly the parameters that are sent, formatted the same way: keys sorted, booleans ``true``/``false``, null omitted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from nacl.signing import SigningKey

SEED_BYTES = 32


def signing_value(value: Any) -> str:
    """A parameter value as the venue writes it in the signing string."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def signing_string(instruction: str, params: Mapping[str, Any] | None, timestamp_ms: int, window_ms: int) -> str:
    """``instruction=X[&k=v, keys sorted]&timestamp=T&window=W`` for one request's parameters."""
    pieces = [f"instruction={instruction}"]
    if params:
        pieces.extend(f"{key}={signing_value(params[key])}" for key in sorted(params) if params[key] is not None)
    pieces.append(f"timestamp={timestamp_ms}")
    pieces.append(f"window={window_ms}")
    return "&".join(pieces)


class Signer:
    """Holds the Ed25519 key of one Backpack API key pair and produces the four auth headers.

    The seed is decoded once here; the signer keeps only the key object, never the base64 text.
    """

    __slots__ = ("api_key", "_key")

    def __init__(self, api_secret: str, api_key: str | None = None):
        try:
            raw = base64.b64decode(api_secret.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("api_secret is not valid base64") from None
        # Some key exports hold the seed followed by the public key; the seed is what signs.
        if len(raw) not in (SEED_BYTES, 2 * SEED_BYTES):
            raise ValueError(f"api_secret must decode to {SEED_BYTES} or {2 * SEED_BYTES} bytes, got {len(raw)}")
        self._key = SigningKey(raw[:SEED_BYTES])
        derived = base64.b64encode(bytes(self._key.verify_key)).decode()
        if api_key is not None and api_key.strip() != derived:
            raise ValueError("api_key is not the public key of api_secret")
        self.api_key = derived

    def __repr__(self) -> str:
        return f"Signer(api_key={self.api_key!r})"

    def sign(self, message: str) -> str:
        """Base64 of the Ed25519 signature of ``message``."""
        return base64.b64encode(self._key.sign(message.encode()).signature).decode()

    def headers(
        self, instruction: str, params: Mapping[str, Any] | None, timestamp_ms: int, window_ms: int
    ) -> dict[str, str]:
        """The X-API-Key / X-Signature / X-Timestamp / X-Window headers of one signed request."""
        message = signing_string(instruction, params, timestamp_ms, window_ms)
        return {
            "X-API-Key": self.api_key,
            "X-Signature": self.sign(message),
            "X-Timestamp": str(timestamp_ms),
            "X-Window": str(window_ms),
        }
