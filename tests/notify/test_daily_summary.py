"""The daily Telegram summary: the figures of ``history --stats`` for one UTC day, sent at once by
``history --stats --notify`` or once a day by a running loop, through the paper Telegram venue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest
import tomli_w
import tomllib

from hedgectl.notify.daily import parse_summary_time, summary_due
from tests.hedge.test_signals import SignalWorld

SHORT = ["--size", "0.5", "--wait-min", "0.2", "--wait-max", "0.3", "--timeout", "1", "--poll-interval", "0.2"]


@pytest.fixture
def world(paper_venues_factory, tmp_path):
    return SignalWorld(paper_venues_factory(kinds=["backpack", "lighter", "telegram"]), tmp_path)


def set_daily_summary(world: SignalWorld, value: str) -> None:
    document = tomllib.loads(world.config.read_text())
    document["telegram"]["daily_summary"] = value
    world.config.write_text(tomli_w.dumps(document))


def test_an_early_summary_time_covers_the_day_before_and_a_late_one_the_day_itself():
    morning = parse_summary_time("06:30")
    assert summary_due(datetime(2026, 3, 2, 6, 29, tzinfo=UTC), morning, None) is None
    assert summary_due(datetime(2026, 3, 2, 6, 30, tzinfo=UTC), morning, None) == "2026-03-01"
    assert summary_due(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), morning, "2026-03-01") is None
    evening = parse_summary_time("21:00")
    assert summary_due(datetime(2026, 3, 2, 21, 0, tzinfo=UTC), evening, "2026-03-01") == "2026-03-02"


@pytest.mark.parametrize("raw", ["24:00", "7:30", "07:60", "noon", ""])
def test_a_bad_summary_time_is_refused(raw):
    with pytest.raises(ValueError, match="HH:MM"):
        parse_summary_time(raw)


def test_a_bad_daily_summary_is_a_config_error_naming_its_key(world):
    set_daily_summary(world, "25:00")
    result = world.run("config", "check")
    assert result.returncode == 2
    assert "telegram.daily_summary: expected HH:MM" in result.stderr + result.stdout


def test_history_stats_notify_sends_the_days_figures_equal_to_the_stats(world):
    ran = world.run("hedge", "run", "--repeat", "1", "--json", *SHORT)
    assert ran.returncode == 0, ran.stderr[-2000:]
    before = len(world.messages())
    result = world.run("history", "--stats", "--notify", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    today = datetime.now(UTC).date().isoformat()
    day = next(block for block in figures["days"] if block["day"] == today)
    sent = world.messages()[before:]
    assert len(sent) == 1 and f"Daily summary {today} (UTC)" in sent[0]
    everything = day["all"]
    assert (f"all: volume {everything['volume']}, fills {everything['fills']}, fees {everything['fees']}, "
            f"PnL {everything['realised_pnl']}") in sent[0]
    assert "cycles: 1" in sent[0]


def test_history_notify_without_stats_is_a_usage_error(world):
    result = world.run("history", "--notify")
    assert result.returncode == 2
    assert "--notify needs --stats" in result.stderr


def test_a_running_loop_sends_the_daily_summary_once(world):
    set_daily_summary(world, "00:00")
    ran = world.run("hedge", "run", "--repeat", "2", "--pause", "2..2", "--json", *SHORT)
    assert ran.returncode == 0, ran.stderr[-2000:]
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    summaries = [text for text in world.messages() if "Daily summary" in text]
    assert summaries == [f"<b>Daily summary {yesterday} (UTC)</b>\nno cycle that day"]
    assert (world.data_dir / "daily-summary.sent").read_text().strip() == yesterday
    # a second loop the same day does not send it again
    assert world.run("hedge", "run", "--repeat", "1", "--json", *SHORT).returncode == 0
    assert [text for text in world.messages() if "Daily summary" in text] == summaries
