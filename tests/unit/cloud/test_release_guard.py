"""A release of a former holder through the real adapter and guest executor, the scheduler in
its inline mode (a fake clock: every call runs on the loop's own thread). The release's ENI
check is a look the move waits for, never a read made from inside a call: a guard that read
the cloud from the sender would wait on the loop it runs on, and hang here."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

from failover.cloud import EcsCloud
from failover.cloud.budget import ApiBudget
from failover.cloud.sdk import Reply
from failover.config import GroupConfig
from failover.engine.execute import Collaborators, Executor
from failover.guest.executors import CloudAssistantGuest
from failover.model import NotLeader, Priority
from failover.records import GroupState
from harness.clock import FakeClock
from harness.cloud import new_cloud
from tests.unit.engine.fakes import FakeJournal, FakeLeadership, FakeVerifier

GROUP = GroupConfig.model_validate({
    "name": "web", "network_interface": "eni-a", "members": ["i-a", "i-b"],
    "service_ips": ["192.168.1.51"], "checks": [{"type": "tcp", "port": 80}],
    "guest": {"cidr": "192.168.1.0/24"}})
HANG_S = 10.0  # wall seconds: a regression fails here instead of hanging the suite


class OneEni:
    """A fake ECS of one ENI and Cloud Assistant: the ENI's holder, and every call made.
    `back_after`: the ENI is seen on i-a (it came back) from that describe on (0-based)."""

    def __init__(self, holder: str = "i-b", back_after: int | None = None) -> None:
        self.holder = holder
        self.back_after = back_after
        self.calls: list[tuple[str, str]] = []  # (action, instance or ENI)
        self.describes = 0

    def ready(self) -> None:
        pass

    def call(self, action: str, params: Mapping[str, Any], *, timeout_s: float) -> Reply:
        if action == "DescribeNetworkInterfaces":
            if self.back_after is not None and self.describes >= self.back_after:
                self.holder = "i-a"
            self.describes += 1
            self.calls.append((action, self.holder))
            item = {"NetworkInterfaceId": "eni-a", "Status": "InUse", "InstanceId": self.holder,
                    "MacAddress": "00:16:3e:00:00:01", "PrivateIpAddress": "192.168.1.51",
                    "VSwitchId": "vsw-a", "Type": "Secondary"}
            return Reply({"RequestId": "r", "NetworkInterfaceSets": {"NetworkInterfaceSet": [item]}}, "r")
        instance = str(params.get("InstanceId", [""])[0] if action == "RunCommand"
                       else params.get("InstanceId", ""))
        self.calls.append((action, instance))
        if action == "RunCommand":
            return Reply({"RequestId": "r", "InvokeId": "t-1"}, "r")
        row = {"InstanceId": instance, "InvocationStatus": "Success", "InvokeRecordStatus": "Finished",
               "ExitCode": 0, "Output": ""}
        if action == "DescribeInvocations":
            body: dict[str, Any] = {"Invocations": {"Invocation": [
                {"InvokeId": "t-1", "InvokeInstances": {"InvokeInstance": [row]}}]}}
        else:
            body = {"Invocation": {"InvocationResults": {"InvocationResult": [row]}}}
        return Reply({"RequestId": "r", **body}, "r")

    def sent(self, action: str) -> list[str]:
        return [who for a, who in self.calls if a == action]


def release(world: OneEni, lead: FakeLeadership | None = None,
            budget: Callable[[FakeClock], ApiBudget] | None = None) -> tuple[object, FakeJournal]:
    """`Executor.release(web, i-a)` on its own thread, bounded: what it returned or raised."""
    clock = FakeClock()
    cloud: EcsCloud = new_cloud(gateway=world, clock=clock, rng=random.Random(3),
                                budget=(budget or plain)(clock))
    journal = FakeJournal()
    journal.states["web"] = GroupState("web", holder="i-b", configured="i-b", pending_release=("i-a",))
    ex = Executor(Collaborators(cloud, lead or FakeLeadership(), journal,
                                lambda g: CloudAssistantGuest(cloud), FakeVerifier(), clock))
    out: list[object] = []

    def run() -> None:
        try:
            out.append(ex.release(GROUP, "i-a"))
        except Exception as e:
            out.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(HANG_S)
    assert out, "the release hung: its ENI check waited on the scheduler from inside a call"
    return out[0], journal


def plain(clock: FakeClock) -> ApiBudget:
    return ApiBudget(100, 200, 0.3, clock=clock)


def test_a_release_reads_the_eni_then_sends_its_script_to_the_former_holder() -> None:
    world = OneEni(holder="i-b")
    got, journal = release(world)
    assert got is True
    assert world.sent("RunCommand") == ["i-a"]
    # The engine's read for the network, then the move's own look right before the call.
    assert [a for a, _ in world.calls[:3]] == ["DescribeNetworkInterfaces"] * 2 + ["RunCommand"]
    assert journal.group_state("web").pending_release == ()


def test_no_script_when_the_eni_comes_back_while_the_release_waits() -> None:
    world = OneEni(holder="i-b", back_after=1)  # after the engine's read, before the send
    got, journal = release(world)
    assert got is False
    assert world.sent("RunCommand") == []
    assert journal.group_state("web").pending_release == ("i-a",)


def test_a_deposed_leader_sends_no_release() -> None:
    world = OneEni(holder="i-b")
    lead = FakeLeadership()
    lead.lose_after = 1  # the release's own token, then deposed before the script is sent
    got, journal = release(world, lead)
    assert isinstance(got, NotLeader)
    assert world.sent("RunCommand") == []
    assert journal.group_state("web").pending_release == ("i-a",)


class NoRoutineSlotOnce(ApiBudget):
    """Refuses RunCommand's routine slot once (a zone outage's failovers hold the window);
    `then`: what happens to the world meanwhile."""

    def __init__(self, clock: FakeClock, then: Callable[[], object]) -> None:
        super().__init__(100, 200, 0.3, clock=clock)
        self.then = then
        self.refused = False

    def claim(self, action: str, priority: Priority, max_wait_s: float,
              waited_s: float = 0.0) -> float | None:
        if action == "RunCommand" and not self.refused:
            self.refused = True
            self.then()
            return None
        return super().claim(action, priority, max_wait_s, waited_s)


def test_a_release_that_waited_for_its_slot_reads_the_eni_again_before_it_books_one() -> None:
    world = OneEni(holder="i-b")
    got, _ = release(world, budget=lambda clock: NoRoutineSlotOnce(clock, lambda: None))
    assert got is True
    # The engine's read, the move's look, no slot: the look again, then the call.
    assert [a for a, _ in world.calls[:4]] == ["DescribeNetworkInterfaces"] * 3 + ["RunCommand"]


def test_no_script_when_the_eni_comes_back_while_the_release_waits_for_its_slot() -> None:
    world = OneEni(holder="i-b")

    def comes_back() -> None:
        world.back_after = world.describes

    got, journal = release(world, budget=lambda clock: NoRoutineSlotOnce(clock, comes_back))
    assert got is False
    assert world.sent("RunCommand") == []
    assert journal.group_state("web").pending_release == ("i-a",)
