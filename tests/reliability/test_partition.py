"""Trial 5 at a small count (the network lab): a controller cut off from the primary moves nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from failover.lab import topology
from failover.lab.runtime import Lab
from harness.trials_lab import partition

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:  # a failure, not a skip: a lab that cannot run must not look like one that works
        pytest.fail("the lab trials need root (network namespaces): run them as root, as CI does")
    lab = Lab()
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
    assert topology.leftovers(lab.prefix) == []


def test_one_partitioned_controller_moves_nothing(lab: Lab) -> None:
    result = partition(lab, runs=1, watch_s=4.0)
    assert result.failures == [], result.failures
