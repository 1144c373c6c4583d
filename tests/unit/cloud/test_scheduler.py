"""The cloud scheduler (`scheduler`): shared rounds, deadlines, budget order, fencing, against a
fake of our own `calls.Gateway`."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from failover.cloud import EcsCloud, errors
from failover.cloud.budget import ApiBudget
from failover.cloud.sdk import ApiError, Reply
from failover.cloud.transitions import Clocked, Target
from failover.cloud.waiting import ATTACH, PollPlans
from failover.model import CallTrace, CloudError, EniState, EniStatus, ErrorKind, Priority
from failover.ports import Clock, SystemClock
from harness.clock import FakeClock
from harness.cloud import new_cloud

DESCRIBE = "DescribeNetworkInterfaces"


class EniWorld:
    """A fake ECS: ENIs that attach after `attach_s`; it records every describe's ids."""

    def __init__(self, clock: Clock, enis: list[str], *, attach_s: float = 0.0,
                 latency_s: float = 0.0, page_max: int = 500,
                 gate: Callable[[int], object] | None = None) -> None:
        self.clock = clock
        self.attach_s = attach_s
        self.latency_s = latency_s
        self.page_max = page_max
        self.gate = gate  # called with the describe's number before it answers
        self.holder: dict[str, tuple[str, float] | None] = dict.fromkeys(enis)
        self.describes: list[tuple[float, list[str], int]] = []  # (time, ids, MaxResults)
        self.errors: list[ApiError] = []  # raised by the next describes, in order
        self._lock = threading.Lock()

    def ready(self) -> None:
        pass

    def call(self, action: str, params: Mapping[str, Any], *, timeout_s: float) -> Reply:
        if action == "AttachNetworkInterface":
            with self._lock:
                self.holder[params["NetworkInterfaceId"]] = (params["InstanceId"],
                                                             self.clock.monotonic())
            return Reply({"RequestId": "rid-attach"}, "rid-attach")
        assert action == DESCRIBE
        with self._lock:
            n = len(self.describes)
            self.describes.append((self.clock.monotonic(), list(params["NetworkInterfaceId"]),
                                   int(params["MaxResults"])))
            error = self.errors.pop(0) if self.errors else None
        if self.gate is not None:
            self.gate(n)
        self.clock.sleep(self.latency_s)
        if error is not None:
            raise error
        rid = f"rid-{n}"
        ids = [i for i in params["NetworkInterfaceId"] if i in self.holder]
        start = int(params.get("NextToken") or 0)
        page = ids[start:start + min(self.page_max, int(params["MaxResults"]))]
        token = str(start + len(page)) if start + len(page) < len(ids) else ""
        items = [self._render(i) for i in page]
        return Reply({"RequestId": rid, "NextToken": token,
                      "NetworkInterfaceSets": {"NetworkInterfaceSet": items}}, rid)

    def _render(self, eni_id: str) -> dict[str, Any]:
        held = self.holder[eni_id]
        status, instance = "Available", None
        if held is not None:
            instance = held[0]
            done = self.clock.monotonic() - held[1] >= self.attach_s
            status = "InUse" if done else "Attaching"
        return {"NetworkInterfaceId": eni_id, "Status": status, "InstanceId": instance,
                "Type": "Secondary"}


def cloud_on(world: EniWorld, clock: Clock, budget: ApiBudget | None = None,
             read_deadline_s: float | None = None, rng: random.Random | None = None) -> EcsCloud:
    return new_cloud(gateway=world, clock=clock, budget=budget or ApiBudget(1000, 1000, 0.3, clock=clock),
                     rng=rng or random.Random(3), read_deadline_s=read_deadline_s)


def read_all(cloud: EcsCloud, ids: list[str], traces: list[CallTrace], *,
             priority: Priority = Priority.FAILOVER) -> list[EniState | BaseException]:
    out: list[EniState | BaseException | None] = [None] * len(ids)
    start = threading.Barrier(len(ids))

    def one(k: int) -> None:
        start.wait()
        try:
            out[k] = cloud.describe_eni(ids[k], priority=priority, trace=traces[k])
        except CloudError as e:
            out[k] = e

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def test_concurrent_reads_share_a_call_and_each_gets_its_own_eni() -> None:
    clock = SystemClock()
    ids = [f"eni-{k:02d}" for k in range(40)]
    world = EniWorld(clock, ids, latency_s=0.05)
    world.holder["eni-07"] = ("i-x", clock.monotonic())
    traces = [CallTrace() for _ in ids]
    got = read_all(cloud_on(world, clock), ids, traces)
    assert all(isinstance(s, EniState) for s in got)
    states = [s for s in got if isinstance(s, EniState)]
    assert [s.eni_id for s in states] == ids
    assert states[7].status is EniStatus.IN_USE and states[7].instance_id == "i-x"
    assert {s.status for s in states[:7] + states[8:]} == {EniStatus.AVAILABLE}
    # 40 readers, a handful of calls (the first reader may go alone before the others queue).
    assert len(world.describes) <= 3
    assert sorted(i for _, call_ids, _ in world.describes for i in call_ids) == ids
    assert all(mr >= len(call_ids) for _, call_ids, mr in world.describes)
    # Each reader's trace shows the one shared call that answered it.
    for eni, trace in zip(ids, traces, strict=True):
        (call,) = trace.calls
        n = int(call.request_id.split("-")[1]) if call.request_id else -1
        assert eni in world.describes[n][1] and call.action == DESCRIBE and call.code == "OK"


def test_one_reader_alone_looks_exactly_when_its_schedule_says() -> None:
    """An attach wait alone: the same looks, at the same times, as without coalescing."""
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"], attach_s=2.0, latency_s=0.01)
    cloud = cloud_on(world, clock, rng=random.Random(1))
    t0 = clock.monotonic()
    state = cloud.attach_eni("eni-a", "i-b", timeout_s=30)
    assert state.status is EniStatus.IN_USE
    looks = [t - t0 for t, _, _ in world.describes]
    # Expected: a read, the attach, then a look after each interval of the plan.
    wait = Clocked(30.0, 0.0, ATTACH, PollPlans())
    want = [0.0]
    at = 0.01  # the first read's latency; the attach answers at once
    while len(want) < len(looks):
        wait, look = wait.look(at, Target.ENI)
        want.append(look.at)
        at = look.at + 0.01
    assert looks == pytest.approx(want, abs=1e-6)
    assert looks[-1] >= 2.0 > looks[-2]  # the first look after the attach landed ends it


def test_many_attach_waits_cost_about_one_describe_per_round() -> None:
    clock = SystemClock()
    ids = [f"eni-{k:02d}" for k in range(30)]
    world = EniWorld(clock, ids, attach_s=0.6, latency_s=0.01)
    cloud = cloud_on(world, clock)
    out: dict[str, EniState] = {}
    start = threading.Barrier(len(ids))

    def one(eni: str) -> None:
        start.wait()
        out[eni] = cloud.attach_eni(eni, "i-b", timeout_s=10)

    threads = [threading.Thread(target=one, args=(e,)) for e in ids]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - t0
    assert sorted(out) == ids and {s.status for s in out.values()} == {EniStatus.IN_USE}
    # Each wait alone reads at least twice (before the attach, and once it landed): 60+ calls
    # uncoalesced. Shared rounds start at most one per gap (0.15 s) after a credit of 2.
    assert len(world.describes) < len(ids)
    assert len(world.describes) <= 2 + elapsed / 0.15 + 1
    assert max(len(c) for _, c, _ in world.describes) > 10


def test_a_missing_eni_fails_alone_and_the_others_get_their_state() -> None:
    clock = SystemClock()
    world = EniWorld(clock, ["eni-a", "eni-b"], latency_s=0.05)
    got = read_all(cloud_on(world, clock), ["eni-a", "eni-gone", "eni-b"],
                   [CallTrace() for _ in range(3)])
    assert isinstance(got[0], EniState) and isinstance(got[2], EniState)
    assert isinstance(got[1], ApiError)
    assert (got[1].kind, got[1].code) == (ErrorKind.FATAL, errors.NOT_FOUND)
    assert "eni-gone" in str(got[1])


def test_pages_are_followed_when_the_answer_is_cut() -> None:
    clock = FakeClock(1000.0)
    ids = [f"eni-{k:02d}" for k in range(25)]
    world = EniWorld(clock, ids, page_max=10)
    found = cloud_on(world, clock).describe_enis(ids, priority=Priority.FAILOVER)
    assert sorted(found) == ids and all(found[i].eni_id == i for i in ids)
    assert len(world.describes) == 3 and all(c == ids for _, c, _ in world.describes)


def test_a_throttled_round_is_retried_after_the_servers_delay_and_recorded() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"])
    world.errors = [ApiError("slow down", kind=ErrorKind.RETRYABLE, code="Throttling.User",
                             action=DESCRIBE, request_id="rid-thr", retry_after_ms=400)]
    trace = CallTrace()
    state = cloud_on(world, clock).describe_eni("eni-a", priority=Priority.FAILOVER, trace=trace)
    assert state.status is EniStatus.AVAILABLE
    assert [c.code for c in trace.calls] == ["Throttling.User", "OK"]
    assert trace.calls[0].request_id == "rid-thr"
    assert world.describes[1][0] - world.describes[0][0] >= 0.4  # the server's retry-after


def test_a_reader_gives_up_at_its_deadline_with_the_last_error() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"])
    world.errors = [ApiError("busy", kind=ErrorKind.RETRYABLE, code="ServiceUnavailable",
                             action=DESCRIBE, request_id=f"r{k}") for k in range(100)]
    t0 = clock.monotonic()
    with pytest.raises(ApiError) as exc:
        cloud_on(world, clock, read_deadline_s=2.0).describe_eni("eni-a")
    assert exc.value.code == "ServiceUnavailable" and exc.value.kind is ErrorKind.RETRYABLE
    assert clock.monotonic() - t0 <= 2.0 + 1e-9


def test_a_reader_leaves_a_slow_round_it_is_not_in_at_its_own_deadline() -> None:
    clock = SystemClock()
    release = threading.Event()
    world = EniWorld(clock, ["eni-a", "eni-b"], gate=lambda n: release.wait(10) if n == 0 else None)
    cloud = cloud_on(world, clock, read_deadline_s=0.3)
    first = threading.Thread(target=cloud.describe_eni, args=("eni-a",),
                             kwargs={"priority": Priority.FAILOVER})  # 30 s to wait
    first.start()
    while not world.describes:
        time.sleep(0.01)
    start = time.monotonic()
    with pytest.raises(CloudError) as exc:
        cloud.describe_eni("eni-b")  # a routine read: 0.3 s
    left_after = time.monotonic() - start
    release.set()
    first.join(10)
    assert exc.value.kind is ErrorKind.RETRYABLE and exc.value.code == errors.TIMEOUT
    assert left_after < 5.0  # it did not wait for the stuck round (released only now)


class SpyBudget(ApiBudget):
    def __init__(self, clock: Clock) -> None:
        super().__init__(1000, 1000, 0.3, clock=clock)
        self.priorities: list[Priority] = []

    def claim(self, action: str, priority: Priority, max_wait_s: float,
              waited_s: float = 0.0) -> float | None:
        self.priorities.append(priority)
        return super().claim(action, priority, max_wait_s, waited_s)


def test_a_round_spends_a_failover_slot_when_any_reader_is_a_failover() -> None:
    clock = SystemClock()
    release = threading.Event()
    world = EniWorld(clock, ["eni-a", "eni-b", "eni-c"],
                     gate=lambda n: release.wait(10) if n == 0 else None)
    budget = SpyBudget(clock)
    cloud = cloud_on(world, clock, budget=budget)

    def read(eni: str, priority: Priority) -> threading.Thread:
        t = threading.Thread(target=cloud.describe_eni, args=(eni,), kwargs={"priority": priority})
        t.start()
        return t

    threads = [read("eni-a", Priority.ROUTINE)]
    while not world.describes:
        time.sleep(0.01)
    threads += [read("eni-b", Priority.ROUTINE), read("eni-c", Priority.FAILOVER)]
    time.sleep(0.2)  # both join the loop while the first round is out
    release.set()
    for t in threads:
        t.join(10)
    assert budget.priorities == [Priority.ROUTINE, Priority.FAILOVER]
    assert [sorted(c) for _, c, _ in world.describes] == [["eni-a"], ["eni-b", "eni-c"]]


def test_a_look_not_yet_due_rides_along_with_a_round_another_reader_starts() -> None:
    """An attach wait between its looks is answered by the next shared round."""
    clock = SystemClock()
    world = EniWorld(clock, ["eni-a", "eni-b"], attach_s=30.0, latency_s=0.01)
    cloud = cloud_on(world, clock)
    failed: list[CloudError] = []

    def attach() -> None:
        try:
            cloud.attach_eni("eni-a", "i-b", timeout_s=1.5)
        except CloudError as e:
            failed.append(e)

    t = threading.Thread(target=attach)
    t.start()
    while len(world.describes) < 2:  # its first read, then its first look after the attach
        time.sleep(0.005)
    cloud.describe_eni("eni-b", priority=Priority.FAILOVER)
    t.join(10)
    assert failed  # the attach never lands in this world's 1.5 s
    shared = [ids for _, ids, _ in world.describes if "eni-b" in ids]
    assert shared and "eni-a" in shared[0]


def test_no_look_is_earlier_than_its_due_when_alone() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"], attach_s=0.7)
    cloud = cloud_on(world, clock)
    t0 = clock.monotonic()
    cloud.attach_eni("eni-a", "i-b", timeout_s=10)
    looks = [t - t0 for t, _, _ in world.describes]
    first = Clocked(10.0, 0.0, ATTACH, PollPlans()).look(0.0, Target.ENI)[1]
    assert looks[1] == pytest.approx(first.at)  # the first look after the call


def test_an_attach_from_a_known_state_calls_first_and_reads_after() -> None:
    """The detach's last look stands in for the attach's first read (one round trip less)."""
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"], attach_s=0.0)
    cloud = cloud_on(world, clock, rng=random.Random(1))
    known = EniState("eni-a", EniStatus.AVAILABLE, None, "00:16:3e:00:00:01", "192.168.1.50",
                     ("192.168.1.50",), "vsw-a", "vpc-a", "z1")
    t0 = clock.monotonic()
    state = cloud.attach_eni("eni-a", "i-b", timeout_s=30, known=known)
    assert (state.status, state.instance_id) == (EniStatus.IN_USE, "i-b")
    # No read before the call: the first describe is the wait's first look after it.
    assert [t - t0 for t, _, _ in world.describes] == [pytest.approx(ATTACH.first_s)]


def test_one_thread_reading_many_enis_pays_one_call_per_hundred() -> None:
    """Readiness reads every group's ENI from one thread: 150 ENIs (one unknown), two calls."""
    clock = FakeClock(1000.0)
    ids = [f"eni-{k:03d}" for k in range(149)]
    world = EniWorld(clock, ids, latency_s=0.01)
    world.holder["eni-010"] = ("i-x", clock.monotonic())
    cloud = cloud_on(world, clock, ApiBudget(10, 10, 0.3, clock=clock), rng=random.Random(1))
    found = cloud.describe_enis([*ids, "eni-gone"], priority=Priority.ROUTINE)
    assert sorted(found) == ids  # the unknown ENI is absent, not an error
    assert found["eni-010"].status is EniStatus.IN_USE
    assert [len(call_ids) for _, call_ids, _ in world.describes] == [100, 50]


def test_many_enis_read_at_once_report_a_failure_that_is_not_a_missing_eni() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a", "eni-b"], latency_s=0.01)
    world.errors = [ApiError("denied", kind=ErrorKind.FATAL, code="Forbidden.RAM",
                             action=DESCRIBE)]
    cloud = cloud_on(world, clock, ApiBudget(10, 10, 0.3, clock=clock), rng=random.Random(1))
    with pytest.raises(CloudError) as e:
        cloud.describe_enis(["eni-a", "eni-b"])
    assert e.value.code == "Forbidden.RAM"
    assert len(world.describes) == 1


def test_a_moves_look_goes_in_the_next_round_ahead_of_a_sweep_of_many_enis() -> None:
    """The leader's look at every group (a thousand ENIs: ten rounds) must not hold a
    failover's look at its ENI until the sweep is through."""
    clock = SystemClock()
    ids = [f"eni-{k:03d}" for k in range(300)]
    first_out, release = threading.Event(), threading.Event()

    def gate(n: int) -> None:
        if n == 0:
            first_out.set()
            release.wait(10)

    world = EniWorld(clock, ids, gate=gate)
    cloud = cloud_on(world, clock)
    sweep = threading.Thread(target=cloud.describe_enis, args=(ids,),
                             kwargs={"priority": Priority.FAILOVER})
    sweep.start()
    assert first_out.wait(10)  # the sweep's first round is out; 200 of its reads wait
    look = threading.Thread(target=cloud.describe_eni, args=("eni-299",),
                            kwargs={"priority": Priority.FAILOVER})
    look.start()
    waits = cloud._scheduler._waits  # the look is admitted once 300 + 1 wait
    deadline = time.monotonic() + 10
    while len(waits) < 301 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    sweep.join(10)
    look.join(10)
    rounds = [call_ids for _, call_ids, _ in world.describes]
    assert len(rounds) == 3
    assert "eni-299" in rounds[1]  # the next round, not the sweep's last
