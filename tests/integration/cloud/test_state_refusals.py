"""The adapter against a cloud that lags and refuses (real SDK, emulator over HTTP): calls
refused for a resource's state back off one call per step; a detach refused because the
holder runs and its type releases an ENI only while Stopped escalates at once; an attach is
judged by what describe lag cannot fake; an empty InstanceId while Attaching is waited on."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from failover.cloud.moves import DETACH_REFUSED
from failover.cloud.sdk import ApiError, SdkGateway
from failover.model import CallTrace, DetachStalled, EniStatus, ErrorKind
from harness.cloud import K, Timed, cloud_config, scaled_cloud
from harness.sim import SimServer, small_world

pytestmark = pytest.mark.timeout(60)


def _world(instance_type: str | None = None, **timing: Any) -> dict[str, Any]:
    world = small_world(timing={"attach_s": 0.2, "detach_s": 0.2, "command_s": 0.0, **timing})
    if instance_type:
        for inst in world["instances"]:
            inst["type"] = instance_type
            del inst["hotplug"]  # the type decides
    return world


def _calls(trace: CallTrace, action: str) -> list[Any]:
    return [c for c in trace.calls if c.action == action]


def test_a_state_refusal_is_retried_once_per_back_off_step() -> None:
    """~150 refused calls in 30 s before (re-sent at poll cadence); now one per step."""
    with SimServer.from_world(_world()) as sim:
        sim.control.fault(action="DetachNetworkInterface", code="InvalidOperation.InvalidEniState",
                          status=400, count=6)
        trace, gw = CallTrace(), Timed(SdkGateway(cloud_config(sim)))
        state = scaled_cloud(sim, gw).detach_eni("eni-svc", "i-primary", timeout_s=20, trace=trace)
        assert state.status is EniStatus.AVAILABLE
        sent = _calls(trace, "DetachNetworkInterface")
        assert [c.code for c in sent] == ["InvalidOperation.InvalidEniState"] * 6 + ["OK"]
        # holds after refusals 1..6: 0.1, 0.2, 0.3, 0.3, 0.3, 0.3 s (x K of 1, 2, 3 s steps):
        # at most one call per step
        starts = gw.times("DetachNetworkInterface")
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        for gap, hold in zip(gaps, [0.1, 0.2, 0.3, 0.3, 0.3, 0.3], strict=True):
            assert gap >= hold - 0.005, (gaps, hold)
        assert max(gaps) < 0.3 + 0.25  # and not much later: the reads went on meanwhile
        assert len(gw.times("DescribeNetworkInterfaces")) > len(starts)


def test_a_running_stop_to_attach_holder_refuses_the_detach_and_it_escalates_at_once() -> None:
    with SimServer.from_world(_world("ecs.e-c1m1.large")) as sim:
        cloud = scaled_cloud(sim)
        trace = CallTrace()
        with pytest.raises(DetachStalled) as info:
            cloud.detach_eni("eni-svc", "i-primary", timeout_s=20, trace=trace)
        assert info.value.code == DETACH_REFUSED and info.value.kind is ErrorKind.CONFLICT
        assert "only while Stopped" in str(info.value) and "force stop" in str(info.value)
        assert len(_calls(trace, "DetachNetworkInterface")) == 1  # no spinning, no waiting it out
        # the remedy the fence policy applies next
        cloud.force_stop("i-primary", timeout_s=10)
        assert cloud.detach_eni("eni-svc", "i-primary", timeout_s=10).status is EniStatus.AVAILABLE


def test_an_attach_to_a_running_stop_to_attach_target_is_fatal_for_that_target() -> None:
    with SimServer.from_world(_world("ecs.t6-c1m1.large")) as sim:
        cloud = scaled_cloud(sim)
        sim.control.instance_action("i-primary", "stop")
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        trace = CallTrace()
        with pytest.raises(ApiError) as info:
            cloud.attach_eni("eni-svc", "i-standby", timeout_s=10, trace=trace)
        assert info.value.kind is ErrorKind.FATAL and "cold standby" in str(info.value)
        assert len(_calls(trace, "AttachNetworkInterface")) == 1


def test_an_attach_the_describes_do_not_show_yet_is_not_failed_nor_re_sent() -> None:
    """Before: two Available reads 0.15 s and 0.35 s after the call marked it failed."""
    with SimServer.from_world(_world(describe_lag_s=0.25, attach_s=0.6)) as sim:
        cloud = scaled_cloud(sim)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        trace = CallTrace()
        state = cloud.attach_eni("eni-svc", "i-standby", timeout_s=10, trace=trace)
        assert (state.status, state.instance_id) == (EniStatus.IN_USE, "i-standby")
        assert [c.code for c in _calls(trace, "AttachNetworkInterface")] == ["OK"]


def test_an_attach_never_seen_is_re_sent_after_the_lag_allowance() -> None:
    """An attach that fails before any read shows it Attaching: no evidence either way, so
    it is sent again once the describes cannot be lagging any more."""
    with SimServer.from_world(_world(attach_s=0.0)) as sim:
        gw = Timed(SdkGateway(cloud_config(sim)))
        cloud = scaled_cloud(sim, gw)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        sim.control.request("POST", "/enis/eni-svc/fail_attach", {})
        state = cloud.attach_eni("eni-svc", "i-standby", timeout_s=10)
        assert state.status is EniStatus.IN_USE
        sent = gw.times("AttachNetworkInterface")
        assert len(sent) == 2 and sent[1] - sent[0] >= 3.0 * K - 0.005


def test_an_empty_instance_id_while_attaching_is_tolerated() -> None:
    with SimServer.from_world(_world(hide_attaching_instance=True, attach_s=0.5)) as sim:
        cloud = scaled_cloud(sim)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        trace = CallTrace()
        state = cloud.attach_eni("eni-svc", "i-standby", timeout_s=10, trace=trace)
        assert (state.status, state.instance_id) == (EniStatus.IN_USE, "i-standby")
        assert len(_calls(trace, "AttachNetworkInterface")) == 1


def test_a_fall_back_seen_after_attaching_is_re_sent_once() -> None:
    with SimServer.from_world(_world(hide_attaching_instance=True, describe_lag_s=0.05,
                                     attach_s=0.5)) as sim:
        gw = Timed(SdkGateway(cloud_config(sim)))
        cloud = scaled_cloud(sim, gw)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        sim.control.request("POST", "/enis/eni-svc/fail_attach", {})  # the next attach fails
        state = cloud.attach_eni("eni-svc", "i-standby", timeout_s=10)
        assert state.status is EniStatus.IN_USE and len(gw.times("AttachNetworkInterface")) == 2


def test_an_attach_the_cloud_fails_twice_is_a_failed_attach() -> None:
    timing = {"profile": "realistic", "time_scale": 0.02, "attach_failure_share": 1.0,
              "stuck_detach_share": 0}
    with SimServer.from_world(small_world(timing=timing)) as sim:
        gw = Timed(SdkGateway(cloud_config(sim)))
        cloud = scaled_cloud(sim, gw)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        with pytest.raises(ApiError) as info:
            cloud.attach_eni("eni-svc", "i-standby", timeout_s=20)
        assert info.value.code == "AttachFailed" and info.value.kind is ErrorKind.RETRYABLE
        assert len(gw.times("AttachNetworkInterface")) == 2


def test_a_refused_force_stop_backs_off_too() -> None:
    with SimServer.from_world(_world()) as sim:
        sim.control.fault(action="StopInstance", code="IncorrectInstanceStatus", status=403, count=3)
        gw = Timed(SdkGateway(cloud_config(sim)))
        scaled_cloud(sim, gw).force_stop("i-primary", timeout_s=20)
        starts = gw.times("StopInstance")
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert len(starts) == 4
        for gap, hold in zip(gaps, [0.1, 0.2, 0.3], strict=True):
            assert gap >= hold - 0.005, (gaps, hold)
        assert sim.control.instance("i-primary")["status"] == "Stopped"
