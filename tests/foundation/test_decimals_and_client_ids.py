"""Decimal formatting and quantizing, and client order index allocation."""

import multiprocessing
from decimal import Decimal

import pytest

from hedgectl.decimals import decimals_of, plain, quantize_down, to_decimal
from hedgectl.model.client_ids import BACKPACK_RANGE, LIGHTER_RANGE, ClientIdAllocator


def test_float_sum_goes_out_as_a_quantized_plain_string():
    size = quantize_down(to_decimal(0.1 + 0.2), Decimal("0.0001"))
    assert plain(size) == "0.3"


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("1E+2"), "100"), (Decimal("0.00010"), "0.0001"), (Decimal("-0.5000"), "-0.5"), (Decimal("0E-8"), "0")],
)
def test_plain_never_uses_exponents(value, text):
    assert plain(value) == text


def test_quantize_down_never_rounds_up_the_magnitude():
    assert quantize_down(Decimal("0.12349"), Decimal("0.0001")) == Decimal("0.1234")
    assert quantize_down(Decimal("-0.12349"), Decimal("0.0001")) == Decimal("-0.1234")
    assert quantize_down(Decimal("7"), Decimal("5")) == Decimal("5")


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", True, None, [1]])
def test_to_decimal_refuses_non_numbers(bad):
    with pytest.raises(ValueError):
        to_decimal(bad)


def test_decimals_of_steps():
    assert [decimals_of(Decimal(s)) for s in ("0.0001", "0.5", "1", "10")] == [4, 1, 0, 0]


def test_allocated_indexes_increase_and_stay_in_range():
    for id_range in (BACKPACK_RANGE, LIGHTER_RANGE):
        allocator = ClientIdAllocator(id_range, block=8)
        indexes = [allocator.next() for _ in range(100)]
        assert indexes == sorted(set(indexes))
        assert all(id_range.contains(i) for i in indexes)


def _allocate(path, count, queue):
    allocator = ClientIdAllocator(BACKPACK_RANGE, state_path=path, block=16)
    queue.put([allocator.next() for _ in range(count)])


def test_processes_sharing_an_account_never_reuse_an_index(tmp_path):
    path = tmp_path / "ids.json"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_allocate, args=(path, 200, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    everything = [index for chunk in results for index in chunk]
    assert len(everything) == 800
    assert len(set(everything)) == 800


def test_a_restarted_process_starts_above_what_the_last_one_reserved(tmp_path):
    path = tmp_path / "ids.json"
    first = ClientIdAllocator(LIGHTER_RANGE, state_path=path, block=1000)
    used = [first.next() for _ in range(5)]
    second = ClientIdAllocator(LIGHTER_RANGE, state_path=path, block=1000)
    assert second.next() > max(used) + 990  # above the whole block the first process reserved
