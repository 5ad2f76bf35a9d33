"""Heartbeats of hedge groups: ``telemetry push --group`` posts under the group's bots and group name, and a loop's
heartbeats go on through its pauses."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import tomli_w
import tomllib

from hedgectl.telemetry.collector import ThreadedCollector
from tests.hedge.test_groups import GroupWorld

TOKEN = "collector-token-for-group-tests-0123456789"


@pytest.fixture
def collector():
    with ThreadedCollector(port=0, token=TOKEN) as server:
        yield server


@pytest.fixture
def world(paper_venues_factory, tmp_path, collector):
    world = GroupWorld(paper_venues_factory(kinds=["backpack", "lighter"]), tmp_path)
    document = tomllib.loads(world.config.read_text())
    document["telemetry"] = {"enabled": True, "base_url": collector.url, "interval_secs": 0.2,
                             "bots": {"BP": "bp", "L1": "l1", "L2": "l2"}}
    world.config.write_text(tomli_w.dumps(document))
    world.env["HEDGECTL_TELEMETRY_TOKEN"] = TOKEN
    return world


def bots(collector) -> dict[str, dict]:
    answer = httpx.get(f"{collector.url}/api/status", headers={"x-auth-token": TOKEN}).json()
    return {bot["name"]: bot for bot in answer["bots"]}


def test_push_with_a_group_posts_under_the_groups_bots_and_group_name(world, collector):
    result = world.run("telemetry", "push", "--group", "paper2", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    seen = bots(collector)
    assert set(seen) == {"bp-paper2", "l1-paper2", "l2-paper2"}
    assert {bot["payload"]["group"] for bot in seen.values()} == {"paper2"}


def test_a_loops_heartbeats_go_on_through_its_pause(world, collector):
    process = world.start("hedge", "run", "--group", "paper1", "--forever", "--pause", "600..600", "--json")
    try:
        paused_at = None
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "pause":
                paused_at = event["ts"]
                break
        assert paused_at is not None
        # wait (bounded) for a heartbeat sent after the pause began, from every leg of the group
        later: dict[str, float] = {}
        for _ in range(600):
            for name, bot in bots(collector).items():
                if bot["payload"]["timestamp"] > paused_at:
                    later[name] = bot["payload"]["timestamp"]
            if set(later) == {"bp-paper1", "l1-paper1", "l2-paper1"}:
                break
            time.sleep(0.1)
        assert set(later) == {"bp-paper1", "l1-paper1", "l2-paper1"}
        assert process.poll() is None  # still in its pause
    finally:
        process.terminate()
        process.communicate(timeout=120)
    assert world.flat()
