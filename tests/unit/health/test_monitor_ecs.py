"""The monitor's rounds with ecs_status checks against a fake of our own port (`InstanceStatusReader`, part of CloudPort).

One batched status call per round for all members of all groups; a cloud
error is no evidence; verdicts flow to the sink and the read side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from failover.config import GroupConfig
from failover.health.monitor import HealthMonitor
from failover.health.verify import ProbeVerifier
from failover.model import CloudError, ErrorKind, Priority
from failover.records import Observation


class FakeCloud:
    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[list[str], Priority]] = []
        self.fail = False

    def instance_statuses(
        self, instance_ids: Sequence[str], *, priority: Priority = Priority.ROUTINE
    ) -> dict[str, str]:
        self.calls.append((list(instance_ids), priority))
        if self.fail:
            raise CloudError("throttled", kind=ErrorKind.RETRYABLE, code="Throttling")
        return {i: self.statuses[i] for i in instance_ids if i in self.statuses}



def up_members(m: HealthMonitor, group: str) -> tuple[str, ...]:
    """The members this replica's monitor sees up, in config order."""
    return tuple(i for i, v in m.verdicts().get(group, {}).items() if v.up is True)


def group(name: str, members: list[str], **health: Any) -> GroupConfig:
    return GroupConfig.model_validate({
        "name": name, "network_interface": f"eni-{name}", "members": members,
        "checks": [{"type": "ecs_status"}], "health": {"fall": 2, "rise": 2, **health},
    })


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud({"i-1": "Running", "i-2": "Running", "i-3": "Running", "i-4": "Stopped"})


@pytest.fixture
def seen() -> list[Observation]:
    return []


@pytest.fixture
def monitor(cloud: FakeCloud, seen: list[Observation]) -> Iterator[HealthMonitor]:
    groups = [group("a", ["i-1", "i-2"]), group("b", ["i-3", "i-4"])]
    m = HealthMonitor(groups, controller_id="ctl-1", addresses=dict, sink=seen.append,
                      cloud=cloud)
    m.start(scheduled=False)
    try:
        yield m
    finally:
        m.stop()


def job(m: HealthMonitor) -> str:
    (job_id,) = m.job_ids  # both groups share interval and jitter: one job
    return job_id


def test_one_batched_status_call_per_round_for_all_groups(monitor: HealthMonitor, cloud: FakeCloud) -> None:
    for _ in range(3):
        monitor.run_round(job(monitor))
    assert len(cloud.calls) == 3
    assert all(sorted(ids) == ["i-1", "i-2", "i-3", "i-4"] for ids, _ in cloud.calls)
    assert {p for _, p in cloud.calls} == {Priority.ROUTINE}


def test_verdicts_after_rise_and_fall_rounds(monitor: HealthMonitor, cloud: FakeCloud,
                                             seen: list[Observation]) -> None:
    monitor.run_round(job(monitor))
    # One round decides nothing with rise = fall = 2, but a Stopped instance is down at once.
    assert [(o.instance, o.up) for o in seen] == [("i-4", False)]
    assert monitor.member_up("a", "i-1") is None
    monitor.run_round(job(monitor))
    assert up_members(monitor, "a") == ("i-1", "i-2")
    assert up_members(monitor, "b") == ("i-3",)
    down = [o for o in seen if not o.up]
    assert [(o.group, o.instance, o.reason) for o in down][:1] == [("b", "i-4", "0:ecs_status: stopped")]
    assert {o.controller_id for o in seen} == {"ctl-1"}
    cloud.statuses["i-1"] = "Starting"  # not Running, but not going away either
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-1") is True  # one failure is not `fall`
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-1") is False
    assert monitor.verdicts()["a"]["i-1"].reason == "0:ecs_status: starting"


@pytest.mark.parametrize("status", ["Stopping", "Stopped"])
def test_the_cloud_saying_an_instance_stops_takes_it_down_in_one_round(
        monitor: HealthMonitor, cloud: FakeCloud, status: str) -> None:
    monitor.run_round(job(monitor))
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-2") is True
    cloud.statuses["i-2"] = status
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-2") is False  # a graceful stop: no `fall` rounds to wait
    cloud.statuses["i-2"] = "Running"
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-2") is False  # coming back still takes `rise`
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-2") is True


def test_a_missing_instance_is_down(monitor: HealthMonitor, cloud: FakeCloud) -> None:
    del cloud.statuses["i-2"]
    monitor.run_round(job(monitor))
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-2") is False
    assert "not found" in monitor.verdicts()["a"]["i-2"].reason


def test_a_cloud_error_is_no_evidence(monitor: HealthMonitor, cloud: FakeCloud) -> None:
    monitor.run_round(job(monitor))
    monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-1") is True
    cloud.fail = True
    for _ in range(4):
        monitor.run_round(job(monitor))
    assert monitor.member_up("a", "i-1") is True
    assert monitor.member_up("b", "i-4") is False


def test_a_failing_sink_does_not_stop_the_rounds(cloud: FakeCloud) -> None:
    def sink(_: Observation) -> None:
        raise RuntimeError("zookeeper is away")

    m = HealthMonitor([group("a", ["i-1", "i-2"], rise=1)], controller_id="c", addresses=dict,
                      sink=sink, cloud=cloud)
    m.start(scheduled=False)
    try:
        m.run_round(job(m))
        m.run_round(job(m))
    finally:
        m.stop()
    assert m.rounds_run == 2
    assert up_members(m, "a") == ("i-1", "i-2")


def test_verify_ecs_status_of_the_new_holder(cloud: FakeCloud) -> None:
    v = ProbeVerifier([group("b", ["i-3", "i-4"])], cloud=cloud, retry_s=0.01)
    assert v.verify("b", "i-3", [], timeout_s=1).ok
    assert cloud.calls[-1] == (["i-3"], Priority.FAILOVER)
    out = v.verify("b", "i-4", [], timeout_s=0.1)
    assert not out.ok
    assert out.failures == ("0:ecs_status: stopped",)
    assert len(cloud.calls) > 3  # retried until the deadline
    assert not v.verify("nope", "i-3", [], timeout_s=0.1).ok
