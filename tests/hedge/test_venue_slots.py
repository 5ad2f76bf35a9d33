"""Cycle starts on one venue are spaced across loops: the second start waits out the first's spacing."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from hedgectl.strategies.hedge.venue_slots import _slot_file, take_venue_slots


def _stamp(data_dir: Path, venue: str) -> float:
    return float(_slot_file(data_dir, venue).read_text())


def _take_in_child(data_dir: str, queue) -> None:
    asyncio.run(take_venue_slots(Path(data_dir), ["backpack http://a"], spacing_secs=0.5))
    queue.put(_stamp(Path(data_dir), "backpack http://a"))


def test_two_processes_never_start_on_one_venue_within_the_spacing(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [context.Process(target=_take_in_child, args=(str(tmp_path), queue)) for _ in range(3)]
    for child in children:
        child.start()
    stamps = sorted(queue.get(timeout=60) for _ in children)
    for child in children:
        child.join(timeout=60)
    assert all(later - earlier >= 0.5 for earlier, later in zip(stamps, stamps[1:])), stamps


def test_each_venue_and_base_url_has_its_own_slot(tmp_path):
    names = ["backpack http://a", "lighter http://a", "lighter http://b"]
    assert len({_slot_file(tmp_path, name) for name in names}) == 3
