"""Injected faults seen through the SDK: throttling, 5xx, dropped connections, slow answers, QPS."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_tea_openapi.exceptions import ServerException, ThrottlingException
from darabonba.exceptions import UnretryableException
from darabonba.policy.retry import RetryOptions

from harness.sim import SimServer, small_world
from tests.integration.sim.util import REGION, attach, detach, eni_status, expect_error


def describe(ecs: Any) -> Any:
    return ecs.describe_instances(m.DescribeInstancesRequest(region_id=REGION))


def test_throttling_arrives_as_throttling_exception_with_retry_after(sim: SimServer, ecs: Any) -> None:
    sim.control.fault(
        action="DescribeInstances", code="Throttling.User", status=400, retry_after_ms=1500, count=1
    )
    with pytest.raises(ThrottlingException) as info:
        describe(ecs)
    assert (info.value.code, info.value.retry_after, info.value.status_code) == ("Throttling.User", 1500, 400)
    assert describe(ecs).status_code == 200  # count=1: only the next call


def test_qps_limit_throttles_like_the_gateway(sim: SimServer, ecs: Any) -> None:
    sim.control.qps("DescribeInstances", 2)
    describe(ecs)
    describe(ecs)
    with pytest.raises(ThrottlingException) as info:
        describe(ecs)
    assert info.value.code == "Throttling.User" and 0 < info.value.retry_after <= 1001
    ecs.describe_instance_status(m.DescribeInstanceStatusRequest(region_id=REGION))  # other actions are free
    sim.control.qps("DescribeInstances", None)
    describe(ecs)


def test_server_errors_drops_and_slow_answers(sim: SimServer, ecs: Any) -> None:
    sim.control.fault(action="*", code="ServiceUnavailable", status=503, count=1)
    expect_error("ServiceUnavailable", 503, lambda: describe(ecs), kind=ServerException)
    sim.control.fault(action="DescribeInstances", drop_connection=True, count=1)
    with pytest.raises(UnretryableException):
        describe(ecs)
    sim.control.latency("DescribeInstances", 1.0)
    with pytest.raises(UnretryableException):
        describe(sim.ecs_client(read_timeout=200))
    sim.control.latency("DescribeInstances", 0)
    sim.control.fault(action="DescribeInstances", code="InternalError", status=500, probability=0.0)
    assert describe(ecs).status_code == 200  # probability 0 never fires
    sim.control.clear_faults()
    assert sim.control.state()["faults"]["rules"] == []


def test_any_code_and_status_can_be_injected_on_one_action(sim: SimServer, ecs: Any) -> None:
    sim.control.fault(action="AttachNetworkInterface", code="InvalidOperation.Conflict", status=409, count=2)
    detach(ecs, "eni-svc", "i-primary")
    for _ in range(2):
        expect_error("InvalidOperation.Conflict", 409, lambda: attach(ecs, "eni-svc", "i-standby"))
    attach(ecs, "eni-svc", "i-standby")
    assert eni_status(ecs, "eni-svc") == ("InUse", "i-standby")


def test_sdk_retry_policy_rides_out_injected_throttling(sim: SimServer) -> None:
    retry = RetryOptions(
        {
            "retryable": True,
            "retryCondition": [
                {
                    "maxAttempts": 3,
                    "exception": ["ThrottlingException"],
                    "errorCode": ["Throttling.User"],
                    "backoff": {"policy": "Fixed", "period": 10},
                }
            ],
        }
    )
    sim.control.fault(action="DescribeInstances", code="Throttling.User", retry_after_ms=20, count=2)
    assert describe(sim.ecs_client(retry_options=retry)).body.total_count == 2
    assert sim.control.state()["faults"]["rules"] == []  # both injected answers were consumed


def test_concurrent_moves_stay_consistent() -> None:
    w = small_world()
    w["instances"] = [
        {
            "id": f"i-{n}",
            "vswitch": "vsw-a",
            "primary_ip": f"192.168.1.{10 + n}",
            "max_enis": 3,
            "max_ips_per_eni": 10,
        }
        for n in range(8)
    ]
    w["network_interfaces"] = [
        {"id": f"eni-{n}", "vswitch": "vsw-a", "primary_ip": f"192.168.1.{100 + n}", "instance": f"i-{n}"}
        for n in range(8)
    ]
    w["eips"] = []
    errors: list[BaseException] = []
    with SimServer.from_world(w) as sim:

        def flap(n: int) -> None:
            try:
                ecs = sim.ecs_client()
                here, there = f"i-{n}", f"i-{(n + 1) % 8}"
                for _ in range(5):
                    detach(ecs, f"eni-{n}", here)
                    attach(ecs, f"eni-{n}", there)
                    here, there = there, here
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=flap, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        enis = {e["id"]: e for e in sim.control.state()["enis"]}
        for n in range(8):
            assert (enis[f"eni-{n}"]["status"], enis[f"eni-{n}"]["instance"]) == ("InUse", f"i-{(n + 1) % 8}")
