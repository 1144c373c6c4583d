"""Moving the ENI through the real SDK against the emulator over HTTP."""

from __future__ import annotations

import time

import pytest

from failover.cloud.budget import ApiBudget
from failover.model import CallTrace, CloudError, DetachStalled, EniStatus, ErrorKind
from failover.ports import SystemClock
from harness.cloud import (
    MakeCloud,
    new_cloud,
    transitions,
    world_with_far_instance,
)
from harness.sim import SimServer

DETACH = [("InUse", "Detaching"), ("Detaching", "Available")]
ATTACH = [("Available", "Attaching"), ("Attaching", "InUse")]


def test_normal_move(sim: SimServer, make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    before = cloud.describe_eni("eni-svc")
    assert (before.status, before.instance_id) == (EniStatus.IN_USE, "i-primary")
    assert before.private_ips == ("192.168.1.50", "192.168.1.51")
    assert before.mac == "00:16:3e:00:00:50"
    trace = CallTrace()
    after_detach = cloud.detach_eni("eni-svc", "i-primary", timeout_s=10, trace=trace)
    assert after_detach.status is EniStatus.AVAILABLE and after_detach.instance_id is None
    after = cloud.attach_eni("eni-svc", "i-standby", timeout_s=10, trace=trace)
    assert (after.status, after.instance_id) == (EniStatus.IN_USE, "i-standby")
    eni = sim.control.eni("eni-svc")
    assert (eni["status"], eni["instance"]) == ("InUse", "i-standby")
    assert transitions(sim, "enis", "eni-svc") == DETACH + ATTACH
    actions = [c.action for c in trace.calls]
    assert actions.count("DetachNetworkInterface") == 1
    assert actions.count("AttachNetworkInterface") == 1
    assert all(c.code == "OK" and c.request_id for c in trace.calls)
    # The EIP followed the ENI (it is associated with the ENI, not with an instance).
    eips = cloud.eips_of_eni("eni-svc")
    assert [(e.ip, e.status) for e in eips] == [("47.100.0.1", "InUse")]
    result = cloud.run_script("i-standby", "ip -br addr\n", timeout_s=10, trace=trace)
    assert result.ok


def test_move_is_idempotent_when_repeated(sim: SimServer, make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
    cloud.attach_eni("eni-svc", "i-standby", timeout_s=10)
    trace = CallTrace()
    cloud.attach_eni("eni-svc", "i-standby", timeout_s=10, trace=trace)  # already there = done
    assert [c.action for c in trace.calls] == ["DescribeNetworkInterfaces"]
    assert transitions(sim, "enis", "eni-svc") == DETACH + ATTACH


def test_move_under_throttling_5xx_and_lost_answers(sim: SimServer, make_cloud: MakeCloud) -> None:
    """30 % of all calls fail, and the first mutations time out *after* taking effect."""
    cloud = make_cloud(read_timeout_s=0.5)
    for action in ("DetachNetworkInterface", "AttachNetworkInterface", "RunCommand"):
        # The server sleeps past our read timeout, then still executes the call.
        sim.control.fault(action=action, delay_s=0.8, count=1)
    sim.control.fault(action="*", code="Throttling.User", status=400, retry_after_ms=100,
                      probability=0.15)
    sim.control.fault(action="*", code="ServiceUnavailable", status=503, probability=0.18)
    trace = CallTrace()
    cloud.detach_eni("eni-svc", "i-primary", timeout_s=20, trace=trace)
    cloud.attach_eni("eni-svc", "i-standby", timeout_s=20, trace=trace)
    result = cloud.run_script("i-standby", "echo moved\n", timeout_s=20, trace=trace)
    assert result.ok
    sim.control.clear_faults()
    eni = sim.control.eni("eni-svc")
    assert (eni["status"], eni["instance"]) == ("InUse", "i-standby")
    # Each side effect happened exactly once, whatever was retried.
    assert transitions(sim, "enis", "eni-svc") == DETACH + ATTACH
    created = [e for e in sim.control.events() if e["kind"] == "invocations" and e["to"] == "Created"]
    assert len(created) == 1
    codes = {c.code for c in trace.calls}
    assert "Timeout" in codes
    assert codes & {"Throttling.User", "ServiceUnavailable"}, codes


def test_hung_primary_detach_stalls_and_fencing_frees_the_eni(sim: SimServer,
                                                              make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    sim.control.hang("i-primary")
    trace = CallTrace()
    with pytest.raises(DetachStalled) as exc:
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=1.5, trace=trace)
    assert exc.value.kind is ErrorKind.CONFLICT
    assert "i-primary" in str(exc.value) and "Detaching" in str(exc.value)
    # Re-sent once at half the timeout, as the documentation advises for a stuck detach.
    assert [c.action for c in trace.calls].count("DetachNetworkInterface") == 2
    assert sim.control.eni("eni-svc")["status"] == "Detaching"
    cloud.force_stop("i-primary", timeout_s=10)
    assert sim.control.instance("i-primary")["status"] == "Stopped"
    cloud.force_stop("i-primary", timeout_s=10)  # already stopped = done
    state = cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
    assert state.status is EniStatus.AVAILABLE
    cloud.attach_eni("eni-svc", "i-standby", timeout_s=10)
    stops = [t for t in transitions(sim, "instances", "i-primary") if t[1] == "Stopping"]
    assert len(stops) == 1


def test_attach_refused_for_a_zone_mismatch_is_fatal_and_clear(sim: SimServer,
                                                               make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
    with pytest.raises(CloudError) as exc:
        cloud.attach_eni("eni-svc", "i-far", timeout_s=10)
    err = exc.value
    assert err.kind is ErrorKind.FATAL
    assert err.code == "InvalidOperation.AvailabilityZoneMismatch"
    assert err.request_id
    message = str(err)
    for needle in ("eni-svc", "i-far", "cn-hangzhou-h", "cn-hangzhou-i", "different zones"):
        assert needle in message, message
    assert sim.control.eni("eni-svc")["status"] == "Available"


def test_attach_to_an_instance_holding_it_elsewhere_is_refused(sim: SimServer,
                                                               make_cloud: MakeCloud) -> None:
    with pytest.raises(CloudError) as exc:
        make_cloud().attach_eni("eni-svc", "i-standby", timeout_s=5)
    assert exc.value.kind is ErrorKind.FATAL
    assert "attached to i-primary, not i-standby" in str(exc.value)


def test_failed_attach_falls_back_and_is_re_sent(sim: SimServer, make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
    sim.control.fail_next_attach("eni-svc")
    trace = CallTrace()
    cloud.attach_eni("eni-svc", "i-standby", timeout_s=10, trace=trace)  # re-sent in the wait
    assert sim.control.eni("eni-svc")["instance"] == "i-standby"
    assert [c.action for c in trace.calls].count("AttachNetworkInterface") == 2
    failed = [e for e in sim.control.events() if e["id"] == "eni-svc" and e.get("error")]
    assert [(e["from"], e["to"]) for e in failed] == [("InUse", "Available")]


def test_fresh_adapter_resumes_an_eni_left_detaching(sim: SimServer, make_cloud: MakeCloud) -> None:
    # A previous leader sent the detach and died; the guest is slow to let go.
    from alibabacloud_ecs20140526 import models

    sim.control.hang("i-primary")
    sim.ecs_client().detach_network_interface(models.DetachNetworkInterfaceRequest(
        region_id=sim.region, network_interface_id="eni-svc", instance_id="i-primary"))
    assert sim.control.eni("eni-svc")["status"] == "Detaching"
    sim.control.unhang("i-primary")  # the guest lets go a moment later
    fresh = make_cloud()
    trace = CallTrace()
    state = fresh.detach_eni("eni-svc", "i-primary", timeout_s=10, trace=trace)
    assert state.status is EniStatus.AVAILABLE
    assert "DetachNetworkInterface" not in [c.action for c in trace.calls]  # it only waited
    fresh.attach_eni("eni-svc", "i-standby", timeout_s=10)
    assert transitions(sim, "enis", "eni-svc") == DETACH + ATTACH


def test_fresh_adapter_resumes_an_available_eni_with_no_holder(sim: SimServer,
                                                               make_cloud: MakeCloud) -> None:
    make_cloud().detach_eni("eni-svc", "i-primary", timeout_s=10)  # then the leader died
    fresh = make_cloud()
    trace = CallTrace()
    assert fresh.detach_eni("eni-svc", "i-primary", timeout_s=10, trace=trace).status \
        is EniStatus.AVAILABLE
    assert [c.action for c in trace.calls] == ["DescribeNetworkInterfaces"]
    state = fresh.attach_eni("eni-svc", "i-standby", timeout_s=10)
    assert (state.status, state.instance_id) == (EniStatus.IN_USE, "i-standby")
    assert transitions(sim, "enis", "eni-svc") == DETACH + ATTACH


def test_fresh_adapter_resumes_an_attach_in_flight(sim: SimServer, make_cloud: MakeCloud) -> None:
    from alibabacloud_ecs20140526 import models

    make_cloud().detach_eni("eni-svc", "i-primary", timeout_s=10)
    sim.ecs_client().attach_network_interface(models.AttachNetworkInterfaceRequest(
        region_id=sim.region, network_interface_id="eni-svc", instance_id="i-standby"))
    trace = CallTrace()
    state = make_cloud().attach_eni("eni-svc", "i-standby", timeout_s=10, trace=trace)
    assert state.instance_id == "i-standby"
    assert "AttachNetworkInterface" not in [c.action for c in trace.calls]
    assert transitions(sim, "enis", "eni-svc") == DETACH + ATTACH


def three_runs(rate_per_s: float) -> tuple[list[int], list[float]]:
    """Three 0.6 s commands one after another: the describe looks each took, and its time."""
    with SimServer.from_world(world_with_far_instance(command_s=0.6)) as sim:
        budget = ApiBudget(rate_per_s, max(1, int(rate_per_s)), 0.3, clock=SystemClock())
        cloud = new_cloud(sim, budget=budget)
        looks = []
        took = []
        for _ in range(3):
            trace = CallTrace()
            t0 = time.monotonic()
            assert cloud.run_script("i-standby", "true\n", timeout_s=10, trace=trace).ok
            took.append(time.monotonic() - t0)
            looks.append(sum(c.action.startswith("DescribeInvocation") for c in trace.calls))
    return looks, took


def test_a_command_is_looked_at_first_where_recent_runs_were_seen_done_when_looks_are_scarce() -> None:
    """4 calls/s per describe action: dense looks (10/s) would crowd it. The first run polls
    densely and learns ~0.6 s; the next ones are looked at once, at that time."""
    looks, took = three_runs(4.0)
    assert looks[0] >= 3  # dense polls, nothing learned yet
    assert looks[1:] == [1, 1]
    # ... and no later for it: the aimed look is where the dense ones saw the run done.
    assert max(took[1:]) < took[0] + 0.05


def test_a_command_is_looked_at_densely_while_the_budget_has_room() -> None:
    """A lone failover's guest step: aiming would cost the runs that end early their lag."""
    looks, _ = three_runs(200.0)
    assert min(looks) >= 3
