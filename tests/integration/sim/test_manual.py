"""Outside the controller: an ENI detached or moved by hand, an odd reported status, attach faults
aimed at one instance (the control routes of failover/sim/manual.py and `match` fault rules)."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as m

from harness.sim import SimControlError, SimServer, small_world
from harness.waiting import wait_for
from tests.integration.sim.util import REGION, attach, detach, eni_status, expect_error


def test_detach_by_hand_frees_the_eni_and_logs_who_did_it(sim: SimServer, ecs: Any) -> None:
    sim.control.detach_by_hand("eni-svc")
    wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available")
    kinds = [(e["kind"], e["to"]) for e in sim.control.events()]
    assert ("calls", "ByHand") in kinds and ("enis", "Detaching") in kinds
    with pytest.raises(SimControlError) as info:
        sim.control.detach_by_hand("eni-svc")  # nothing to detach any more
    assert info.value.status == 409


def test_move_by_hand_detaches_then_attaches_to_the_other_instance() -> None:
    world = small_world(timing={"attach_s": 0.1, "detach_s": 0.1, "command_s": 0.0})
    with SimServer.from_world(world) as sim:
        ecs = sim.ecs_client()
        sim.control.move_by_hand("eni-svc", "i-standby")
        wait_for(lambda: eni_status(ecs, "eni-svc") == ("InUse", "i-standby"), timeout=5)
        order = [e["to"] for e in sim.control.events() if e["kind"] == "enis" and e["id"] == "eni-svc"]
        assert order == ["Detaching", "Available", "Attaching", "InUse"]


def test_move_by_hand_names_a_known_instance(sim: SimServer) -> None:
    with pytest.raises(SimControlError) as info:
        sim.control.move_by_hand("eni-svc", "i-nope")
    assert info.value.status == 400 and "to:" in info.value.body


def test_a_shown_status_is_any_string_and_refuses_moves_while_shown(sim: SimServer, ecs: Any) -> None:
    sim.control.report_status("eni-svc", "Creating")
    assert eni_status(ecs, "eni-svc") == ("Creating", "i-primary")
    listed = ecs.describe_network_interfaces(m.DescribeNetworkInterfacesRequest(
        region_id=REGION, network_interface_id=["eni-svc"])).body
    assert listed.network_interface_sets.network_interface_set[0].status == "Creating"
    expect_error("InvalidOperation.InvalidEniState", 400, lambda: detach(ecs, "eni-svc", "i-primary"))
    assert sim.control.eni("eni-svc")["status"] == "InUse"  # the real state is untouched
    sim.control.report_status("eni-svc", None)
    assert eni_status(ecs, "eni-svc") == ("InUse", "i-primary")


def test_a_matched_fault_fails_attaches_to_one_instance_only(sim: SimServer, ecs: Any) -> None:
    sim.control.fault(action="AttachNetworkInterface", code="InvalidOperation.InvalidEcsState",
                      status=400, match={"InstanceId": "i-standby"})
    detach(ecs, "eni-svc", "i-primary")
    for _ in range(2):  # persistent: no count
        expect_error("InvalidOperation.InvalidEcsState", 400, lambda: attach(ecs, "eni-svc", "i-standby"))
    assert sim.control.eni("eni-svc")["status"] == "Available"
    attach(ecs, "eni-svc", "i-primary")  # another instance is not matched
    assert eni_status(ecs, "eni-svc") == ("InUse", "i-primary")


def test_match_must_map_names_to_strings(sim: SimServer) -> None:
    with pytest.raises(SimControlError) as info:
        sim.control.fault(action="AttachNetworkInterface", code="X", match={"InstanceId": 3})
    assert info.value.status == 400 and "match" in info.value.body
