"""A cold standby (Stopped, of a type that takes an ENI only while Stopped) through the real
SDK: the ENI attaches to it Stopped, RunCommand refuses it until it is started, and
`ensure_running` starts it and waits for Running and Cloud Assistant online."""

from __future__ import annotations

from typing import Any

import pytest

from failover.cloud.sdk import ApiError, SdkGateway
from failover.model import CallTrace, CloudTimeout, EniStatus, ErrorKind
from harness.cloud import K, Timed, cloud_config, scaled_cloud
from harness.sim import SimServer, small_world

pytestmark = pytest.mark.timeout(60)


def _world(**timing: Any) -> dict[str, Any]:
    world = small_world(timing={"attach_s": 0.1, "detach_s": 0.1, "command_s": 0.0,
                                "start_s": 0.5, **timing})
    standby = world["instances"][1]
    standby.update(type="ecs.t6-c1m1.large", status="Stopped")
    del standby["hotplug"]
    return world


def test_the_eni_moves_to_a_stopped_standby_which_is_started_before_the_script() -> None:
    with SimServer.from_world(_world()) as sim:
        gw = Timed(SdkGateway(cloud_config(sim)))
        cloud = scaled_cloud(sim, gw)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        assert cloud.attach_eni("eni-svc", "i-standby", timeout_s=10).status is EniStatus.IN_USE
        with pytest.raises(ApiError) as info:  # why it must be started first
            cloud.run_script("i-standby", "true\n", timeout_s=5)
        assert info.value.code == "InvalidInstance.NotMatch" and info.value.kind is ErrorKind.FATAL
        trace = CallTrace()
        assert cloud.ensure_running("i-standby", timeout_s=20, trace=trace) is True
        assert sim.control.instance("i-standby")["status"] == "Running"
        assert [c.action for c in trace.calls].count("StartInstance") == 1
        assert "DescribeCloudAssistantStatus" in [c.action for c in trace.calls]
        assert cloud.run_script("i-standby", "true\n", timeout_s=5).ok
        # a Running one costs one status read and nothing else
        again = CallTrace()
        assert cloud.ensure_running("i-standby", timeout_s=20, trace=again) is False
        assert [c.action for c in again.calls] == ["DescribeInstanceStatus"]


def test_it_waits_for_the_agent_and_says_so_when_it_never_comes() -> None:
    with SimServer.from_world(_world()) as sim:
        sim.control.cloud_assistant("i-standby", False)
        cloud = scaled_cloud(sim)
        with pytest.raises(CloudTimeout) as info:
            cloud.ensure_running("i-standby", timeout_s=3 * K * 10)
        assert "Cloud Assistant not online" in str(info.value)
        assert sim.control.instance("i-standby")["status"] == "Running"
