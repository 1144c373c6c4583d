"""The ops endpoints over real HTTP on loopback, and the status document."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from failover import metrics
from failover.config import parse
from failover.engine.status import build_status
from failover.engine.view import EniSeen
from failover.model import EniStatus, Result, Trigger
from failover.records import FailoverRecord, GroupState
from failover.server import OpsServer
from tests.unit.engine.fakes import FakeJournal, FakeLeadership, FakeObservations

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with _OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def server() -> Iterator[tuple[OpsServer, dict[str, Any]]]:
    knobs: dict[str, Any] = {"ready": (False, "zookeeper not connected"), "status": {"leader": None}}
    srv = OpsServer("127.0.0.1", 0, liveness=lambda: (True, ""), readiness=lambda: knobs["ready"],
                    status=lambda: knobs["status"])
    srv.start()
    try:
        yield srv, knobs
    finally:
        srv.stop()


def test_endpoints(server: tuple[OpsServer, dict[str, Any]]) -> None:
    srv, knobs = server
    metrics.FAILOVERS.labels(group="web", result="completed", trigger="drill").inc()
    code, body = get(srv.port, "/metrics")
    assert code == 200
    assert 'failover_failovers_total{group="web",result="completed",trigger="drill"}' in body
    assert get(srv.port, "/healthz") == (200, "ok\n")
    assert get(srv.port, "/readyz") == (503, "zookeeper not connected\n")
    knobs["ready"] = (True, "")
    assert get(srv.port, "/readyz")[0] == 200
    knobs["status"] = {"leader": "ctl-a"}
    assert json.loads(get(srv.port, "/status")[1]) == {"leader": "ctl-a"}
    assert get(srv.port, "/nope")[0] == 404


def test_status_endpoint_survives_a_failing_source() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("zk down")

    srv = OpsServer("127.0.0.1", 0, liveness=lambda: (True, ""), readiness=lambda: (True, ""), status=broken)
    srv.start()
    try:
        assert get(srv.port, "/status")[0] == 503
        assert get(srv.port, "/healthz")[0] == 200
    finally:
        srv.stop()


def test_status_document_follows_the_contract() -> None:
    cfg = parse({"cloud": {"region": "r"}, "groups": [
        {"name": "web", "network_interface": "eni-a", "members": ["i-a", "i-b"],
         "checks": [{"type": "tcp", "port": 80}]}]})
    lead = FakeLeadership("ctl-0", controllers=2)
    journal = FakeJournal()
    journal.states["web"] = GroupState("web", holder="i-a", configured="i-a")
    rec = FailoverRecord("f1", "web", "i-b", "i-a", Trigger.DRILL, "x", 100.0, 1, Result.COMPLETED, 101.5)
    journal.records["f1"] = rec
    obs = FakeObservations()
    obs.vote("web", "i-a", True, ["ctl-0", "ctl-1"])
    obs.vote("web", "i-b", False, ["ctl-0", "ctl-1"])
    doc = build_status(cfg, lead, journal, obs.snapshot(),
                       enis={"eni-a": EniSeen(EniStatus.IN_USE, "i-a")})
    assert doc["leader"] == "ctl-0"
    assert doc["controllers"] == [{"id": "ctl-0", "leader": True}, {"id": "ctl-1", "leader": False}]
    g = doc["groups"][0]
    assert (g["name"], g["holder"], g["state"]) == ("web", "i-a", "degraded")
    assert g["members"][0] == {"instance": "i-a", "up": True, "votes": {"ctl-0": True, "ctl-1": True},
                               "holder": True}
    assert g["last_failover"]["from"] == "i-b" and g["last_failover"]["duration_s"] == 1.5
    assert g["last_failover"]["result"] == "completed"
    assert g["served"] is True and g["eni"]["status"] == "InUse"


def test_status_never_calls_a_group_served_on_the_strength_of_the_journal() -> None:
    cfg = parse({"cloud": {"region": "r"}, "groups": [
        {"name": "web", "network_interface": "eni-a", "members": ["i-a", "i-b"],
         "checks": [{"type": "tcp", "port": 80}]}]})
    journal = FakeJournal()
    journal.states["web"] = GroupState("web", holder="i-a", configured="i-a")
    obs = FakeObservations()
    for m in ("i-a", "i-b"):
        obs.vote("web", m, True, ["ctl-0"])

    def group(eni: EniSeen | None) -> dict[str, Any]:
        enis = {} if eni is None else {"eni-a": eni}
        doc: dict[str, Any] = build_status(cfg, FakeLeadership("ctl-0", controllers=1), journal,
                                           obs.snapshot(), enis=enis)["groups"][0]
        return doc

    assert group(EniSeen(EniStatus.IN_USE, "i-a"))["state"] == "healthy"
    assert group(None)["state"] == "unknown"  # no read of the cloud: nothing is claimed
    unknown = group(EniSeen(None, None, error="the cloud reported a status ..."))
    assert unknown["state"] == "unknown" and "status" in unknown["unserved_reason"]
    available = group(EniSeen(EniStatus.AVAILABLE, None))
    assert (available["state"], available["holder"], available["served"]) == ("unserved", None, False)
    assert "Available" in available["unserved_reason"]
    assert available["eni"]["recorded_holder"] == "i-a"
    moved = group(EniSeen(EniStatus.IN_USE, "i-b"))  # moved by hand: not yet configured there
    assert (moved["state"], moved["holder"]) == ("unserved", "i-b")
    assert "guest step" in moved["unserved_reason"]
    foreign = group(EniSeen(EniStatus.IN_USE, "i-zzz"))
    assert foreign["state"] == "unserved" and "not a member" in foreign["unserved_reason"]
    obs.vote("web", "i-a", False, ["ctl-0"])
    assert group(EniSeen(EniStatus.IN_USE, "i-a"))["state"] == "down"
