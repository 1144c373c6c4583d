"""Maintenance pause: no automatic failover, drills still served (decide's guard and the loop)."""

from __future__ import annotations

from failover import metrics
from failover.engine.actions import Block
from failover.engine.decide import Kind
from failover.engine.loop import Engine
from failover.model import Trigger
from failover.records import DrillRequest
from tests.unit.engine.narrow import of_kind
from tests.unit.engine.test_decide import NOW, one, view
from tests.unit.engine.test_loop import CTLS, Rig


def test_a_paused_group_with_its_holder_down_is_blocked_not_failed_over() -> None:
    a = one(view({"i-a": False, "i-b": True, "i-c": True}, paused=True))
    assert (a.kind, a.code) == (Kind.BLOCK, "paused")
    assert "failover resume web" in a.reason
    a = one(view({"i-a": False, "i-b": True}, holder=None, paused=True))  # no holder at all
    assert (a.kind, a.code) == (Kind.BLOCK, "paused")


def test_a_paused_group_still_serves_a_drill() -> None:
    req = DrillRequest(id="r1", group="web", to_instance="i-b", created_at=NOW, expires_at=NOW + 60,
                       requested_by="op")
    a = one(view({"i-a": True, "i-b": True, "i-c": True}, paused=True), (req,))
    assert a.kind == Kind.DRILL and a.to_instance == "i-b"
    assert (a.request, a.trigger) == (req, Trigger.DRILL)


def test_the_loop_holds_a_paused_group_exports_the_gauge_and_fails_over_after_resume() -> None:
    paused = {"g0": 1_800_000_000.0}
    r = Rig()
    r.engine = Engine(r.cfg, r.engine.deps, r.obs, r.req, paused=lambda: dict(paused))
    r.votes("i-a", True)
    r.votes("i-b", True)
    assert r.engine.tick() == []
    gauge = metrics.REGISTRY.get_sample_value
    assert gauge("failover_group_paused_since_timestamp_seconds", {"group": "g0"}) == 1.8e9
    r.obs.vote("g0", "i-a", False, CTLS)
    actions = r.engine.tick()
    assert [(a.kind, a.code) for a in of_kind(Block, actions)] == [(Kind.BLOCK, "paused")]
    assert r.cloud.mutations == []
    paused.clear()  # `failover resume`
    actions = r.engine.tick()
    assert [a.kind for a in actions] == [Kind.FAILOVER]
    assert gauge("failover_group_paused_since_timestamp_seconds", {"group": "g0"}) == 0
    r.settle()
