"""Fixtures for the cloud adapter's integration tests: the emulator over HTTP, real SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from failover.cloud import EcsCloud
from failover.cloud.budget import ApiBudget
from failover.cloud.waiting import SystemClock
from failover.config import CloudConfig
from tests.support.sim import SimServer, small_world

MakeCloud = Callable[..., EcsCloud]


def world_with_far_instance(**timing: float) -> dict[str, Any]:
    """The small world plus `i-far`, an instance in another zone of the same VPC."""
    world = small_world()
    world["instances"].append(
        {"id": "i-far", "vswitch": "vsw-b", "status": "Running", "type": "ecs.g7.large",
         "primary_ip": "192.168.2.20", "max_enis": 3, "max_ips_per_eni": 10, "hotplug": True})
    world["timing"] = {"attach_s": 0.2, "detach_s": 0.2, "command_s": 0.1, **timing}
    return world


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer.from_world(world_with_far_instance()) as server:
        yield server


def cloud_config(sim: SimServer, **overrides: Any) -> CloudConfig:
    fields: dict[str, Any] = {"region": sim.region, "endpoint": sim.endpoint, "protocol": "http",
                              "connect_timeout_s": 1.0, "read_timeout_s": 2.0}
    fields.update(overrides)
    return CloudConfig(**fields)


@pytest.fixture
def make_cloud(sim: SimServer) -> MakeCloud:
    """A fresh adapter on the emulator with its own budget (tests must not share one)."""

    def make(budget: ApiBudget | None = None, **overrides: Any) -> EcsCloud:
        cfg = cloud_config(sim, **overrides)
        own = budget or ApiBudget(200.0, 400, 0.3, clock=SystemClock())
        return EcsCloud(cfg, budget=own)

    return make


def transitions(sim: SimServer, kind: str, rid: str) -> list[tuple[str | None, str]]:
    return [(e["from"], e["to"]) for e in sim.control.events()
            if e["kind"] == kind and e["id"] == rid]
