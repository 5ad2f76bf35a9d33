"""Paper Telegram: a Bot API sink that answers ``sendMessage`` like Telegram and records every message.

Recorded messages are listed at ``GET /_sim/messages``; the bot token never appears in state or message documents.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hedgectl.sim.faults import Fault
from hedgectl.sim.market import Market
from hedgectl.sim.server import SIM_PREFIX, PaperVenue, json_response

BOT_NAME = "telegram"


@dataclass
class Bot:
    """A bot the paper Bot API knows: its token (secret), numeric id, username and the one chat it may write to."""

    token: str
    bot_id: int
    username: str
    chat_id: str

    def __repr__(self) -> str:
        return f"Bot(bot_id={self.bot_id}, username={self.username!r}, chat_id={self.chat_id!r})"


class PaperTelegram(PaperVenue):
    """Answers ``/bot<token>/sendMessage`` and ``/bot<token>/getMe``; everything else is Telegram's 404."""

    name = "telegram"

    def __init__(self, market: Market) -> None:
        super().__init__(market)
        self._rng = market.rng("telegram:accounts")
        self.bots: dict[int, Bot] = {}
        self._by_token: dict[str, Bot] = {}
        self.messages: list[dict[str, Any]] = []

    def create_bot(self, chat_id: str | None = None) -> Bot:
        """A new bot with a fresh token, allowed to write to ``chat_id`` (a fresh numeric chat when None)."""
        bot_id = self._rng.randrange(10**9, 10**10)
        token = f"{bot_id}:{secrets.token_urlsafe(26)}"
        bot = Bot(token, bot_id, f"paper_hedge_{bot_id % 10000}_bot", chat_id or str(self._rng.randrange(10**8, 10**9)))
        self._add(bot)
        return bot

    def _add(self, bot: Bot) -> None:
        # Bots are keyed by id in public structures so that printing them never shows a token.
        self.bots[bot.bot_id] = bot
        self._by_token[bot.token] = bot

    def create_default_accounts(self) -> None:
        if not self.bots:
            self.create_bot()

    @property
    def default_bot(self) -> Bot:
        return next(iter(self.bots.values()))

    def accounts_section(self) -> dict[str, Any]:
        bot = self.default_bot
        return {"url": self.url, "bot_token": bot.token, "chat_id": bot.chat_id}

    def snapshot(self) -> dict[str, Any]:
        return {
            "bots": [
                {"token": bot.token, "bot_id": bot.bot_id, "username": bot.username, "chat_id": bot.chat_id}
                for bot in self.bots.values()
            ]
        }

    def restore(self, data: dict[str, Any]) -> None:
        for item in data.get("bots", []):
            self._add(Bot(item["token"], int(item["bot_id"]), item["username"], str(item["chat_id"])))

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/bot{token}/{method}", self._bot_method)
        router.add_get(SIM_PREFIX + "messages", self._sim_messages)
        router.add_delete(SIM_PREFIX + "messages", self._sim_clear_messages)

    def state(self) -> dict[str, Any]:
        return {
            "venue": self.name,
            "bots": [{"bot_id": bot.bot_id, "username": bot.username, "chat_id": bot.chat_id} for bot in self.bots.values()],
            "messages": self.messages,
        }

    async def account_for(self, request: web.Request) -> str | None:
        return BOT_NAME if request.match_info.get("token") in self._by_token else None

    def error_response(self, fault: Fault) -> web.StreamResponse:
        description = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(
            fault.status, "Internal Server Error"
        )
        return _failure(fault.status, description)

    def rate_limit_response(self, fault: Fault) -> web.StreamResponse:
        return json_response(
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {fault.retry_after}",
                "parameters": {"retry_after": fault.retry_after},
            },
            status=429,
        )

    def gateway_timeout_response(self) -> web.StreamResponse:
        return _failure(504, "Gateway Timeout")

    def not_found_response(self, request: web.Request) -> web.StreamResponse:
        return _failure(404, "Not Found")

    async def _bot_method(self, request: web.Request) -> web.StreamResponse:
        bot = self._by_token.get(request.match_info["token"])
        if bot is None:
            return _failure(401, "Unauthorized")
        method = request.match_info["method"].lower()
        if method == "getme":
            return json_response({"ok": True, "result": self._user(bot)})
        if method != "sendmessage":
            return _failure(404, "Not Found")
        params = await _parameters(request)
        if params is None:
            return _failure(400, "Bad Request: can't parse request body")
        chat_id = str(params.get("chat_id") or "").strip()
        text = params.get("text")
        if not chat_id:
            return _failure(400, "Bad Request: chat_id is empty")
        if text is None or not str(text).strip():
            return _failure(400, "Bad Request: message text is empty")
        if chat_id != bot.chat_id:
            return _failure(400, "Bad Request: chat not found")
        message = {
            "message_id": len(self.messages) + 1,
            "bot_id": bot.bot_id,
            "chat_id": chat_id,
            "date": int(time.time()),
            "text": str(text),
            "parse_mode": params.get("parse_mode"),
        }
        self.messages.append(message)
        chat_key: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        result = {
            "message_id": message["message_id"],
            "from": self._user(bot),
            "chat": {"id": chat_key, "type": "private"},
            "date": message["date"],
            "text": message["text"],
        }
        return json_response({"ok": True, "result": result})

    @staticmethod
    def _user(bot: Bot) -> dict[str, Any]:
        return {"id": bot.bot_id, "is_bot": True, "first_name": "Paper Hedge", "username": bot.username}

    async def _sim_messages(self, request: web.Request) -> web.StreamResponse:
        return json_response({"messages": self.messages})

    async def _sim_clear_messages(self, request: web.Request) -> web.StreamResponse:
        cleared = len(self.messages)
        self.messages.clear()
        return json_response({"cleared": cleared})


def _failure(status: int, description: str) -> web.Response:
    return json_response({"ok": False, "error_code": status, "description": description}, status=status)


async def _parameters(request: web.Request) -> dict[str, Any] | None:
    """Bot API parameters from the query string, a JSON body, or a url-encoded / multipart form, as Telegram takes them."""
    params: dict[str, Any] = dict(request.query)
    if request.method not in ("POST", "PUT"):
        return params
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict):
            return None
        params.update(body)
    elif request.content_type == "multipart/form-data":
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    else:
        raw = await request.read()
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return params
