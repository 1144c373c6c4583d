"""Fixtures for the emulator suite: a running emulator and the official SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.sim import SimServer, small_world


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer.from_world(small_world()) as s:
        yield s


@pytest.fixture
def ecs(sim: SimServer) -> Any:
    return sim.ecs_client()


@pytest.fixture
def vpc(sim: SimServer) -> Any:
    return sim.vpc_client()
