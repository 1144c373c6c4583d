"""The replica's collector pacing (failover/heap.py): thresholds, and one freeze after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from failover import heap
from harness.clock import FakeClock


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_pace_raises_the_young_thresholds_and_keeps_the_oldest(collector: None) -> None:
    old = gc.get_threshold()[2]
    heap.pace()
    assert gc.get_threshold() == (heap.YOUNG, heap.MIDDLE, old)


def test_the_heap_is_frozen_once_when_start_up_is_over(collector: None) -> None:
    clock = FakeClock()
    freezer = heap.Freezer(after_s=60.0, monotonic=clock.monotonic)
    clock.sleep(59.0)
    assert freezer.poll() is False and gc.get_freeze_count() == 0
    clock.sleep(1.0)
    assert freezer.poll() is True and gc.get_freeze_count() > 0
    gc.unfreeze()
    clock.sleep(600.0)
    assert freezer.poll() is False and gc.get_freeze_count() == 0  # once only
