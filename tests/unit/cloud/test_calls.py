"""The retrying caller, against a scripted gateway (our own `calls.Gateway` protocol)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from failover.cloud.budget import ApiBudget
from failover.cloud.calls import Caller
from failover.cloud.sdk import ApiError, Reply
from failover.cloud.waiting import Deadline
from failover.metrics import REGISTRY
from failover.model import CallTrace, CloudTimeout, ErrorKind, NotLeader, Priority
from harness.clock import FakeClock
from harness.cloud import new_cloud


class Scripted:
    """Answers from a list: an ApiError is raised, a dict is returned as the body."""

    def __init__(self, clock: FakeClock, answers: list[ApiError | dict[str, Any]],
                 latency_s: float = 0.01) -> None:
        self.clock = clock
        self.answers = answers
        self.latency_s = latency_s
        self.calls: list[tuple[str, float]] = []

    def ready(self) -> None:
        self.calls.append(("<ready>", 0.0))

    def call(self, action: str, params: Mapping[str, Any], *, timeout_s: float) -> Reply:
        self.calls.append((action, timeout_s))
        self.clock.sleep(self.latency_s)
        answer = self.answers.pop(0)
        if isinstance(answer, ApiError):
            raise answer
        return Reply(body=answer, request_id=str(answer.get("RequestId")))


def err(code: str, kind: ErrorKind, retry_after_ms: int | None = None) -> ApiError:
    return ApiError(f"{code}!", kind=kind, code=code, action="X", request_id="RID-ERR",
                    retry_after_ms=retry_after_ms)


def make(answers: list[ApiError | dict[str, Any]]) -> tuple[Caller, Scripted, FakeClock]:
    clock = FakeClock(1000.0)
    gw = Scripted(clock, answers)
    budget = ApiBudget(100.0, 100, 0.2, clock=clock)
    return Caller(gw, budget, clock, random.Random(7)), gw, clock


def sample(action: str, code: str) -> float:
    v = REGISTRY.get_sample_value("failover_cloud_api_calls_total", {"action": action, "code": code})
    return v or 0.0


def test_retryable_errors_are_retried_honouring_retry_after_and_all_recorded() -> None:
    caller, gw, clock = make([
        err("Throttling.User", ErrorKind.RETRYABLE, retry_after_ms=1500),
        err("ServiceUnavailable", ErrorKind.RETRYABLE),
        {"RequestId": "RID-OK"},
    ])
    before = sample("UnitRetry", "OK")
    trace = CallTrace()
    reply = caller.retrying("UnitRetry", {}, priority=Priority.FAILOVER,
                            deadline=Deadline.after(clock, 30), trace=trace)
    assert reply.request_id == "RID-OK"
    assert [c.code for c in trace.calls] == ["Throttling.User", "ServiceUnavailable", "OK"]
    assert trace.request_ids == ("RID-ERR", "RID-ERR", "RID-OK")
    assert clock.slept[1] >= 1.5  # the server's retry-after is a floor
    assert sample("UnitRetry", "OK") == before + 1
    assert len(gw.calls) == 3


def test_fatal_and_conflict_errors_are_not_retried() -> None:
    for kind in (ErrorKind.FATAL, ErrorKind.CONFLICT):
        caller, gw, clock = make([err("Nope", kind), {"RequestId": "x"}])
        with pytest.raises(ApiError):
            caller.retrying("UnitFatal", {}, priority=Priority.FAILOVER,
                            deadline=Deadline.after(clock, 30), trace=None)
        assert len(gw.calls) == 1


def test_retries_stop_at_the_deadline_with_the_last_real_error() -> None:
    caller, gw, clock = make([err("InternalError", ErrorKind.RETRYABLE)] * 100)
    start = clock.monotonic()
    with pytest.raises(ApiError) as exc:
        caller.retrying("UnitDeadline", {}, priority=Priority.FAILOVER,
                        deadline=Deadline.after(clock, 3.0), trace=None)
    assert exc.value.code == "InternalError"
    assert clock.monotonic() - start <= 3.0
    assert 2 <= len(gw.calls) < 100


def test_each_attempt_gets_at_most_the_time_left() -> None:
    caller, gw, clock = make([{"RequestId": "a"}])
    caller.retrying("UnitTimeout", {}, priority=Priority.FAILOVER,
                    deadline=Deadline.after(clock, 0.7), trace=None)
    assert gw.calls[0][1] == pytest.approx(0.7)


def test_no_time_left_is_a_cloud_timeout_without_a_call() -> None:
    caller, gw, clock = make([{"RequestId": "a"}])
    d = Deadline.after(clock, 1.0)
    clock.sleep(2.0)
    with pytest.raises(CloudTimeout):
        caller.once("UnitLate", {}, priority=Priority.FAILOVER, deadline=d, trace=None)
    assert gw.calls == []


def test_a_script_too_large_is_refused_before_any_call() -> None:
    clock = FakeClock(1000.0)
    gw = Scripted(clock, [])
    cloud = new_cloud(gateway=gw, clock=clock, budget=ApiBudget(10, 10, 0.2, clock=clock))
    with pytest.raises(ApiError) as exc:
        cloud.run_script("i-1", "x" * 20_000, timeout_s=10)
    assert exc.value.kind is ErrorKind.FATAL and exc.value.code == "ScriptTooLarge"
    assert "24576" in str(exc.value)
    assert gw.calls == []
    assert "EcsCloud(region='r'" in repr(cloud)


def test_a_routine_script_leaves_the_reserve_to_failovers_and_a_failover_script_spends_it() -> None:
    """A release (ROUTINE) waits while failovers hold the window past the reserve; a guest
    configure (FAILOVER) goes at once. Its looks follow the same rule."""

    def sent_after(priority: Priority) -> list[tuple[str, float]]:
        clock = FakeClock(1000.0)
        done = {"Invocations": {"Invocation": [{"InvokeId": "t-1", "InvocationStatus": "Finished",
                "InvokeInstances": {"InvokeInstance": [{"InstanceId": "i-1", "InvocationStatus": "Success",
                                                        "ExitCode": 0, "Output": ""}]}}]}}
        gw = Scripted(clock, [{"RequestId": "r", "InvokeId": "t-1"}, {"RequestId": "d", **done}])
        budget = ApiBudget(10, 10, 0.3, clock=clock)
        for _ in range(8):  # failovers hold 8 of the 10 calls a window allows; 3 are reserve
            budget.acquire("RunCommand", Priority.FAILOVER, max_wait_s=1)
        cloud = new_cloud(gateway=gw, clock=clock, budget=budget)
        t0 = clock.monotonic()
        times: list[tuple[str, float]] = []
        real_call = gw.call

        def timed(action: str, params: Mapping[str, Any], *, timeout_s: float) -> Reply:
            times.append((action, round(clock.monotonic() - t0, 2)))
            return real_call(action, params, timeout_s=timeout_s)

        gw.call = timed  # type: ignore[method-assign]  # patched for this test; the signature is still checked
        assert cloud.run_script("i-1", "true\n", timeout_s=10, priority=priority).ok
        return times

    assert sent_after(Priority.FAILOVER)[0] == ("RunCommand", 0.0)
    action, at = sent_after(Priority.ROUTINE)[0]
    assert action == "RunCommand" and at >= 1.0  # the failovers' calls had to age out first


def test_a_new_adapter_shows_every_failover_action_at_zero_before_any_call() -> None:
    """In a fresh process: the throttling alert and runbook grep find series, not nothing."""
    code = (
        "from failover.cloud.adapter import EcsCloud, FAILOVER_ACTIONS\n"
        "from failover.config import CloudConfig\n"
        "from failover.metrics import REGISTRY\n"
        "EcsCloud(CloudConfig(region='r'), gateway=object())\n"
        "for a in FAILOVER_ACTIONS:\n"
        "    assert REGISTRY.get_sample_value('failover_cloud_api_calls_total',"
        " {'action': a, 'code': 'OK'}) == 0.0, a\n"
        "    assert REGISTRY.get_sample_value('failover_cloud_api_throttled_total',"
        " {'action': a}) == 0.0, a\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=False, env={**os.environ, "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"})
    assert out.returncode == 0, out.stderr[-2000:]


def test_a_mutation_is_fenced_after_its_token_wait_and_a_read_is_not() -> None:
    caller, gw, clock = make([{"RequestId": "RID-READ"}, {"RequestId": "RID-UNSENT"}])
    leader = {"ok": True}

    def fence() -> None:
        if not leader["ok"]:
            raise NotLeader("deposed while waiting for a token")

    trace = CallTrace(guard=fence)
    deadline = Deadline.after(clock, 30)
    leader["ok"] = False
    # Reads go out whoever asks: they change nothing.
    caller.once("DescribeThings", {}, priority=Priority.FAILOVER, deadline=deadline, trace=trace)
    with pytest.raises(NotLeader):
        caller.retrying("DetachThing", {}, priority=Priority.FAILOVER, deadline=deadline,
                        trace=trace, mutation=True)
    assert [a for a, _ in gw.calls] == ["DescribeThings", "<ready>"]
    leader["ok"] = True
    caller.once("DetachThing", {}, priority=Priority.FAILOVER, deadline=deadline, trace=trace,
                mutation=True)
    assert [a for a, _ in gw.calls] == ["DescribeThings", "<ready>", "<ready>", "DetachThing"]


def test_the_gateway_gets_ready_before_the_fencing_check_not_between_it_and_the_send() -> None:
    caller, gw, clock = make([{"RequestId": "RID"}])
    order: list[str] = []
    trace = CallTrace(guard=lambda: order.append(f"fence after {[a for a, _ in gw.calls]}"))
    caller.once("AttachThing", {}, priority=Priority.FAILOVER, deadline=Deadline.after(clock, 30),
                trace=trace, mutation=True)
    assert order == ["fence after ['<ready>']"]
    assert [a for a, _ in gw.calls] == ["<ready>", "AttachThing"]


def test_a_call_refused_for_flow_control_is_retried_in_its_own_slot() -> None:
    """The gateway did not count it: the retry neither books behind later calls nor spends
    a second slot, it moves its slot to when it goes out."""
    clock = FakeClock(1000.0)
    gw = Scripted(clock, [err("Throttling.User", ErrorKind.RETRYABLE, retry_after_ms=100),
                          {"RequestId": "RID-OK"}])
    budget = ApiBudget(1.0, 1, 0.0, clock=clock)  # one call a second
    caller = Caller(gw, budget, clock, random.Random(7))
    t0 = clock.monotonic()
    caller.retrying("UnitKept", {}, priority=Priority.FAILOVER, deadline=Deadline.after(clock, 30),
                    trace=None)
    sent_again = clock.monotonic() - gw.latency_s
    assert sent_again - t0 < 0.2  # retry-after (0.1-0.12 s), not the next slot a second on
    assert budget.available("UnitKept") == 0.0  # one slot for both attempts
    # The next call waits a whole window from the retry, not from the refused attempt.
    expected = 1.0 - (clock.monotonic() - sent_again)
    assert budget.acquire("UnitKept", Priority.FAILOVER, max_wait_s=5) == pytest.approx(expected)


def test_other_errors_book_a_new_slot_for_their_retry() -> None:
    clock = FakeClock(1000.0)
    gw = Scripted(clock, [err("ServiceUnavailable", ErrorKind.RETRYABLE), {"RequestId": "ok"}])
    budget = ApiBudget(1.0, 1, 0.0, clock=clock)
    caller = Caller(gw, budget, clock, random.Random(7))
    t0 = clock.monotonic()
    caller.retrying("UnitNotKept", {}, priority=Priority.FAILOVER,
                    deadline=Deadline.after(clock, 30), trace=None)
    assert clock.monotonic() - t0 >= 1.0  # a 503 ran (or may have): its slot was spent


def test_a_call_whose_slot_came_waits_while_a_late_departure_fills_its_window() -> None:
    clock = FakeClock(1000.0)
    gw = Scripted(clock, [{"RequestId": "RID-OK"}], latency_s=0.0)
    budget = ApiBudget(1.0, 1, 0.0, clock=clock)  # one call a second
    caller = Caller(gw, budget, clock, random.Random(7))
    budget.sending("UnitLate", Priority.FAILOVER)  # a call left now, its sender late for an earlier slot...
    budget.answered("UnitLate", counted=True)  # ...and was answered at once
    clock.sleep(0.3)
    t0 = clock.monotonic()
    caller.once("UnitLate", {}, priority=Priority.FAILOVER, deadline=Deadline.after(clock, 30),
                trace=None, paid=True)  # booked for now, but the gateway counts departures
    assert clock.monotonic() - t0 == pytest.approx(0.7)
