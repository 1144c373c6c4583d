"""Instances through the SDK: describe, status, stop/start/reboot, instance types, vSwitches."""

from __future__ import annotations

import json
from typing import Any

from alibabacloud_ecs20140526 import models as m
from alibabacloud_vpc20160428 import models as vm

from harness.sim import SimServer, small_world
from harness.waiting import wait_for
from tests.integration.sim.util import REGION, expect_error


def status(ecs: Any, iid: str) -> str:
    body = ecs.describe_instance_status(
        m.DescribeInstanceStatusRequest(region_id=REGION, instance_id=[iid])
    ).body
    return str(body.instance_statuses.instance_status[0].status)


def test_describe_instances_shows_network_interfaces(ecs: Any) -> None:
    body = ecs.describe_instances(
        m.DescribeInstancesRequest(region_id=REGION, instance_ids=json.dumps(["i-primary"]))
    ).body
    assert body.total_count == 1
    inst = body.instances.instance[0]
    assert (inst.instance_id, inst.status, inst.instance_type, inst.zone_id) == (
        "i-primary",
        "Running",
        "ecs.g7.large",
        "cn-hangzhou-h",
    )
    assert inst.vpc_attributes.private_ip_address.ip_address == ["192.168.1.10"]
    nics = {n.network_interface_id: n for n in inst.network_interfaces.network_interface}
    assert nics["eni-p-i-primary"].type == "Primary" and nics["eni-svc"].type == "Secondary"
    assert nics["eni-svc"].mac_address == "00:16:3e:00:00:50"
    everyone = ecs.describe_instances(m.DescribeInstancesRequest(region_id=REGION, max_results=1)).body
    assert len(everyone.instances.instance) == 1 and everyone.next_token
    empty = ecs.describe_instances(m.DescribeInstancesRequest(region_id=REGION, instance_ids="[]")).body
    assert empty.instances.instance == [] and empty.total_count == 0
    expect_error(
        "InvalidParameter",
        400,
        lambda: ecs.describe_instances(
            m.DescribeInstancesRequest(region_id=REGION, instance_ids="i-primary")
        ),
    )


def test_stop_start_reboot_with_transitions() -> None:
    with SimServer.from_world(small_world(timing={"stop_s": 0.2, "start_s": 0.2})) as sim:
        ecs = sim.ecs_client()
        ecs.stop_instance(m.StopInstanceRequest(instance_id="i-standby"))
        assert status(ecs, "i-standby") == "Stopping"
        expect_error(
            "IncorrectInstanceStatus",
            403,
            lambda: ecs.start_instance(m.StartInstanceRequest(instance_id="i-standby")),
        )
        wait_for(lambda: status(ecs, "i-standby") == "Stopped")
        expect_error(
            "IncorrectInstanceStatus",
            403,
            lambda: ecs.stop_instance(m.StopInstanceRequest(instance_id="i-standby")),
        )
        ecs.start_instance(m.StartInstanceRequest(instance_id="i-standby"))
        assert status(ecs, "i-standby") == "Starting"
        wait_for(lambda: status(ecs, "i-standby") == "Running")
        ecs.reboot_instance(m.RebootInstanceRequest(instance_id="i-standby"))
        assert status(ecs, "i-standby") == "Stopping"
        wait_for(lambda: status(ecs, "i-standby") == "Running")
        seen = [e["to"] for e in sim.control.events() if e["id"] == "i-standby"]
        assert seen == ["Stopping", "Stopped", "Starting", "Running", "Stopping", "Starting", "Running"]
        expect_error(
            "InvalidInstanceId.NotFound",
            404,
            lambda: ecs.stop_instance(m.StopInstanceRequest(instance_id="i-nope")),
        )
        expect_error("MissingParameter", 400, lambda: ecs.start_instance(m.StartInstanceRequest()))


def test_instance_status_paging(ecs: Any) -> None:
    body = ecs.describe_instance_status(
        m.DescribeInstanceStatusRequest(region_id=REGION, page_size=1, page_number=2)
    ).body
    assert (body.total_count, body.page_number, body.page_size) == (2, 2, 1)
    assert [s.instance_id for s in body.instance_statuses.instance_status] == ["i-standby"]
    expect_error(
        "InvalidParameter",
        400,
        lambda: ecs.describe_instance_status(m.DescribeInstanceStatusRequest(region_id=REGION, page_size=51)),
    )


def test_instance_types_and_vswitches(ecs: Any, vpc: Any) -> None:
    types = ecs.describe_instance_types(m.DescribeInstanceTypesRequest(instance_types=["ecs.g7.large"])).body
    row = types.instance_types.instance_type[0]
    assert (row.instance_type_id, row.eni_quantity, row.eni_private_ip_address_quantity) == (
        "ecs.g7.large",
        3,
        10,
    )
    for client, request in ((ecs, m.DescribeVSwitchesRequest), (vpc, vm.DescribeVSwitchesRequest)):
        body = client.describe_vswitches(request(region_id=REGION, v_switch_id="vsw-a")).body
        vsw = body.v_switches.v_switch[0]
        assert (vsw.v_switch_id, vsw.vpc_id, vsw.zone_id, vsw.cidr_block) == (
            "vsw-a",
            "vpc-a",
            "cn-hangzhou-h",
            "192.168.1.0/24",
        )
        assert body.total_count == 1
