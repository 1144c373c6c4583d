"""The emulator's cloud-like misbehaviour through the official SDK: describe lag, a hidden
InstanceId while Attaching, extra statuses, stop-to-attach types (attach and detach), crashed
guests stalling detaches, RunCommand refused off Running, and the classic signature error text."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as m

from harness.sim import AK, SimServer, small_world
from harness.waiting import wait_for
from tests.integration.sim.test_commands import run
from tests.integration.sim.util import REGION, attach, detach, eni_status, expect_error


def _world(**timing: Any) -> dict[str, Any]:
    return small_world(timing={"attach_s": 0.0, "detach_s": 0.0, "command_s": 0.0, **timing})


def _listed(ecs: Any, **filters: Any) -> list[str]:
    body = ecs.describe_network_interfaces(
        m.DescribeNetworkInterfacesRequest(region_id=REGION, **filters)).body
    return [e.network_interface_id for e in body.network_interface_sets.network_interface_set]


def test_describes_lag_an_accepted_call_then_catch_up() -> None:
    with SimServer.from_world(_world(describe_lag_s=0.4)) as sim:
        ecs = sim.ecs_client()
        detach(ecs, "eni-svc", "i-primary")
        # the detach is done at once (detach_s 0) but the describes still show the old state
        assert eni_status(ecs, "eni-svc") == ("InUse", "i-primary")
        assert "eni-svc" in _listed(ecs, status="InUse", instance_id="i-primary")
        assert sim.control.eni("eni-svc")["status"] == "Available"  # the truth, as the cloud has it
        began = time.monotonic()
        wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available", timeout=3.0)
        assert time.monotonic() - began >= 0.3


def test_the_lag_shows_available_after_an_accepted_attach_and_refuses_a_second_one() -> None:
    with SimServer.from_world(_world(describe_lag_s=0.5, attach_s=5.0)) as sim:
        ecs = sim.ecs_client()
        detach(ecs, "eni-svc", "i-primary")
        wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available", timeout=3.0)
        attach(ecs, "eni-svc", "i-standby")
        assert eni_status(ecs, "eni-svc")[0] == "Available"  # looks like nothing happened
        expect_error("InvalidOperation.InvalidEniState", 400, lambda: attach(ecs, "eni-svc", "i-standby"))
        wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Attaching", timeout=3.0)


def test_instance_id_is_empty_while_attaching_when_hidden() -> None:
    with SimServer.from_world(_world(hide_attaching_instance=True, attach_s=5.0)) as sim:
        ecs = sim.ecs_client()
        detach(ecs, "eni-svc", "i-primary")
        attach(ecs, "eni-svc", "i-standby")
        assert eni_status(ecs, "eni-svc") == ("Attaching", "")
        body = ecs.describe_network_interfaces(m.DescribeNetworkInterfacesRequest(
            region_id=REGION, network_interface_id=["eni-svc"])).body
        assert body.network_interface_sets.network_interface_set[0].attachment is None
        assert sim.control.eni("eni-svc")["instance"] == "i-standby"


def test_an_extra_status_is_shown_and_refuses_moves(sim: SimServer, ecs: Any) -> None:
    for shown in ("Creating", "Hibernating"):  # terway's Creating, and a string nobody knows
        sim.control.request("POST", "/enis/eni-svc/status", {"status": shown})
        assert eni_status(ecs, "eni-svc") == (shown, "i-primary")
        assert _listed(ecs, status=shown) == ["eni-svc"]
        expect_error("InvalidOperation.InvalidEniState", 400, lambda: detach(ecs, "eni-svc", "i-primary"))
    sim.control.request("POST", "/enis/eni-svc/status", {"status": None})
    assert eni_status(ecs, "eni-svc") == ("InUse", "i-primary")
    detach(ecs, "eni-svc", "i-primary")


def test_an_extra_status_from_the_world_file() -> None:
    world = _world()
    world["network_interfaces"][0]["shown_status"] = "Creating"
    with SimServer.from_world(world) as sim:
        assert eni_status(sim.ecs_client(), "eni-svc")[0] == "Creating"


@pytest.mark.parametrize("itype", ["ecs.e-c1m1.large", "ecs.t6-c1m1.large", "ecs.s6-c1m2.small"])
def test_stop_to_attach_types_refuse_attach_and_detach_while_running(itype: str) -> None:
    world = _world()
    for inst in world["instances"]:
        inst["type"] = itype
        del inst["hotplug"]  # the type decides
    with SimServer.from_world(world) as sim:
        ecs = sim.ecs_client()
        err = expect_error("InvalidOperation.InvalidEcsState", 400,
                           lambda: detach(ecs, "eni-svc", "i-primary"))
        assert "only while Stopped" in err.message
        assert eni_status(ecs, "eni-svc") == ("InUse", "i-primary")
        sim.control.instance_action("i-primary", "stop")
        wait_for(lambda: sim.control.instance("i-primary")["status"] == "Stopped")
        detach(ecs, "eni-svc", "i-primary")  # Stopped: allowed
        wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available")
        expect_error("InvalidOperation.InvalidEcsState", 400, lambda: attach(ecs, "eni-svc", "i-standby"))
        sim.control.instance_action("i-standby", "stop")
        wait_for(lambda: sim.control.instance("i-standby")["status"] == "Stopped")
        attach(ecs, "eni-svc", "i-standby")
        wait_for(lambda: eni_status(ecs, "eni-svc") == ("InUse", "i-standby"))


def test_the_world_can_name_its_own_stop_to_attach_types() -> None:
    world = _world()
    world["stop_to_attach_types"] = ["ecs.g7"]
    del world["instances"][0]["hotplug"]
    with SimServer.from_world(world) as sim:
        expect_error("InvalidOperation.InvalidEcsState", 400,
                     lambda: detach(sim.ecs_client(), "eni-svc", "i-primary"))


@pytest.mark.parametrize("stall", [True, False])
def test_a_crash_stalls_the_detach_when_it_says_so(sim: SimServer, ecs: Any, stall: bool) -> None:
    sim.control.request("POST", "/instances/i-primary/crash", {"stall_detach": stall})
    detach(ecs, "eni-svc", "i-primary")
    if not stall:
        wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available")
        return
    time.sleep(0.3)
    assert eni_status(ecs, "eni-svc")[0] == "Detaching"
    sim.control.unhang("i-primary")  # not a hang: stays
    time.sleep(0.1)
    assert eni_status(ecs, "eni-svc")[0] == "Detaching"
    sim.control.instance_action("i-primary", "stop")  # stopping lets go
    wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available", timeout=3.0)


def test_crash_stalls_are_a_share_of_detaches() -> None:
    stalled = 0
    for seed in range(12):
        world = _world(crash_stall_share=0.5)
        world["seed"] = seed
        with SimServer.from_world(world) as sim:
            ecs = sim.ecs_client()
            sim.control.crash("i-primary")
            detach(ecs, "eni-svc", "i-primary")
            time.sleep(0.05)
            stalled += eni_status(ecs, "eni-svc")[0] == "Detaching"
    assert 2 <= stalled <= 10  # about half; never all or none over 12 seeds


def test_run_command_is_refused_off_running(sim: SimServer, ecs: Any) -> None:
    sim.control.instance_action("i-standby", "stop")
    wait_for(lambda: sim.control.instance("i-standby")["status"] == "Stopped")
    err = expect_error("InvalidInstance.NotMatch", 403, lambda: run(ecs, "true", ["i-standby"]))
    assert "Stopped" in err.message
    run(ecs, "true", ["i-primary"])  # a Running one still runs


def test_the_classic_signature_error_carries_the_servers_string_to_sign(sim: SimServer) -> None:
    """aliyun-python-sdk-core splits the message at ':' to compare string-to-signs: without
    the colon it raised IndexError instead of reporting the wrong secret."""
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest

    req = CommonRequest(domain=sim.endpoint, version="2014-05-26", action_name="DescribeInstanceStatus")
    req.set_protocol_type("http")
    req.set_method("POST")
    req.add_query_param("RegionId", REGION)
    with pytest.raises(ServerException) as info:
        AcsClient(AK, "not-the-secret", REGION).do_action_with_exception(req)
    assert info.value.get_error_code() in ("SignatureDoesNotMatch", "InvalidAccessKeySecret")
    assert info.value.get_http_status() == 400
    message = info.value.get_error_msg()
    assert message.split(":")[1].startswith("POST&%2F&AccessKeyId%3D" + AK)


def test_the_acs3_signature_error_carries_its_string_to_sign(sim: SimServer) -> None:
    ecs = sim.ecs_client(secret="not-the-secret")
    err = expect_error("SignatureDoesNotMatch", 400, lambda: ecs.describe_instance_status(
        m.DescribeInstanceStatusRequest(region_id=REGION)))
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in err.message
