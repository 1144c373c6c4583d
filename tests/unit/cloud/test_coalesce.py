"""Coalesced ENI reads (`coalesce.EniPoller`), against a fake of our own `calls.Gateway`."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from failover.cloud import EcsCloud, errors
from failover.cloud.budget import ApiBudget
from failover.cloud.calls import Caller
from failover.cloud.coalesce import EniPoller, RoundGate, Ticket, batch_of
from failover.cloud.sdk import ApiError, Reply
from failover.cloud.waiting import ATTACH, Deadline, PollSchedule
from failover.config import CloudConfig
from failover.model import CallTrace, CloudError, EniState, EniStatus, ErrorKind, Priority
from failover.ports import Clock, SystemClock
from harness.clock import FakeClock

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


def poller(world: EniWorld, clock: Clock, gap_s: float = 0.15,
           budget: ApiBudget | None = None) -> EniPoller:
    caller = Caller(world, budget or ApiBudget(1000, 1000, 0.3, clock=clock), clock,
                    random.Random(3))
    return EniPoller(caller, clock, gap_s=gap_s)


def read_all(p: EniPoller, ids: list[str], traces: list[CallTrace], *,
             priority: Priority = Priority.FAILOVER, deadline_s: float = 10.0,
             ) -> list[EniState | BaseException]:
    out: list[EniState | BaseException | None] = [None] * len(ids)
    start = threading.Barrier(len(ids))
    clock = SystemClock()

    def one(k: int) -> None:
        start.wait()
        try:
            out[k] = p.read(ids[k], priority, Deadline.after(clock, deadline_s), traces[k])
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
    p = poller(world, clock)
    traces = [CallTrace() for _ in ids]
    got = read_all(p, ids, traces)
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
    cloud = EcsCloud(CloudConfig(region="r"), gateway=world, clock=clock,
                     budget=ApiBudget(1000, 1000, 0.3, clock=clock), rng=random.Random(1))
    t0 = clock.monotonic()
    state = cloud.attach_eni("eni-a", "i-b", timeout_s=30)
    assert state.status is EniStatus.IN_USE
    looks = [t - t0 for t, _, _ in world.describes]
    # Expected: a read, the attach, then a look after each interval of the plan.
    schedule = PollSchedule(ATTACH, 30.0)
    want = [0.0]
    at = 0.01  # the first read's latency; the attach answers at once
    while len(want) < len(looks):
        at += schedule.next(at - 0.0)
        want.append(at)
        at += 0.01
    assert looks == pytest.approx(want, abs=1e-6)
    assert looks[-1] >= 2.0 > looks[-2]  # the first look after the attach landed ends it


def test_many_attach_waits_cost_about_one_describe_per_round() -> None:
    clock = SystemClock()
    ids = [f"eni-{k:02d}" for k in range(30)]
    world = EniWorld(clock, ids, attach_s=0.6, latency_s=0.01)
    cloud = EcsCloud(CloudConfig(region="r"), gateway=world, clock=clock,
                     budget=ApiBudget(1000, 1000, 0.3, clock=clock))
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
    p = poller(world, clock)
    got = read_all(p, ["eni-a", "eni-gone", "eni-b"], [CallTrace() for _ in range(3)])
    assert isinstance(got[0], EniState) and isinstance(got[2], EniState)
    assert isinstance(got[1], ApiError)
    assert (got[1].kind, got[1].code) == (ErrorKind.FATAL, errors.NOT_FOUND)
    assert "eni-gone" in str(got[1])


def test_pages_are_followed_when_the_answer_is_cut() -> None:
    clock = FakeClock(1000.0)
    ids = [f"eni-{k:02d}" for k in range(25)]
    world = EniWorld(clock, ids, page_max=10)
    p = poller(world, clock)
    # Queue 24 tickets by hand, then read the 25th: one round serves all 25 in three pages.
    tickets = [Ticket(i, Priority.FAILOVER, Deadline.after(clock, 5), None) for i in ids[:24]]
    p._pending.extend(tickets)
    state = p.read(ids[24], Priority.FAILOVER, Deadline.after(clock, 5), None)
    assert state.eni_id == ids[24]
    assert len(world.describes) == 3 and all(c == ids for _, c, _ in world.describes)
    assert all(t.done and t.state is not None and t.state.eni_id == t.eni_id for t in tickets)


def test_a_throttled_round_is_retried_after_the_servers_delay_and_recorded() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"])
    world.errors = [ApiError("slow down", kind=ErrorKind.RETRYABLE, code="Throttling.User",
                             action=DESCRIBE, request_id="rid-thr", retry_after_ms=400)]
    p = poller(world, clock)
    trace = CallTrace()
    state = p.read("eni-a", Priority.FAILOVER, Deadline.after(clock, 5), trace)
    assert state.status is EniStatus.AVAILABLE
    assert [c.code for c in trace.calls] == ["Throttling.User", "OK"]
    assert trace.calls[0].request_id == "rid-thr"
    assert world.describes[1][0] - world.describes[0][0] >= 0.4  # the server's retry-after


def test_a_reader_gives_up_at_its_deadline_with_the_last_error() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"])
    world.errors = [ApiError("busy", kind=ErrorKind.RETRYABLE, code="ServiceUnavailable",
                             action=DESCRIBE, request_id=f"r{k}") for k in range(100)]
    p = poller(world, clock)
    t0 = clock.monotonic()
    with pytest.raises(ApiError) as exc:
        p.read("eni-a", Priority.FAILOVER, Deadline.after(clock, 2.0), None)
    assert exc.value.code == "ServiceUnavailable" and exc.value.kind is ErrorKind.RETRYABLE
    assert clock.monotonic() - t0 <= 2.0 + 1e-9
    assert p._pending == []


def test_a_follower_leaves_a_slow_round_at_its_own_deadline() -> None:
    clock = SystemClock()
    release = threading.Event()
    world = EniWorld(clock, ["eni-a", "eni-b"], gate=lambda n: release.wait(10) if n == 0 else None)
    p = poller(world, clock)
    leader = threading.Thread(
        target=p.read, args=("eni-a", Priority.FAILOVER, Deadline.after(clock, 20), None))
    leader.start()
    while not world.describes:
        time.sleep(0.01)
    start = time.monotonic()
    with pytest.raises(CloudError) as exc:
        p.read("eni-b", Priority.FAILOVER, Deadline.after(clock, 0.3), None)
    left_after = time.monotonic() - start
    release.set()
    leader.join(10)
    assert exc.value.kind is ErrorKind.RETRYABLE and exc.value.code == errors.TIMEOUT
    assert left_after < 5.0  # it did not wait for the stuck round (released only now)


class SpyBudget(ApiBudget):
    def __init__(self, clock: Clock) -> None:
        super().__init__(1000, 1000, 0.3, clock=clock)
        self.priorities: list[Priority] = []

    def acquire(self, action: str, priority: Priority, *, max_wait_s: float) -> float:
        self.priorities.append(priority)
        return super().acquire(action, priority, max_wait_s=max_wait_s)


def test_a_round_spends_a_failover_token_when_any_reader_is_a_failover() -> None:
    clock = SystemClock()
    release = threading.Event()
    world = EniWorld(clock, ["eni-a", "eni-b", "eni-c"],
                     gate=lambda n: release.wait(10) if n == 0 else None)
    budget = SpyBudget(clock)
    p = poller(world, clock, budget=budget)

    def read(eni: str, priority: Priority) -> threading.Thread:
        t = threading.Thread(target=p.read, args=(eni, priority, Deadline.after(clock, 10), None))
        t.start()
        return t

    threads = [read("eni-a", Priority.ROUTINE)]
    while not world.describes:
        time.sleep(0.01)
    threads += [read("eni-b", Priority.ROUTINE), read("eni-c", Priority.FAILOVER)]
    while len(p._pending) < 2:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(10)
    assert budget.priorities == [Priority.ROUTINE, Priority.FAILOVER]
    assert [c for _, c, _ in world.describes] == [["eni-a"], ["eni-b", "eni-c"]]


def test_round_gate_spaces_rounds_after_a_credit_of_two() -> None:
    gate = RoundGate(0.15, updated_at=0.0)
    assert gate.wait_s(0.0) == 0.0
    gate.start(0.0)
    assert gate.wait_s(0.0) == 0.0
    gate.start(0.0)
    assert gate.wait_s(0.0) == pytest.approx(0.15)
    assert gate.wait_s(0.1) == pytest.approx(0.05)
    gate.not_before = 1.0
    assert gate.wait_s(0.5) == pytest.approx(0.5)


def test_batch_takes_the_first_hundred_distinct_enis_with_their_duplicates() -> None:
    clock = FakeClock(1000.0)

    def t(eni: str) -> Ticket:
        return Ticket(eni, Priority.FAILOVER, Deadline.after(clock, 1), None)

    pending = [t(f"eni-{k}") for k in range(150)] + [t("eni-0")]
    batch = batch_of(pending)
    assert len({x.eni_id for x in batch}) == 100 and len(batch) == 101
    assert batch[-1] is pending[-1]


def test_a_look_not_yet_due_rides_along_with_a_round_another_reader_starts() -> None:
    """A wait between its looks is answered by the next shared round, not at its own due."""
    clock = SystemClock()
    world = EniWorld(clock, ["eni-a", "eni-b"], latency_s=0.01)
    p = poller(world, clock, gap_s=0.0)
    got: dict[str, float] = {}

    def patient() -> None:
        t0 = time.monotonic()
        p.read("eni-a", Priority.FAILOVER, Deadline.after(clock, 10), None, due_in=3.0)
        got["eni-a"] = time.monotonic() - t0

    t = threading.Thread(target=patient)
    t.start()
    time.sleep(0.1)  # the patient reader is registered and waiting for its due
    p.read("eni-b", Priority.FAILOVER, Deadline.after(clock, 10), None)
    t.join(5)
    assert got["eni-a"] < 1.0
    assert [sorted(ids) for _, ids, _ in world.describes] == [["eni-a", "eni-b"]]


def test_a_reader_alone_looks_at_its_due_and_not_before() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"])
    p = poller(world, clock, gap_s=0.0)
    t0 = clock.monotonic()
    p.read("eni-a", Priority.FAILOVER, Deadline.after(clock, 10), None, due_in=0.7)
    assert [t - t0 for t, _, _ in world.describes] == [pytest.approx(0.7)]


def test_an_attach_from_a_known_state_calls_first_and_reads_after() -> None:
    """The detach's last look stands in for the attach's first read (one round trip less)."""
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a"], attach_s=0.0)
    cloud = EcsCloud(CloudConfig(region="r"), gateway=world, clock=clock,
                     budget=ApiBudget(1000, 1000, 0.3, clock=clock), rng=random.Random(1))
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
    cloud = EcsCloud(CloudConfig(region="r"), gateway=world, clock=clock,
                     budget=ApiBudget(10, 10, 0.3, clock=clock), rng=random.Random(1))
    found = cloud.describe_enis([*ids, "eni-gone"], priority=Priority.ROUTINE)
    assert sorted(found) == ids  # the unknown ENI is absent, not an error
    assert found["eni-010"].status is EniStatus.IN_USE
    assert [len(call_ids) for _, call_ids, _ in world.describes] == [100, 50]


def test_many_enis_read_at_once_report_a_failure_that_is_not_a_missing_eni() -> None:
    clock = FakeClock(1000.0)
    world = EniWorld(clock, ["eni-a", "eni-b"], latency_s=0.01)
    world.errors = [ApiError("denied", kind=ErrorKind.FATAL, code="Forbidden.RAM",
                             action=DESCRIBE)]
    cloud = EcsCloud(CloudConfig(region="r"), gateway=world, clock=clock,
                     budget=ApiBudget(10, 10, 0.3, clock=clock), rng=random.Random(1))
    with pytest.raises(CloudError) as e:
        cloud.describe_enis(["eni-a", "eni-b"])
    assert e.value.code == "Forbidden.RAM"
    assert len(world.describes) == 1
