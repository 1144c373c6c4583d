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
    srv = OpsServer("127.0.0.1", 0, liveness=lambda: (True, ""), ready=lambda: knobs["ready"],
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

    srv = OpsServer("127.0.0.1", 0, liveness=lambda: (True, ""), ready=lambda: (True, ""), status=broken)
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


def test_a_cached_document_is_rebuilt_in_the_background_at_most_once_per_age() -> None:
    import threading

    from failover.server import CachedDocument
    now = [0.0]
    built: list[float] = []
    spawned: list[Any] = []

    def build() -> dict[str, Any]:
        built.append(now[0])
        return {"n": len(built)}

    doc = CachedDocument(build, max_age_s=1.0, monotonic=lambda: now[0], spawn=spawned.append)
    threads = [threading.Thread(target=doc) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert doc() == {"n": 1} and doc.builds == 1  # the first callers wait for one build
    now[0] = 0.99
    assert doc() == {"n": 1} and spawned == []
    now[0] = 1.0
    assert doc() == {"n": 1}  # stale: answered at once, one rebuild started...
    assert doc() == {"n": 1} and len(spawned) == 1  # ...and never a second while it runs
    spawned[0]()
    assert doc() == {"n": 2} and built == [0.0, 1.0]
    assert json.loads(doc.body()) == {"n": 2}  # encoded by the build, not by each request
    now[0] = 10.0  # nobody asked for a long time: the old one is not served, the caller waits
    assert doc() == {"n": 3} and len(spawned) == 1


def test_a_slow_build_is_not_repeated_more_than_a_third_of_the_time() -> None:
    from failover.server import CachedDocument
    now = [0.0]
    spawned: list[Any] = []

    def build() -> dict[str, Any]:
        now[0] += 3.0  # a build that takes 3 s
        return {}

    doc = CachedDocument(build, max_age_s=1.0, monotonic=lambda: now[0], spawn=spawned.append)
    doc()
    now[0] += 5.9
    doc()
    assert spawned == []  # 5.9 s old: not yet twice the build's 3 s
    now[0] += 0.1
    doc()
    assert len(spawned) == 1


def test_a_failed_rebuild_keeps_the_last_document() -> None:
    from failover.server import CachedDocument
    now = [0.0]
    fail = [False]
    spawned: list[Any] = []

    def build() -> dict[str, Any]:
        if fail[0]:
            raise RuntimeError("zookeeper away")
        return {"ok": True}

    doc = CachedDocument(build, max_age_s=1.0, monotonic=lambda: now[0], spawn=spawned.append)
    assert doc() == {"ok": True}
    fail[0], now[0] = True, 2.0
    assert doc() == {"ok": True}
    spawned[0]()
    assert doc() == {"ok": True} and len(spawned) == 2  # tried again on the next call
    now[0] = 10.0  # too old to serve, and no new one: the caller hears it (/status answers 503)
    with pytest.raises(RuntimeError):
        doc()


def test_fresh_keys_are_never_cached() -> None:
    from failover.server import CachedDocument
    leader = [False]
    doc = CachedDocument(lambda: {"groups": [1]}, max_age_s=60.0,
                         fresh=lambda: {"self": {"leader": leader[0]}})
    assert doc() == {"groups": [1], "self": {"leader": False}}
    leader[0] = True
    assert doc() == {"groups": [1], "self": {"leader": True}}
    assert json.loads(doc.body()) == {"groups": [1], "self": {"leader": True}}
    empty = CachedDocument(dict, max_age_s=60.0, fresh=lambda: {"self": 1})
    assert json.loads(empty.body()) == {"self": 1}


def test_concurrent_scrapers_are_queued_not_dropped_while_the_server_is_busy() -> None:
    """Connections the accept loop has not taken yet (a rebuild holds the GIL) wait in the
    listen backlog; past it the kernel drops the SYN and the client retries a second later."""
    import socket

    from failover.server import _Server

    srv = _Server(("127.0.0.1", 0), lambda: (True, ""), lambda: (True, ""), dict)
    conns: list[socket.socket] = []
    try:
        for _ in range(20):  # nothing accepts: every one must still complete its handshake
            conns.append(socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=0.5))
    finally:
        for c in conns:
            c.close()
        srv.server_close()
    assert len(conns) == 20


def post(port: int, path: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    try:
        with _OPENER.open(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_notices_are_posted_to_the_notice_sink_only() -> None:
    got: list[tuple[bytes, str]] = []

    def sink(body: bytes, sender: str) -> tuple[int, str]:
        got.append((body, sender))
        return 202, "accepted"

    srv = OpsServer("127.0.0.1", 0, liveness=lambda: (True, ""), ready=lambda: (True, ""),
                    status=lambda: {}, notice=sink)
    srv.start()
    try:
        assert post(srv.port, "/notice", b"failover-notice v1 ...") == (202, "accepted\n")
        assert got == [(b"failover-notice v1 ...", "127.0.0.1")]
        assert post(srv.port, "/notice", b"x" * 600)[0] == 400  # longer than any notice: not read
        assert post(srv.port, "/status", b"x")[0] == 404
        assert len(got) == 1
    finally:
        srv.stop()


def test_without_a_notice_sink_nothing_is_posted(server: tuple[OpsServer, dict[str, Any]]) -> None:
    srv, _ = server
    assert post(srv.port, "/notice", b"failover-notice v1 ...")[0] == 404
