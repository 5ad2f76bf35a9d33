"""The Telegram notifier against the paper Bot API: delivery, retries, refusals, and the token kept out of sight."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from decimal import Decimal

import httpx
import pytest

from hedgectl.notify.telegram import (
    MASK,
    TelegramNotifier,
    format_emergency_exit,
    format_hedge_finish,
    format_hedge_start,
    format_liquidation_warning,
    load_telegram_key_file,
    parse_telegram_keys,
    send_test_message,
)
from hedgectl.sim.runner import ThreadedPaperVenues


@pytest.fixture
def telegram(paper_venues_factory) -> ThreadedPaperVenues:
    return paper_venues_factory(kinds=["telegram"])


@pytest.fixture
def bot(telegram):
    section = telegram.accounts_document()["telegram"]
    return section["url"], section["bot_token"], section["chat_id"]


def delivered(telegram: ThreadedPaperVenues) -> list[dict]:
    return httpx.get(f"{telegram.url('telegram')}/_sim/messages").json()["messages"]


def send(url, token, chat_id, text, *, html=True, **options):
    async def scenario():
        async with TelegramNotifier(token, chat_id, base_url=url, **options) as notifier:
            return await (notifier.send_html(text) if html else notifier.send_text(text))

    return asyncio.run(scenario())


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_html_message_is_delivered_with_html_parse_mode(telegram, bot):
    url, token, chat_id = bot

    result = send(url, token, chat_id, "<b>Hedge started</b>")

    assert result.ok and result.attempts == 1 and result.status_code == 200
    messages = delivered(telegram)
    assert [(m["text"], m["parse_mode"], m["chat_id"]) for m in messages] == [("<b>Hedge started</b>", "HTML", chat_id)]
    assert result.message_id == messages[0]["message_id"]


def test_plain_text_is_html_escaped(telegram, bot):
    url, token, chat_id = bot

    assert send(url, token, chat_id, "size < 1 & <b>", html=False).ok

    assert delivered(telegram)[0]["text"] == "size &lt; 1 &amp; &lt;b&gt;"


def test_rate_limit_retry_after_is_honoured_and_the_message_then_delivered(telegram, bot, caplog):
    url, token, chat_id = bot
    telegram.arm("telegram", "rate_limit", retry_after=1, count=1)

    with caplog.at_level(logging.INFO, logger="hedgectl.notify.telegram"):
        result = send(url, token, chat_id, "after the limit")

    assert "retrying after 1s" in caplog.text
    assert result.ok
    assert result.attempts == 2
    assert [m["text"] for m in delivered(telegram)] == ["after the limit"]


def test_retry_after_beyond_the_bound_is_reported_without_waiting(telegram, bot):
    url, token, chat_id = bot
    telegram.arm("telegram", "rate_limit", retry_after=600, count=1)

    result = send(url, token, chat_id, "too late", max_retry_after_secs=30)

    assert not result.ok
    assert (result.status_code, result.retry_after_secs, result.attempts) == (429, 600.0, 1)
    assert "Too Many Requests" in result.error
    assert delivered(telegram) == []


def test_server_error_is_retried(telegram, bot):
    url, token, chat_id = bot
    telegram.arm("telegram", "error", status=502, count=1)

    result = send(url, token, chat_id, "second try")

    assert result.ok and result.attempts == 2
    assert [m["text"] for m in delivered(telegram)] == ["second try"]


def test_wrong_chat_is_reported_as_a_refusal_not_raised(telegram, bot):
    url, token, _chat_id = bot

    result = send(url, token, "-100123", "hello")

    assert not result.ok
    assert (result.status_code, result.attempts) == (400, 1)
    assert "chat not found" in result.error


def test_unknown_token_is_reported_without_showing_it(telegram, bot):
    url, _token, chat_id = bot
    wrong = "999999:not-a-real-token-zzz"

    result = send(url, wrong, chat_id, "hello")

    assert not result.ok and result.status_code == 401
    assert wrong not in repr(result)


def test_unreachable_api_is_a_failed_result_after_the_attempts(caplog):
    token = "424242:unreachable-token-abc"

    with caplog.at_level(logging.DEBUG):
        result = send(f"http://127.0.0.1:{unused_port()}", token, "1", "hello", max_attempts=2)

    assert not result.ok
    assert result.attempts == 2
    assert result.error.startswith("ConnectError")
    assert token not in caplog.text and token not in repr(result)


def test_token_never_reaches_logs_or_results_whatever_happens(telegram, bot, caplog):
    url, token, chat_id = bot
    telegram.arm("telegram", "error", status=500, count=1)
    caplog.set_level(logging.DEBUG)

    results = [
        send(url, token, chat_id, "one"),
        send(url, token, "-1", "wrong chat"),
        send(f"http://127.0.0.1:{unused_port()}", token, chat_id, "down", max_attempts=1),
    ]

    assert [r.ok for r in results] == [True, False, False]
    assert f"/bot{MASK}/sendMessage" in caplog.text
    assert token not in caplog.text
    assert token.split(":", 1)[1] not in caplog.text
    assert all(token not in repr(r) for r in results)


def test_httpx_status_error_below_the_notifier_shows_only_the_masked_url(bot):
    url, token, chat_id = bot

    async def scenario():
        async with TelegramNotifier(token, chat_id, base_url=url) as notifier:
            response = await notifier._client.post(notifier._url("noSuchMethod"))
            with pytest.raises(httpx.HTTPStatusError) as caught:
                response.raise_for_status()
            return str(caught.value), str(response.request.url)

    message, request_url = asyncio.run(scenario())

    assert MASK in request_url
    assert token not in message and token not in request_url


def test_notifier_repr_hides_the_token():
    notifier_token = "777:repr-secret-token"

    async def scenario():
        async with TelegramNotifier(notifier_token, 5) as notifier:
            return repr(notifier)

    assert notifier_token not in asyncio.run(scenario())


@pytest.mark.parametrize("token", ["", "has space", "a/b", "x?y", 123])
def test_malformed_bot_token_is_refused_without_echoing_it(token):
    with pytest.raises(ValueError, match="bot_token") as caught:
        TelegramNotifier(token, "1")

    assert not token or str(token) not in str(caught.value)


def test_test_message_names_hedgectl_and_is_delivered(telegram, bot):
    url, token, chat_id = bot

    async def scenario():
        async with TelegramNotifier(token, chat_id, base_url=url) as notifier:
            return await send_test_message(notifier)

    assert asyncio.run(scenario()).ok
    assert "hedgectl test message" in delivered(telegram)[0]["text"]


def test_hedge_messages_are_delivered_through_the_sink(telegram, bot):
    url, token, chat_id = bot
    texts = [
        format_hedge_start(
            direction="long",
            size=Decimal("0.50"),
            symbol="ETH",
            venues={"BP": "backpack", "L1": "lighter1", "L2": "lighter2"},
        ),
        format_hedge_finish(pnl_by_leg={"BP": Decimal("1.5"), "L1": Decimal("-2.25")}, duration_secs=185),
    ]

    assert all(send(url, token, chat_id, text).ok for text in texts)
    assert [m["text"] for m in delivered(telegram)] == texts


def test_start_message_states_direction_size_and_venues():
    text = format_hedge_start(
        direction="short", size=Decimal("0.0100"), symbol="ETH", venues={"BP": "backpack", "L1": "lighter1"}, cycle="42"
    )

    assert "cycle 42" in text
    assert "Direction: <b>short</b>" in text
    assert "Size: 0.0100 ETH" in text
    assert "BP: backpack" in text and "L1: lighter1" in text


def test_finish_message_has_pnl_per_leg_the_total_and_the_duration():
    text = format_hedge_finish(
        pnl_by_leg={"BP": Decimal("12.5"), "L1": Decimal("-10.25"), "L2": Decimal("0")}, duration_secs=3725
    )

    assert "BP: +12.5" in text and "L1: -10.25" in text and "L2: +0" in text
    assert "Total PnL: <b>+2.25</b>" in text
    assert "Duration: 1h02m" in text


def test_emergency_message_says_why_what_was_flattened_and_what_is_open():
    text = format_emergency_exit(
        reason="L2 liquidated <by venue>",
        flattened={"BP": Decimal("-0.5"), "L1": Decimal("0.25")},
        still_open={"L2": Decimal("0.25"), "L1": Decimal("0")},
    )

    assert "Reason: L2 liquidated &lt;by venue&gt;" in text
    assert "BP: -0.5" in text and "L1: 0.25" in text
    assert "STILL OPEN" in text and "L2: 0.25" in text
    assert "Nothing is left open" not in text


def test_emergency_message_says_nothing_is_open_when_all_is_flat():
    text = format_emergency_exit(reason="timeout", flattened={}, still_open={"BP": Decimal("0")})

    assert "Flattened: nothing" in text
    assert "Nothing is left open." in text
    assert "STILL OPEN" not in text


def test_liquidation_warning_names_the_leg_and_the_distance():
    text = format_liquidation_warning(
        role="L1",
        distance_pct=Decimal("4.2"),
        mark_price=Decimal("3500"),
        liquidation_price=Decimal("3647"),
        threshold_pct=Decimal("5"),
    )

    assert "Leg: <b>L1</b>" in text
    assert "4.2%" in text and "threshold 5%" in text
    assert "Liquidation price: 3647" in text


def test_key_file_in_the_old_format_is_parsed(tmp_path):
    path = tmp_path / "tg_key.txt"
    path.write_text('# telegram\nbot_token: "123456:AA-bb_cc"\nchat_id: -1001234\n')
    path.chmod(0o600)

    keys = load_telegram_key_file(path)

    assert (keys.bot_token, keys.chat_id) == ("123456:AA-bb_cc", "-1001234")
    assert "123456:AA-bb_cc" not in repr(keys)


@pytest.mark.parametrize("text", ["bot_token: 1:x\n", "chat_id: 5\n", "", "bot_token:\nchat_id: 5"])
def test_key_file_missing_a_field_is_refused(text):
    with pytest.raises(ValueError, match="lacks"):
        parse_telegram_keys(text)


def test_key_file_readable_by_others_warns(tmp_path, caplog):
    path = tmp_path / "tg_key.txt"
    path.write_text("bot_token: 1:abc\nchat_id: 5\n")
    os.chmod(path, 0o644)

    with caplog.at_level(logging.WARNING, logger="hedgectl.notify.telegram"):
        load_telegram_key_file(path)

    assert "accessible by group or others" in caplog.text
    assert "1:abc" not in caplog.text


def test_private_key_file_does_not_warn(tmp_path, caplog):
    path = tmp_path / "tg_key.txt"
    path.write_text("bot_token: 1:abc\nchat_id: 5\n")
    os.chmod(path, 0o600)

    with caplog.at_level(logging.WARNING, logger="hedgectl.notify.telegram"):
        load_telegram_key_file(path)

    assert caplog.text == ""


def test_rate_limit_wait_is_the_retry_after_the_bot_api_sent_on_the_injected_sleep(telegram, bot):
    url, token, chat_id = bot
    telegram.arm("telegram", "rate_limit", retry_after=7, count=2)
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    result = send(url, token, chat_id, "patiently", sleep=record)

    assert result.ok and result.attempts == 3
    assert pauses == [7.0, 7.0]
    assert [m["text"] for m in delivered(telegram)] == ["patiently"]


def test_unreachable_api_backs_off_half_a_second_then_one(caplog):
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    result = send(f"http://127.0.0.1:{unused_port()}", "424242:unreachable-token-abc", "1", "hello", sleep=record)

    assert not result.ok and result.attempts == 3
    assert pauses == [0.5, 1.0]
