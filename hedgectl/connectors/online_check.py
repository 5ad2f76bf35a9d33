"""Authenticating with every configured venue (and Telegram) once, for ``config check --online``: each connector
makes a signed read, so keys the venue does not accept are found before a trade needs them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from hedgectl.config.model import Config
from hedgectl.config.secrets import redact
from hedgectl.errors import HedgectlError

#: Longest time one check may take, whatever the connector's own timeouts and retries add up to.
CHECK_TIMEOUT_SECS = 30.0


@dataclass(frozen=True)
class OnlineCheck:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail}


async def check_online(config: Config, *, data_dir: Path | None = None) -> list[OnlineCheck]:
    """One authenticated read per connector (and a getMe on Telegram when enabled), concurrently."""
    from hedgectl.connectors.factory import ConnectorSet

    async with ConnectorSet(config, data_dir=data_dir) as connectors:

        async def one(name: str) -> OnlineCheck:
            async def signed_read() -> None:
                connector = await connectors.get(name)
                await connector.check()

            return await _outcome(name, signed_read())

        checks = [one(name) for name in config.connectors]
        if config.telegram.enabled and config.telegram.bot_token:
            checks.append(_outcome("telegram", _telegram_get_me(config)))
        return list(await asyncio.gather(*checks))


async def _outcome(name: str, work) -> OnlineCheck:
    try:
        await asyncio.wait_for(work, CHECK_TIMEOUT_SECS)
    except asyncio.TimeoutError:
        return OnlineCheck(name, False, f"no answer within {CHECK_TIMEOUT_SECS:g}s")
    except HedgectlError as exc:
        detail = redact(str(exc))
        return OnlineCheck(name, False, detail.removeprefix(f"{name}: "))
    except Exception as exc:  # a check reports, it never crashes the others
        return OnlineCheck(name, False, redact(f"{type(exc).__name__}: {exc}"))
    return OnlineCheck(name, True, "authenticated")


async def _telegram_get_me(config: Config) -> None:
    import httpx

    token = config.telegram.bot_token.reveal()
    url = f"{config.telegram.base_url.rstrip('/')}/bot{token}/getMe"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise HedgectlError(f"telegram: cannot reach {config.telegram.base_url}: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict) or answer.get("ok") is not True:
        raise HedgectlError(f"telegram: the bot token was refused (HTTP {response.status_code})")
