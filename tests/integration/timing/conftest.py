"""Fixtures for the timing tests: the emulator with a realistic profile and the real adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from failover.cloud import EcsCloud
from failover.cloud.budget import ApiBudget
from failover.cloud.waiting import PollPlans
from failover.config import CloudConfig
from failover.ports import SystemClock
from harness.sim import SimServer, small_world

MakeCloud = Callable[..., EcsCloud]


def realistic_world(**timing: Any) -> dict[str, Any]:
    """The small world with `profile: realistic` and the given timing keys."""
    return small_world(timing={"profile": "realistic", **timing})


@contextmanager
def sim_with(timing: dict[str, Any]) -> Iterator[SimServer]:
    with SimServer.from_world(realistic_world(**timing)) as sim:
        yield sim


def make_cloud(sim: SimServer, polls: PollPlans | None = None, rate_per_s: float = 200.0) -> EcsCloud:
    """A fresh adapter on the emulator with its own budget (tests must not share one)."""
    cfg = CloudConfig(region=sim.region, endpoint=sim.endpoint, protocol="http",
                      connect_timeout_s=1.0, read_timeout_s=2.0)
    budget = ApiBudget(rate_per_s, int(rate_per_s * 2), 0.3, clock=SystemClock())
    return EcsCloud(cfg, budget=budget, polls=polls)
