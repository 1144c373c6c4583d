"""Deadlines and the API budget, through the real SDK against the emulator."""

from __future__ import annotations

import re
import time

import pytest

from failover.cloud import errors
from failover.cloud.budget import ApiBudget
from failover.cloud.sdk import ApiError
from failover.model import CallTrace, CloudError, CloudTimeout, ErrorKind, Priority
from failover.ports import SystemClock
from harness.cloud import MakeCloud, new_cloud, world_with_far_instance
from harness.sim import SimServer


def test_a_slow_api_gives_a_retryable_timeout_within_the_bound(sim: SimServer,
                                                               make_cloud: MakeCloud) -> None:
    cloud = make_cloud(connect_timeout_s=0.5, read_timeout_s=0.3)
    sim.control.latency("DescribeNetworkInterfaces", 5.0)
    trace = CallTrace()
    start = time.monotonic()
    with pytest.raises(ApiError) as exc:
        cloud.describe_eni("eni-svc", trace=trace)
    elapsed = time.monotonic() - start
    assert exc.value.kind is ErrorKind.RETRYABLE and exc.value.code == errors.TIMEOUT
    assert re.search(r"within the timeout \(connect \d+ ms, read \d+ ms\)", str(exc.value))
    # Bounded by the read deadline (connect + read timeouts: 0.8 s), far below the server's 5 s.
    assert elapsed < 3.0
    assert {c.code for c in trace.calls} == {errors.TIMEOUT}


def test_attach_wait_is_bounded_by_its_timeout() -> None:
    with SimServer.from_world(world_with_far_instance(attach_s=30.0)) as slow:
        cloud = new_cloud(slow, rate_per_s=100)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        start = time.monotonic()
        with pytest.raises(CloudTimeout) as exc:
            cloud.attach_eni("eni-svc", "i-standby", timeout_s=1.0)
        assert time.monotonic() - start < 5.0  # the ENI would settle only after 30 s
        assert exc.value.kind is ErrorKind.RETRYABLE
        assert "last seen Attaching on i-standby" in str(exc.value)


def test_reserve_keeps_failover_calls_going_while_polls_exhaust_the_budget(
        sim: SimServer, make_cloud: MakeCloud) -> None:
    budget = ApiBudget(0.5, 6, 0.5, clock=SystemClock(), routine_max_wait_s=0.2)
    cloud = make_cloud(budget=budget)
    polls = 0
    with pytest.raises(CloudError) as exc:
        for _ in range(20):
            cloud.instance_statuses(["i-primary", "i-standby"])
            polls += 1
    # 6 calls a 12 s window, 3 of them reserved for failover steps: routine polls get the
    # other 3, paced one per 4 s, so the second is refused within its 0.2 s bound.
    assert polls == 1
    assert exc.value.code == errors.BUDGET and exc.value.kind is ErrorKind.RETRYABLE
    assert "local API budget exhausted" in str(exc.value)
    # Failover steps spend the reserve on the very same action, while polls are refused.
    for _ in range(3):
        assert cloud.instance_statuses(["i-primary"], priority=Priority.FAILOVER) == {
            "i-primary": "Running"}
    with pytest.raises(CloudError):
        cloud.instance_statuses(["i-standby"])
    trace = CallTrace()
    cloud.force_stop("i-primary", timeout_s=15, trace=trace)
    assert sim.control.instance("i-primary")["status"] == "Stopped"
    assert trace.calls and all(c.code == "OK" for c in trace.calls)


def test_server_throttling_is_retried_after_the_retry_after(sim: SimServer,
                                                            make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    sim.control.fault(action="DescribeInstanceStatus", code="Throttling.User", status=400,
                      retry_after_ms=400, count=2)
    start = time.monotonic()
    assert cloud.instance_statuses(["i-primary"], priority=Priority.FAILOVER) == {
        "i-primary": "Running"}
    assert time.monotonic() - start >= 0.8  # two waits of at least the server's 400 ms


def test_fatal_errors_are_not_retried(sim: SimServer, make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    trace = CallTrace()
    with pytest.raises(CloudError) as exc:
        cloud.attach_eni("eni-nope", "i-standby", timeout_s=5, trace=trace)
    assert exc.value.kind is ErrorKind.FATAL
    assert len(trace.calls) == 1


def test_timeout_on_a_stop_that_never_ends(sim: SimServer, make_cloud: MakeCloud) -> None:
    cloud = make_cloud()
    sim.control.fault(action="StopInstance", code="InvalidOperation.InvalidEcsState", status=400)
    with pytest.raises(CloudTimeout) as exc:
        cloud.force_stop("i-primary", timeout_s=1.0)
    assert "InvalidOperation.InvalidEcsState" in str(exc.value)
