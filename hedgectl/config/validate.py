"""Offline checks of the secrets a config resolved: each has the form its venue expects, and the Backpack key pair
belongs together, so a bad key is found by ``config check`` rather than by the first real order.

A problem names the key path, the secret and where it came from, never the value (nor a part of it).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from hedgectl.config.model import Config, ConnectorConfig
from hedgectl.config.secrets import Secret
from hedgectl.registry import VENUES

#: secp256k1's group order: a GRVT signing key is a scalar in [1, n)
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: The length of a Lighter api private key: what the lighter-sdk's signer is given (40 bytes as hex)
LIGHTER_KEY_HEX_DIGITS = 80
TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{35}")
TELEGRAM_CHAT_ID = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}")
GRVT_API_KEY = re.compile(r"[A-Za-z0-9_-]{16,128}")


def _hex_digits(value: str) -> str | None:
    """The hex digits of ``value`` (0x optional), or None when it is not hex."""
    digits = value[2:] if value[:2].lower() == "0x" else value
    if not digits or any(ch not in "0123456789abcdefABCDEF" for ch in digits):
        return None
    return digits


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_backpack(connector: ConnectorConfig, say: Callable[[str, str], None]) -> None:
    secret = connector.secrets.get("api_secret")
    api_key = connector.secrets.get("api_key")
    seed = None
    if secret is not None:
        seed = _b64(secret.reveal())
        if seed is None:
            say("api_secret", "is not base64 (expected the base64 of a 32-byte Ed25519 seed)")
        elif len(seed) != 32:
            say("api_secret", f"decodes to {len(seed)} bytes, not a 32-byte Ed25519 seed")
            seed = None
    public = None
    if api_key is not None:
        public = _b64(api_key.reveal())
        if public is None or len(public) != 32:
            say("api_key", "is not the base64 of a 32-byte Ed25519 public key")
            public = None
    if seed is not None and public is not None:
        from nacl.signing import SigningKey

        if SigningKey(seed).verify_key.encode() != public:
            say("api_secret", "does not belong to api_key (its public key is another one)")


def _check_lighter(connector: ConnectorConfig, say: Callable[[str, str], None]) -> None:
    secret = connector.secrets.get("private_key")
    if secret is not None:
        digits = _hex_digits(secret.reveal().strip())
        if digits is None:
            say("private_key", "is not hex (expected 40 bytes: 80 hex digits, 0x optional)")
        elif len(digits) != LIGHTER_KEY_HEX_DIGITS:
            say("private_key", f"has {len(digits)} hex digits, not {LIGHTER_KEY_HEX_DIGITS} (40 bytes)")
    index = connector.options.get("api_key_index")
    spec = next(option for option in VENUES["lighter"].options if option.name == "api_key_index")
    if isinstance(index, int) and not spec.minimum <= index <= spec.maximum:
        say("api_key_index", f"{index} is out of range ({spec.minimum}..{spec.maximum})")


def _check_grvt(connector: ConnectorConfig, say: Callable[[str, str], None]) -> None:
    api_key = connector.secrets.get("api_key")
    if api_key is not None and not GRVT_API_KEY.fullmatch(api_key.reveal().strip()):
        say("api_key", "is not a GRVT API key (16 to 128 letters, digits, '-' or '_')")
    secret = connector.secrets.get("private_key")
    if secret is not None:
        digits = _hex_digits(secret.reveal().strip())
        if digits is None:
            say("private_key", "is not hex (expected a 32-byte secp256k1 key: 64 hex digits, 0x optional)")
        elif len(digits) != 64:
            say("private_key", f"has {len(digits)} hex digits, not 64 (a 32-byte secp256k1 key)")
        elif not 0 < int(digits, 16) < SECP256K1_ORDER:
            say("private_key", "is not a valid secp256k1 private key (out of the curve's range)")


CHECKS = {"backpack": _check_backpack, "lighter": _check_lighter, "grvt": _check_grvt}


def _source(secret: Secret | None) -> str:
    return f" (from {secret.source})" if secret is not None else ""


def secret_problems(config: Config) -> list[str]:
    """Every malformed or mismatched secret of ``config``, one line each, without any secret's value."""
    problems: list[str] = []
    for name, connector in config.connectors.items():
        check = CHECKS.get(connector.venue)
        if check is None:
            continue

        def say(key: str, what: str, connector: ConnectorConfig = connector, name: str = name) -> None:
            problems.append(f"connectors.{name}.{key}{_source(connector.secrets.get(key))} {what}")

        check(connector, say)
    telegram = config.telegram
    if telegram.bot_token is not None and not TELEGRAM_TOKEN.fullmatch(telegram.bot_token.reveal().strip()):
        problems.append(f"telegram.bot_token{_source(telegram.bot_token)} is not a bot token "
                        "(<digits>:<35 letters, digits, '-' or '_'>)")
    if telegram.chat_id is not None and not TELEGRAM_CHAT_ID.fullmatch(str(telegram.chat_id).strip()):
        problems.append("telegram.chat_id is not a chat id (an integer, or @channelname)")
    return problems
