"""The real cloud adapter as the tests and benchmarks build it (`new_cloud`, the one place they
construct `EcsCloud`): configs, fresh adapters with their own budget (tests must not share one),
on the emulator or on a unit test's fake gateway; worlds with a far instance or a realistic
profile."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from failover.cloud import EcsCloud
from failover.cloud.budget import ApiBudget
from failover.cloud.calls import Gateway
from failover.cloud.sdk import Reply, SdkGateway
from failover.cloud.waiting import PollPlans
from failover.config import CloudConfig
from failover.ports import Clock, SystemClock
from harness.sim import SimServer, small_world

MakeCloud = Callable[..., EcsCloud]
K = 0.1  # the adapter's waits ten times faster (back-off steps of 0.1, 0.2, 0.3 s)


def world_with_far_instance(**timing: float) -> dict[str, Any]:
    """The small world plus `i-far`, an instance in another zone of the same VPC."""
    world = small_world()
    world["instances"].append(
        {"id": "i-far", "vswitch": "vsw-b", "status": "Running", "type": "ecs.g7.large",
         "primary_ip": "192.168.2.20", "max_enis": 3, "max_ips_per_eni": 10, "hotplug": True})
    world["timing"] = {"attach_s": 0.2, "detach_s": 0.2, "command_s": 0.1, **timing}
    return world


def realistic_world(**timing: Any) -> dict[str, Any]:
    """The small world with `profile: realistic` and the given timing keys."""
    return small_world(timing={"profile": "realistic", **timing})


@contextmanager
def sim_with(timing: dict[str, Any]) -> Iterator[SimServer]:
    with SimServer.from_world(realistic_world(**timing)) as sim:
        yield sim


def cloud_config(sim: SimServer, **overrides: Any) -> CloudConfig:
    fields: dict[str, Any] = {"region": sim.region, "endpoint": sim.endpoint, "protocol": "http",
                              "connect_timeout_s": 1.0, "read_timeout_s": 2.0}
    fields.update(overrides)
    return CloudConfig(**fields)


def new_cloud(sim: SimServer | None = None, *, cfg: CloudConfig | None = None,
              budget: ApiBudget | None = None, polls: PollPlans | None = None,
              rate_per_s: float = 200.0, clock: Clock | None = None,
              gateway: Gateway | None = None, rng: random.Random | None = None,
              read_deadline_s: float | None = None, **overrides: Any) -> EcsCloud:
    """A fresh adapter with its own budget (`rate_per_s`, twice that burst, a 30 % reserve).

    Its config: `cfg`, else `cloud_config(sim, **overrides)` on the emulator, else region "r"
    (a unit test's fake `gateway`, on its fake `clock`). The rest goes to the adapter as given.
    """
    clock = clock or SystemClock()
    if cfg is None:
        cfg = cloud_config(sim, **overrides) if sim is not None else CloudConfig(region="r", **overrides)
    own = budget or ApiBudget(rate_per_s, int(rate_per_s * 2), 0.3, clock=clock)
    return EcsCloud(cfg, gateway=gateway, budget=own, clock=clock, rng=rng,
                    read_deadline_s=read_deadline_s, polls=polls)


class Timed:
    """The real SDK gateway, noting when each call went out (our own port, wrapped)."""

    def __init__(self, inner: SdkGateway) -> None:
        self.inner = inner
        self.sent: list[tuple[float, str]] = []

    def ready(self) -> None:
        self.inner.ready()

    def call(self, action: str, params: Any, *, timeout_s: float) -> Reply:
        self.sent.append((time.monotonic(), action))
        return self.inner.call(action, params, timeout_s=timeout_s)

    def times(self, action: str) -> list[float]:
        return [t for t, a in self.sent if a == action]


def scaled_cloud(sim: SimServer, gateway: Timed | None = None) -> EcsCloud:
    """The adapter with its waits `K` times as long (`PollPlans.scaled`) and a roomy budget."""
    return new_cloud(sim, gateway=gateway, rate_per_s=500.0, polls=PollPlans().scaled(K))


def transitions(sim: SimServer, kind: str, rid: str) -> list[tuple[str | None, str]]:
    return [(e["from"], e["to"]) for e in sim.control.events()
            if e["kind"] == kind and e["id"] == rid]
