"""Paper Telegram answers the Bot API's sendMessage like Telegram and records what was sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hedgectl.sim.runner import ThreadedPaperVenues


@pytest.fixture
def telegram(paper_venues_factory: Any) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["telegram"])


def _bot(venues: ThreadedPaperVenues) -> tuple[str, str, str]:
    section = venues.accounts_document()["telegram"]
    return section["url"], section["bot_token"], section["chat_id"]


def test_send_message_as_json_is_answered_like_telegram_and_recorded(telegram: ThreadedPaperVenues) -> None:
    url, token, chat_id = _bot(telegram)
    answer = httpx.post(f"{url}/bot{token}/sendMessage", json={"chat_id": chat_id, "text": "cycle 1 flat"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True
    assert body["result"]["chat"]["id"] == int(chat_id)
    assert body["result"]["text"] == "cycle 1 flat"
    assert {"message_id", "date"} <= set(body["result"])
    messages = httpx.get(f"{url}/_sim/messages").json()["messages"]
    assert [message["text"] for message in messages] == ["cycle 1 flat"]
    assert token not in str(messages)


def test_send_message_as_form_is_accepted(telegram: ThreadedPaperVenues) -> None:
    url, token, chat_id = _bot(telegram)
    answer = httpx.post(f"{url}/bot{token}/sendMessage", data={"chat_id": chat_id, "text": "form text"})
    assert answer.json()["result"]["text"] == "form text"


def test_unknown_token_is_unauthorized(telegram: ThreadedPaperVenues) -> None:
    url, _, chat_id = _bot(telegram)
    answer = httpx.post(f"{url}/bot123:nope/sendMessage", json={"chat_id": chat_id, "text": "x"})
    assert answer.status_code == 401
    assert answer.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


@pytest.mark.parametrize("missing", ["chat_id", "text"])
def test_send_message_without_chat_id_or_text_is_a_bad_request(telegram: ThreadedPaperVenues, missing: str) -> None:
    url, token, chat_id = _bot(telegram)
    payload = {"chat_id": chat_id, "text": "x"}
    del payload[missing]
    answer = httpx.post(f"{url}/bot{token}/sendMessage", json=payload)
    assert answer.status_code == 400
    assert answer.json()["ok"] is False and answer.json()["error_code"] == 400
    assert httpx.get(f"{url}/_sim/messages").json()["messages"] == []


def test_rate_limit_fault_answers_with_telegrams_retry_after(telegram: ThreadedPaperVenues) -> None:
    url, token, chat_id = _bot(telegram)
    telegram.arm("telegram", "rate_limit", count=1, retry_after=7)
    limited = httpx.post(f"{url}/bot{token}/sendMessage", json={"chat_id": chat_id, "text": "x"})
    assert limited.status_code == 429
    assert limited.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    again = httpx.post(f"{url}/bot{token}/sendMessage", json={"chat_id": chat_id, "text": "x"})
    assert again.status_code == 200


def test_bot_and_api_key_reprs_never_show_secrets(paper_venues: ThreadedPaperVenues) -> None:
    telegram_venue = paper_venues.venues.venue("telegram")
    backpack_venue = paper_venues.venues.venue("backpack")
    bot = telegram_venue.default_bot
    key = next(iter(backpack_venue.api_keys.values()))
    assert bot.token not in repr(bot) and bot.token not in repr(telegram_venue.bots)
    assert key.secret not in repr(key)
    assert key.secret not in str(paper_venues.state("backpack"))
