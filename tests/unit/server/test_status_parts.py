"""The /status document rebuilt by parts: the same document as built whole, and only the
groups whose inputs changed are built and encoded again."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from failover.config import Config, parse
from failover.engine.readiness import StandbyReadiness
from failover.engine.status import StatusParts, build_status, status_inputs
from failover.engine.view import EniSeen
from failover.model import EniStatus, Result, Trigger
from failover.records import FailoverRecord, GroupState
from failover.server import CachedDocument, Encoded
from tests.unit.engine.fakes import FakeJournal, FakeLeadership, FakeObservations

GROUPS = ("web", "db", "cache")


def config() -> Config:
    return parse({"cloud": {"region": "r"}, "groups": [
        {"name": g, "network_interface": f"eni-{g}", "members": [f"i-{g}-a", f"i-{g}-b"],
         "checks": [{"type": "tcp", "port": 80}]} for g in GROUPS]})


class World:
    def __init__(self) -> None:
        self.cfg = config()
        self.lead = FakeLeadership("ctl-0", controllers=2)
        self.journal = FakeJournal()
        self.obs = FakeObservations()
        self.enis: dict[str, EniSeen] = {}
        self.readiness: dict[str, dict[str, StandbyReadiness]] = {}
        for g in GROUPS:
            self.journal.states[g] = GroupState(g, holder=f"i-{g}-a", configured=f"i-{g}-a")
            self.obs.vote(g, f"i-{g}-a", True, ["ctl-0", "ctl-1"])
            self.obs.vote(g, f"i-{g}-b", True, ["ctl-0", "ctl-1"])
            self.enis[f"eni-{g}"] = EniSeen(EniStatus.IN_USE, f"i-{g}-a", at=1.0)
            self.readiness[g] = {f"i-{g}-b": StandbyReadiness(f"i-{g}-b", True)}
        self.paused: dict[str, float] = {}

    def whole(self) -> dict[str, Any]:
        return build_status(self.cfg, self.lead, self.journal, self.obs.snapshot(),
                            readiness=self.readiness, enis=self.enis, paused=self.paused)

    def parts(self, parts: StatusParts) -> tuple[dict[str, Any], bytes]:
        head, inputs = status_inputs(self.cfg, self.lead, self.journal, self.obs.snapshot(),
                                     readiness=self.readiness, enis=self.enis, paused=self.paused)
        return parts.encode(head, inputs, {"as_of": 12.5})


def same_as_whole(world: World, parts: StatusParts) -> None:
    doc, body = world.parts(parts)
    want = {**world.whole(), "as_of": 12.5}
    assert doc == want
    assert json.loads(body) == want
    assert list(json.loads(body)) == ["leader", "controllers", "groups", "as_of"]


def test_only_the_groups_whose_inputs_changed_are_built_again() -> None:
    world, parts = World(), StatusParts(sleep=lambda s: None)
    same_as_whole(world, parts)
    assert parts.built == 3
    same_as_whole(world, parts)
    assert parts.built == 0  # nothing changed: every part reused
    world.obs.vote("db", "i-db-b", False, ["ctl-1"])  # one vote
    same_as_whole(world, parts)
    assert parts.built == 1
    world.journal.states["web"] = GroupState("web", holder="i-web-a", configured="i-web-a",
                                             blocked_reason="flapping")
    world.paused["cache"] = 99.0
    same_as_whole(world, parts)
    assert parts.built == 2
    world.readiness["db"] = {"i-db-b": StandbyReadiness("i-db-b", False, "agent offline")}
    same_as_whole(world, parts)
    assert parts.built == 1
    rec = FailoverRecord("f1", "web", "i-web-a", "i-web-b", Trigger.AUTO, "down", 100.0, 1)
    world.journal.records["f1"] = rec  # a failover running: the document says so
    same_as_whole(world, parts)
    assert parts.built == 1
    world.journal.records["f1"] = dataclasses.replace(rec, result=Result.COMPLETED, finished_at=102.0)
    same_as_whole(world, parts)
    assert parts.built == 1
    world.lead.n = 1  # the electorate shrinks: every verdict may change, every part is new
    same_as_whole(world, parts)
    assert parts.built == 3


def test_a_new_read_of_an_unchanged_eni_reuses_the_part_and_any_change_does_not() -> None:
    world, parts = World(), StatusParts(sleep=lambda s: None)
    world.parts(parts)
    world.enis["eni-web"] = dataclasses.replace(world.enis["eni-web"], at=2.0)
    same_as_whole(world, parts)
    assert parts.built == 0  # `at` is in no document
    changes = {"status": EniStatus.AVAILABLE, "instance": "i-web-b", "error": "throttled",
               "ips": ("10.0.0.9",)}
    fields = {f.name for f in dataclasses.fields(EniSeen)} - {"at"}
    assert set(changes) == fields, "a new EniSeen field: add it to this test"
    for name, value in changes.items():
        world.enis["eni-web"] = dataclasses.replace(world.enis["eni-web"], **{name: value})  # type: ignore[arg-type]  # each field by name: mypy cannot tie the value to it
        same_as_whole(world, parts)
        assert parts.built == 1, name


def test_a_reloaded_config_drops_and_adds_parts() -> None:
    world, parts = World(), StatusParts(sleep=lambda s: None)
    world.parts(parts)
    world.cfg = parse({"cloud": {"region": "r"}, "groups": [
        {"name": "web", "network_interface": "eni-web", "members": ["i-web-a", "i-web-c"],
         "checks": [{"type": "tcp", "port": 80}]}]})
    same_as_whole(world, parts)
    assert parts.built == 1  # the group's members changed: its part is new
    assert [g["name"] for g in world.parts(parts)[0]["groups"]] == ["web"]


def test_a_long_rebuild_lets_requests_in_between_parts() -> None:
    pauses: list[float] = []
    world = World()
    parts = StatusParts(yield_every_s=0.0, pause_s=0.0003, sleep=pauses.append)
    world.parts(parts)
    assert pauses == [0.0003] * 3  # after every part when each takes longer than the period
    pauses.clear()
    status_inputs(world.cfg, world.lead, world.journal, world.obs.snapshot(), pace=parts.pace)
    assert pauses == [0.0003] * 3  # reading the inputs is paced the same way
    pauses.clear()
    StatusParts(yield_every_s=60.0, sleep=pauses.append).encode(*status_inputs(
        world.cfg, world.lead, world.journal, world.obs.snapshot()), {})
    assert pauses == []


def test_an_encoded_document_is_served_as_built() -> None:
    body = b'{"groups":[],"as_of":1}'
    doc = CachedDocument(lambda: Encoded({"groups": [], "as_of": 1}, body), max_age_s=60.0,
                         fresh=lambda: {"self": {"id": "a"}})
    assert doc() == {"groups": [], "as_of": 1, "self": {"id": "a"}}
    served = doc.body()
    assert served.startswith(body[:-1] + b",")  # the build's bytes, the fresh part spliced in
    assert json.loads(served) == {"groups": [], "as_of": 1, "self": {"id": "a"}}


def test_the_self_part_reads_leadership_on_every_answer_and_health_at_most_every_max_age() -> None:
    from failover.server import SelfPart
    now, leader, made = [0.0], [False], [0]

    def health() -> dict[str, Any]:
        made[0] += 1
        return {"web": {"i-a": made[0] == 1}}

    part = SelfPart(lambda: {"id": "a", "leader": leader[0]}, "health", health, max_age_s=0.1,
                    monotonic=lambda: now[0])
    first = part()
    assert first.doc == {"self": {"id": "a", "leader": False, "health": {"web": {"i-a": True}}}}
    assert json.loads(first.body) == first.doc
    leader[0], now[0] = True, 0.09
    second = part()
    assert second.doc["self"]["leader"] is True and made[0] == 1  # live: yes; health: reused
    assert json.loads(second.body) == second.doc
    now[0] = 0.1
    assert part().doc["self"]["health"] == {"web": {"i-a": False}} and made[0] == 2
    doc = CachedDocument(lambda: {"groups": [], "as_of": 1.0}, max_age_s=60.0, fresh=part)
    assert json.loads(doc.body()) == doc() == {"groups": [], "as_of": 1.0, **part().doc}
