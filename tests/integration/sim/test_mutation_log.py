"""The event log names the access key of every mutating call, accepted or refused; reads are not logged."""

from __future__ import annotations

from typing import Any

from harness.sim import SimServer, small_world
from harness.waiting import wait_for
from tests.integration.sim.util import attach, detach, eni_status, expect_error


def test_every_mutation_is_logged_with_its_access_key() -> None:
    world: dict[str, Any] = small_world(timing={"attach_s": 0.0, "detach_s": 0.0})
    world["access_keys"] = {**world["access_keys"], "AK-replica-b": "secret-b"}
    with SimServer.from_world(world) as sim:
        a = sim.ecs_client()
        b = sim.ecs_client(access_key_id="AK-replica-b", access_key_secret="secret-b")
        eni_id, holder = "eni-svc", "i-primary"
        before = sim.control.events()
        since = before[-1]["seq"] if before else 0
        eni_status(a, eni_id)  # a read: not logged
        detach(a, eni_id, holder)
        wait_for(lambda: eni_status(a, eni_id)[0] == "Available")
        expect_error("InvalidEcsId.NotFound", 404, lambda: attach(b, eni_id, "i-nope"))
        attach(b, eni_id, holder)
        logged = [(e["id"], e["access_key_id"]) for e in sim.control.events(since)
                  if e["kind"] == "mutation"]
        assert logged == [("DetachNetworkInterface", sim.access_key_id),
                          ("AttachNetworkInterface", "AK-replica-b"),
                          ("AttachNetworkInterface", "AK-replica-b")]
        assert "secret-b" not in str(sim.control.events(since))
