"""Standby readiness: each finding from facts, the tracker over fake ports, and the engine's choice."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from failover import metrics
from failover.config import GroupConfig, parse
from failover.engine.actions import Block
from failover.engine.execute import Collaborators
from failover.engine.loop import Engine
from failover.engine.readiness import (
    RECHECK_S,
    GroupFacts,
    ReadinessTracker,
    StandbyReadiness,
    evaluate,
    group_findings,
    needs_stop,
)
from failover.engine.status import build_status, readiness_lines
from failover.engine.view import EniSeen
from failover.model import (
    CloudError,
    EniState,
    EniStatus,
    ErrorKind,
    InstanceInfo,
    InstanceTypeLimits,
    Result,
)
from failover.records import GroupState
from harness.clock import FakeClock
from tests.unit.engine.fakes import (
    FakeCloud,
    FakeGuest,
    FakeInstanceTypes,
    FakeJournal,
    FakeLeadership,
    FakeObservations,
    FakeRequests,
    FakeVerifier,
)
from tests.unit.engine.narrow import of_kind, targeted

ENI = EniState("eni-svc", EniStatus.IN_USE, "i-a", "00:16:3e:00:00:50", "192.168.1.50",
               ("192.168.1.50", "192.168.1.51"), "vsw-a", "vpc-a", "zone-h")
G7 = InstanceTypeLimits("ecs.g7.large", 3, 10)


def group(**over: Any) -> GroupConfig:
    doc: dict[str, Any] = {"name": "web", "network_interface": "eni-svc", "members": ["i-a", "i-b", "i-c"],
                           "checks": [{"type": "tcp", "port": 80}]}
    doc.update(over)
    return GroupConfig.model_validate(doc)


def inst(iid: str, **over: Any) -> InstanceInfo:
    base = InstanceInfo(iid, "Running", "192.168.1.10", "zone-h", "vpc-a", "vsw-a", "ecs.g7.large",
                        (f"eni-p-{iid}",))
    return replace(base, **over)


def facts(*instances: InstanceInfo, eni: EniState | None = ENI,
          limits: dict[str, InstanceTypeLimits] | None = None, offline: tuple[str, ...] = ()) -> GroupFacts:
    """The group's facts, each of `instances` in place of the default member of its id."""
    members = {"i-a": inst("i-a", eni_ids=("eni-p-i-a", "eni-svc")), "i-b": inst("i-b"), "i-c": inst("i-c")}
    members.update({i.instance_id: i for i in instances})
    return GroupFacts(eni, members, limits if limits is not None else {G7.instance_type: G7},
                      {m: m not in offline for m in members})


def reason(f: GroupFacts, member: str = "i-b", g: GroupConfig | None = None) -> str:
    r = evaluate(g or group(), f)[member]
    assert not r.ready
    return r.reason


def test_every_standby_is_ready_and_the_holder_is_not_a_standby() -> None:
    result = evaluate(group(), facts())
    assert set(result) == {"i-b", "i-c"}
    assert all(r.ready and r.reason == "" for r in result.values())


def test_zone_mismatch() -> None:
    f = facts(inst("i-b", zone_id="zone-i"))
    assert reason(f) == "i-b is in zone zone-i, the ENI eni-svc is in zone-h"
    assert evaluate(group(), f)["i-c"].ready


def test_vpc_mismatch_and_missing_instance() -> None:
    assert "i-b is in VPC vpc-b, the ENI eni-svc is in vpc-a" in reason(
        facts(inst("i-b", vpc_id="vpc-b")))
    f = facts()
    gone = GroupFacts(f.eni, {k: v for k, v in f.instances.items() if k != "i-b"}, f.limits, f.assistant)
    assert reason(gone) == "instance i-b not found"


def test_full_standby_has_no_free_eni_slot() -> None:
    full = inst("i-b", eni_ids=("eni-p-i-b", "eni-x", "eni-y"))
    assert "i-b already has 3 ENIs, all its type ecs.g7.large allows (EniQuantity 3" in reason(
        facts(full))
    # The group's own ENI (say, still Detaching from it) does not take a slot.
    assert evaluate(group(), facts(inst("i-b", eni_ids=("eni-p-i-b", "eni-x", "eni-svc"))))[
        "i-b"].ready


def test_too_many_ips_for_the_standby_type() -> None:
    small = InstanceTypeLimits("ecs.g7.small", 3, 1)
    f = facts(inst("i-b", instance_type="ecs.g7.small"),
              limits={G7.instance_type: G7, small.instance_type: small})
    assert reason(f) == "ecs.g7.small (i-b) allows 1 private IPs per ENI; the ENI eni-svc needs 2"


def test_unknown_limits_are_not_a_finding() -> None:
    assert all(r.ready for r in evaluate(group(), facts(limits={})).values())


@pytest.mark.parametrize(("itype", "stop"), [
    ("ecs.t6-c1m1.large", True), ("ecs.t5-lc1m2.small", True), ("ecs.n4.small", True),
    ("ecs.s6", True), ("ecs.g7.large", False), ("ecs.n4v2.small", False), ("ecs.t60.large", False),
    ("ecs.e-c1m2.large", True), ("ecs.e4.small", True), ("ecs.ebmg7.32xlarge", False),
])
def test_types_that_need_stopping_match_by_family(itype: str, stop: bool) -> None:
    assert needs_stop(itype, group().policy) is stop


def test_running_standby_that_cannot_hot_plug() -> None:
    cold = inst("i-b", instance_type="ecs.t6-c1m1.large")
    why = reason(facts(cold))
    assert "i-b is Running and its type ecs.t6-c1m1.large takes an ENI only while Stopped" in why
    assert "keep it Stopped as a cold standby" in why
    stopped = inst("i-b", instance_type="ecs.t6-c1m1.large", status="Stopped")
    allowed = evaluate(group(), facts(stopped))["i-b"]
    assert allowed.ready and "a cold standby" in allowed.reason
    own_list = group(policy={"stop_to_attach_types": ["ecs.g7"]})
    assert not evaluate(own_list, facts())["i-b"].ready


def test_instance_in_a_transition_is_not_ready() -> None:
    assert "i-b is Starting; an ENI attaches only to a Running or Stopped instance" in reason(
        facts(inst("i-b", status="Starting")))


def test_cloud_assistant_offline_matters_only_for_its_guest_method() -> None:
    assert "Cloud Assistant is offline on i-b" in reason(facts(offline=("i-b",)))
    assert evaluate(group(guest={"method": "none"}), facts(offline=("i-b",)))["i-b"].ready


def test_a_prestaged_group_needs_no_agent_but_says_so() -> None:
    r = evaluate(group(guest={"prestage": True}), facts(offline=("i-b",)))["i-b"]
    assert r.ready and "only the pre-staged configuration" in r.reason
    assert evaluate(group(guest={"prestage": True}), facts())["i-b"].reason == ""


def test_a_missing_or_primary_eni_makes_no_standby_ready() -> None:
    missing = evaluate(group(), facts(eni=None))
    assert set(missing) == {"i-a", "i-b", "i-c"}
    assert all(not r.ready and r.reason == "ENI eni-svc not found" for r in missing.values())
    primary = replace(ENI, eni_type="Primary")
    assert "only a secondary ENI can move" in reason(facts(eni=primary))


def test_findings_name_the_key_path_and_check_every_member() -> None:
    f = facts(inst("i-c", zone_id="zone-i"))
    lines = [x.line() for x in group_findings(0, group(), f)]
    assert lines == ["error: groups[0].members[2]: i-c is in zone zone-i, the ENI eni-svc is in zone-h"]
    # validate counts the IPs the ENI will carry after provisioning, the holder's type included.
    tight = InstanceTypeLimits("ecs.g7.large", 3, 2)
    over = group_findings(0, group(), facts(limits={tight.instance_type: tight}), ip_count=3)
    assert [x.path for x in over] == ["groups[0].members[0]", "groups[0].members[1]", "groups[0].members[2]"]
    stray = group_findings(1, group(), facts(eni=replace(ENI, instance_id="i-zz")))
    assert [(x.path, x.error) for x in stray] == [("groups[1].network_interface", False)]


# --------------------------------------------------------------- the tracker


def tracker(cloud: FakeCloud, types: FakeInstanceTypes | None = None,
            clock: FakeClock | None = None) -> tuple[ReadinessTracker, FakeClock]:
    clock = clock or FakeClock()
    cfg = parse({"cloud": {"region": "cn-hangzhou"},
                 "defaults": {"policy": {"readiness_interval_s": 30}},
                 "groups": [{"name": "rt", "network_interface": "eni-rt", "members": ["i-a", "i-b", "i-c"],
                             "checks": [{"type": "tcp", "port": 80}]}]})
    return ReadinessTracker(cfg.groups, cloud, types or FakeInstanceTypes(), clock), clock


def gauge(instance: str, group_name: str = "rt") -> float | None:
    return metrics.REGISTRY.get_sample_value("failover_standby_ready",
                                             {"group": group_name, "ecs_instance": instance})


def test_tracker_reads_on_its_interval_and_exports_the_gauge() -> None:
    cloud = FakeCloud({"eni-rt": "i-a"}, zone="z1")
    cloud.assistant_offline.add("i-b")
    types = FakeInstanceTypes()
    t, clock = tracker(cloud, types)
    assert t.ready_map() == {}  # unknown until read: the engine allows every standby
    assert t.refresh()
    assert t.ready_map() == {"rt": {"i-b": False, "i-c": True}}
    assert "Cloud Assistant is offline on i-b" in t.answers()["rt"]["i-b"].reason
    assert (gauge("i-b"), gauge("i-c"), gauge("i-a")) == (0.0, 1.0, None)
    reads = cloud.reads
    clock.sleep(29)
    assert not t.refresh() and cloud.reads == reads  # not due yet: no API call
    clock.sleep(1)
    assert t.refresh()
    assert types.asked == [("ecs.g7",)]  # a type's limits are read once


def test_tracker_keeps_the_last_answer_while_the_cloud_fails() -> None:
    cloud = FakeCloud({"eni-rt": "i-a"}, zone="z1")
    t, clock = tracker(cloud)
    t.refresh()
    cloud.read_error = CloudError("throttled", kind=ErrorKind.RETRYABLE, code="Throttling")
    cloud.assistant_offline.add("i-c")
    clock.sleep(30)
    assert not t.refresh()
    assert t.ready_map() == {"rt": {"i-b": True, "i-c": True}}
    cloud.read_error = None
    clock.sleep(10)  # a failed round is retried sooner than the interval
    assert t.refresh()
    assert t.ready_map()["rt"]["i-c"] is False


def test_a_new_holder_loses_its_standby_series() -> None:
    cloud = FakeCloud({"eni-rt": "i-a"}, zone="z1")
    t, clock = tracker(cloud)
    t.refresh()
    assert gauge("i-b") == 1.0
    cloud.enis["eni-rt"] = replace(cloud.enis["eni-rt"], instance_id="i-b")
    clock.sleep(30)
    t.refresh()
    assert (gauge("i-a"), gauge("i-b"), gauge("i-c")) == (1.0, None, 1.0)


# ---------------------------------------------------------------- the engine


def test_engine_skips_a_standby_that_is_not_ready_for_the_next_one() -> None:
    cfg = parse({"cloud": {"region": "cn-hangzhou"}, "defaults": {"policy": {"cooldown_s": 0}},
                 "groups": [{"name": "g0", "network_interface": "eni-0", "members": ["i-a", "i-b", "i-c"],
                             "checks": [{"type": "tcp", "port": 80}]}]})
    cloud = FakeCloud({"eni-0": "i-a"}, zone="z1")
    # The first standby sits in another zone: attaching there would fail mid-failover.
    cloud.instances["i-b"] = InstanceInfo("i-b", "Running", "192.168.2.11", "z2", "vpc-a", "vsw-b", "ecs.g7")
    clock = FakeClock()
    ready = ReadinessTracker(cfg.groups, cloud, FakeInstanceTypes(), clock)
    ready.refresh()
    obs = FakeObservations()
    deps = Collaborators(cloud, FakeLeadership(), FakeJournal(), lambda g: FakeGuest(), FakeVerifier(), clock)
    engine = Engine(cfg, deps, obs, FakeRequests(), readiness=ready.ready_map)
    ctls = ["ctl-0", "ctl-1", "ctl-2"]
    obs.vote("g0", "i-a", False, ctls)
    obs.vote("g0", "i-b", True, ctls)
    obs.vote("g0", "i-c", True, ctls)
    actions = engine.tick()
    assert [(a.kind.value, a.to_instance) for a in targeted(actions)] == [("failover", "i-c")]
    deadline = time.monotonic() + 10
    while engine.ledger.running and time.monotonic() < deadline:
        time.sleep(0.01)
    record = deps.journal.history("g0")[0]
    assert (record.to_instance, record.result) == ("i-c", Result.COMPLETED)
    assert ("attach", "eni-0", "i-b") not in cloud.mutations
    assert ("attach", "eni-0", "i-c") in cloud.mutations
    engine.shutdown(1)


def test_status_shows_each_reason_and_degrades_without_a_ready_standby() -> None:
    cfg = parse({"cloud": {"region": "cn-hangzhou"},
                 "groups": [{"name": "g0", "network_interface": "eni-0", "members": ["i-a", "i-b"],
                             "checks": [{"type": "tcp", "port": 80}]}]})
    journal = FakeJournal()
    journal.states["g0"] = GroupState("g0", holder="i-a", configured="i-a")
    obs = FakeObservations()
    for m in ("i-a", "i-b"):
        obs.vote("g0", m, True, ["ctl-0", "ctl-1", "ctl-2"])
    why = "i-b is in zone z2, the ENI eni-0 is in z1"
    enis = {"eni-0": EniSeen(EniStatus.IN_USE, "i-a")}
    doc = build_status(cfg, FakeLeadership(), journal, obs.snapshot(),
                       {"g0": {"i-b": StandbyReadiness("i-b", False, why)}}, enis)
    g = doc["groups"][0]
    assert g["state"] == "degraded"
    assert [(m["instance"], m.get("ready"), m.get("ready_reason")) for m in g["members"]] == [
        ("i-a", None, None), ("i-b", False, why)]
    assert readiness_lines(g) == [f"  i-b: NOT READY: {why}"]
    ok = build_status(cfg, FakeLeadership(), journal, obs.snapshot(),
                      {"g0": {"i-b": StandbyReadiness("i-b", True)}}, enis)["groups"][0]
    assert ok["state"] == "healthy" and readiness_lines(ok) == ["  i-b: ready for the ENI"]


def test_a_recheck_rereads_a_stale_not_ready_at_once_and_at_most_every_few_seconds() -> None:
    cloud = FakeCloud({"eni-rt": "i-a"}, zone="z1")
    cloud.assistant_offline.add("i-b")  # read while i-b was rebooting
    t, clock = tracker(cloud)
    t.refresh()
    assert t.ready_map()["rt"]["i-b"] is False
    cloud.assistant_offline.clear()  # back, but the next slow round is 30 s away
    clock.sleep(1)
    assert not t.refresh()
    t.recheck("rt")
    assert t.refresh()
    assert t.ready_map()["rt"]["i-b"] is True
    cloud.assistant_offline.add("i-b")
    clock.sleep(1)
    t.recheck("rt")  # within RECHECK_S of the last one: ignored
    assert not t.refresh()
    clock.sleep(RECHECK_S)
    t.recheck("rt")
    assert t.refresh() and t.ready_map()["rt"]["i-b"] is False


def test_the_engine_asks_for_a_recheck_when_a_standby_held_back_comes_back_up() -> None:
    cfg = parse({"cloud": {"region": "cn-hangzhou"}, "defaults": {"policy": {"cooldown_s": 0}},
                 "groups": [{"name": "g0", "network_interface": "eni-0", "members": ["i-a", "i-b"],
                             "checks": [{"type": "tcp", "port": 80}]}]})
    cloud = FakeCloud({"eni-0": "i-a"}, zone="z1")
    cloud.assistant_offline.add("i-b")
    clock = FakeClock()
    ready = ReadinessTracker(cfg.groups, cloud, FakeInstanceTypes(), clock)
    ready.refresh()
    asked: list[str] = []
    obs = FakeObservations()
    deps = Collaborators(cloud, FakeLeadership(), FakeJournal(), lambda g: FakeGuest(), FakeVerifier(), clock)
    engine = Engine(cfg, deps, obs, FakeRequests(), readiness=ready.ready_map, recheck_readiness=asked.append)
    ctls = ["ctl-0", "ctl-1", "ctl-2"]
    obs.vote("g0", "i-a", False, ctls)
    obs.vote("g0", "i-b", False, ctls)
    assert [a.code for a in of_kind(Block, engine.tick())] == ["no_standby"] and asked == []  # down: nothing to re-read
    obs.vote("g0", "i-b", True, ctls)
    assert [(a.code, a.unready) for a in of_kind(Block, engine.tick())] == [("no_standby", ("i-b",))]
    assert asked == ["g0", "g0"]  # i-b came back while "not ready", and it holds a failover back
    cloud.assistant_offline.clear()
    ready.recheck("g0")
    assert ready.refresh()
    assert [(a.kind.value, a.to_instance) for a in targeted(engine.tick())] == [("failover", "i-b")]
    engine.shutdown(5)
