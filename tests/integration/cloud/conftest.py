"""Fixtures for the cloud adapter's integration tests: the emulator over HTTP, real SDK
(the helpers behind them: harness/cloud.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from failover.cloud import EcsCloud
from harness.cloud import MakeCloud, new_cloud, world_with_far_instance
from harness.sim import SimServer


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer.from_world(world_with_far_instance()) as server:
        yield server


@pytest.fixture
def make_cloud(sim: SimServer) -> MakeCloud:
    """A fresh adapter on the emulator with its own budget (tests must not share one)."""

    def make(budget: Any = None, **overrides: Any) -> EcsCloud:
        return new_cloud(sim, budget=budget, **overrides)

    return make
