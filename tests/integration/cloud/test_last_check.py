"""The lease check runs a second time inside the SDK's transport: after the official SDK built
and signed the request, immediately before requests/urllib3 write its bytes (cloud/sdk.py).
Real SDK, real HTTP, the emulator's event log as the witness of what arrived."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from failover.cloud.sdk import SdkGateway, last_check
from failover.model import CallTrace, NotLeader, Priority
from harness.cloud import MakeCloud, cloud_config, world_with_far_instance
from harness.sim import SimServer


def mutations(sim: SimServer) -> list[str]:
    return [e["id"] for e in sim.control.events() if e.get("kind") == "mutation"]


def test_the_last_check_runs_after_signing_and_a_refusal_sends_nothing(sim: SimServer) -> None:
    last_check(None)  # nothing left armed on this thread by an earlier test's fake gateway
    gw = SdkGateway(cloud_config(sim))
    gw.call("DescribeInstances", {}, timeout_s=5.0)  # the endpoint's session exists from here
    seen: list[dict[str, Any]] = []

    def refuse() -> None:
        frames = [f.frame for f in inspect.stack()]
        # The SDK's transport call, made with the request it built and signed.
        sending = next(f for f in frames if f.f_code.co_name == "do_action")
        seen.append({"signed": "Authorization" in sending.f_locals["request"].headers,
                     "arrived": list(mutations(sim))})
        raise NotLeader("lease ran out")

    last_check(refuse)
    with pytest.raises(NotLeader, match="lease ran out"):
        gw.call("DetachNetworkInterface", {"NetworkInterfaceId": "eni-svc", "InstanceId": "i-primary"},
                timeout_s=5.0)
    assert seen == [{"signed": True, "arrived": []}]
    assert mutations(sim) == []  # refused unsent
    assert sim.control.eni("eni-svc")["instance"] == "i-primary"
    assert gw.unchecked_sends == 0

    passed: list[bool] = []
    last_check(lambda: passed.append(True))
    gw.call("DetachNetworkInterface", {"NetworkInterfaceId": "eni-svc", "InstanceId": "i-primary"},
            timeout_s=5.0)
    assert passed == [True] and mutations(sim) == ["DetachNetworkInterface"]
    gw.call("DescribeInstances", {}, timeout_s=5.0)  # disarmed after one call: nothing runs
    assert passed == [True]


def test_a_deposed_leaders_mutation_is_stopped_at_the_last_check_through_the_adapter(
        sim: SimServer, make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    cloud.describe_eni("eni-svc", priority=Priority.FAILOVER)
    leader = {"ok": True}
    checks: list[str] = []

    def early() -> None:  # the step's guard, before signing: the leader still holds its lease
        checks.append("guard")

    def lease() -> None:  # ...and it ran out while the SDK built and signed the request
        checks.append("fence")
        if not leader["ok"]:
            raise NotLeader("lease ran out")

    leader["ok"] = False
    with pytest.raises(NotLeader):
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=5.0,
                         trace=CallTrace(guard=early, fence=lease))
    assert checks == ["guard", "fence"]
    assert mutations(sim) == []
    assert sim.control.eni("eni-svc")["instance"] == "i-primary"


def test_an_endpoints_first_call_is_counted_when_it_goes_out_without_the_last_check() -> None:
    """darabonba makes a session on an endpoint's first call: that call cannot be reached by
    the adapter, and it is counted rather than passed off as checked."""
    with SimServer.from_world(world_with_far_instance()) as fresh:
        last_check(None)
        gw = SdkGateway(cloud_config(fresh))
        ran: list[bool] = []
        last_check(lambda: ran.append(True))
        gw.call("DescribeInstances", {}, timeout_s=5.0)
        assert ran == [] and gw.unchecked_sends == 1
        last_check(lambda: ran.append(True))
        gw.call("DescribeInstances", {}, timeout_s=5.0)
        assert ran == [True] and gw.unchecked_sends == 1
