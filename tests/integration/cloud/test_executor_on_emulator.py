"""The executor with the real adapter against the emulator (our own ports faked for the rest):
a detach refused by a Running stop-to-attach holder escalates per the fence policy, and a cold
standby is started before the guest step so its RunCommand is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from failover.cloud.adapter import EcsCloud
from failover.config import GroupConfig
from failover.engine.execute import Collaborators, Executor
from failover.model import CallTrace, CommandResult, GuestNetwork, Result, Trigger
from failover.ports import SystemClock
from harness.cloud import scaled_cloud
from harness.sim import SimServer, small_world
from tests.unit.engine.fakes import FakeJournal, FakeLeadership, FakeVerifier

pytestmark = pytest.mark.timeout(90)


class ScriptGuest:
    """Runs a no-op script on the target through Cloud Assistant, as the real guest step does."""

    def __init__(self, cloud: EcsCloud) -> None:
        self.cloud = cloud

    def configure(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                  trace: CallTrace | None = None) -> CommandResult:
        return self.cloud.run_script(instance_id, "true\n", timeout_s=timeout_s, trace=trace)

    def release(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                trace: CallTrace | None = None) -> CommandResult:
        return self.cloud.run_script(instance_id, "true\n", timeout_s=timeout_s, trace=trace)


def _group(**policy: Any) -> GroupConfig:
    return GroupConfig.model_validate({
        "name": "web", "network_interface": "eni-svc", "members": ["i-primary", "i-standby"],
        "service_ips": ["192.168.1.51"], "checks": [{"type": "tcp", "port": 80}],
        "policy": {"detach_timeout_s": 5, "attach_timeout_s": 5, "stop_timeout_s": 10,
                   "start_timeout_s": 20, "guest_timeout_s": 10, **policy}})


def _run(sim: SimServer, group: GroupConfig) -> Any:
    cloud = scaled_cloud(sim)
    ex = Executor(Collaborators(cloud, FakeLeadership(), FakeJournal(), lambda g: ScriptGuest(cloud),
                                FakeVerifier(), SystemClock()))
    return ex.run(group, ex.begin(group, "i-primary", "i-standby", Trigger.AUTO, "down")).record


def _world(primary_type: str = "ecs.g7.large", standby: dict[str, Any] | None = None) -> dict[str, Any]:
    world = small_world(timing={"attach_s": 0.1, "detach_s": 0.1, "command_s": 0.0,
                                "stop_s": 0.3, "start_s": 0.5})
    world["instances"][0]["type"] = primary_type
    world["instances"][0].pop("hotplug")
    world["instances"][1].update(standby or {})
    return world


def test_a_refused_detach_is_fenced_then_the_failover_completes() -> None:
    with SimServer.from_world(_world("ecs.e-c1m1.large")) as sim:
        rec = _run(sim, _group())
        assert rec.result is Result.COMPLETED, rec.error
        names = [(s.name.value, s.status) for s in rec.steps]
        assert names[:3] == [("fence", "ok"), ("detach", "ok"), ("attach", "ok")]
        accepted = [e for e in sim.control.events() if e["kind"] == "calls"
                    and e["to"] == "DetachNetworkInterface"]
        assert len(accepted) == 1  # the refused one, then the one after the stop
        assert sim.control.instance("i-primary")["status"] == "Stopped"
        assert sim.control.eni("eni-svc")["instance"] == "i-standby"


def test_without_fencing_the_refusal_fails_the_failover_and_says_why() -> None:
    with SimServer.from_world(_world("ecs.e-c1m1.large")) as sim:
        rec = _run(sim, _group(fence="never"))
        assert rec.result is Result.FAILED
        assert "only while Stopped" in (rec.error or "") and "DetachRefused" in (rec.error or "")
        assert sim.control.instance("i-primary")["status"] == "Running"
        assert sim.control.eni("eni-svc")["instance"] == "i-primary"


def test_a_cold_standby_is_started_and_its_script_runs() -> None:
    cold = {"type": "ecs.t6-c1m1.large", "status": "Stopped"}
    world = _world(standby=cold)
    world["instances"][1].pop("hotplug")
    with SimServer.from_world(world) as sim:
        rec = _run(sim, _group())
        assert rec.result is Result.COMPLETED, rec.error
        assert sim.control.instance("i-standby")["status"] == "Running"
        assert sim.control.eni("eni-svc")["instance"] == "i-standby"
