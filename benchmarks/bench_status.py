"""What /status costs at 1,000 groups: latency (p50/p99) and ZooKeeper reads, before and after.

Runs its own one-node ZooKeeper and one replica's coordination (leader), fills the journal
with `--records` finished failovers per group (every group has a state and votes of its two
members), then measures:

- `full_history`: the document built the old way (`history(limit=1)` reads every record of
  every group) - a few builds, for reference;
- `status_reads_cli`: one build as `failover status` makes it (states, one listing and the
  newest record per group, pipelined);
- `mirror_replica`: one build from the replica's mirror (group states mirrored by watches,
  each with its last finished failover; only the running index is read), built whole;
- `mirror_replica_by_parts`: the same built as a replica builds it now (`StatusParts`: only
  the groups whose inputs changed are built and encoded again), one build a second while
  `--churn` groups a second change a vote;
- `http`: GET /status over loopback HTTP from `--clients` concurrent clients (threads of a
  separate process, as scrapers are) for `--seconds`, through the replica's
  `CachedDocument` (rebuilt in the background at most once a second and at most a third
  of the time; callers never wait for a rebuild) built by parts, with the churn running and
  a per-request `self` part like the replica's. The first request after start waits for
  the first build: reported on its own.
- `http_built_whole`: the same, the document built whole and encoded in one piece (before).
- `http_fixed_document`: the same, against a document that is never rebuilt: what the
  host's load alone costs the tail.
The three run in turn, `--rounds` rounds of `--seconds` each, so the shared host's changing
load falls on each alike; each round's p99 and load average are kept.

ZooKeeper reads are counted on the client (every get/get_children/exists the session sends).

    .venv/bin/python benchmarks/bench_status.py [--groups 1000] [--records 20]
    -> benchmarks/results/status.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from failover.config import Config, ZookeeperConfig  # noqa: E402
from failover.coordination import Coordination, connect  # noqa: E402
from failover.coordination.codec import encode  # noqa: E402
from failover.engine.status import StatusParts, build_status, status_inputs  # noqa: E402
from failover.engine.view import EniSeen  # noqa: E402
from failover.model import EniStatus, Result, Trigger  # noqa: E402
from failover.records import FailoverRecord, GroupState, Observation  # noqa: E402
from failover.server import CachedDocument, Encoded, OpsServer, SelfPart  # noqa: E402
from harness.zk import ZkCluster  # noqa: E402

READS = ("get_async", "get_children_async", "exists_async", "get_acls_async")


class ReadCounter:
    """Counts the read requests one kazoo client sends (wrapping its async methods)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()
        for name in READS:
            setattr(client, name, self._wrap(getattr(client, name)))

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.count += 1
            return fn(*args, **kwargs)
        return counted


def load_average() -> list[float]:
    """The host's 1/5/15-minute load averages when the figures were taken (a shared machine)."""
    return [round(x, 2) for x in os.getloadavg()]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fill(c: Coordination, groups: list[str], records: int) -> None:
    """Group states and finished records, written straight to the layout (pipelined)."""
    lay, client = c.session.layout, c.session.client
    c.session.ensure_path(lay.groups)
    base = int(time.time() * 1000) - records * 1000
    creates: list[tuple[str, bytes]] = []
    for g in groups:
        creates.append((lay.journal_group(g), b""))
        last: FailoverRecord | None = None
        for n in range(records):
            ms = base + n * 1000
            rec = FailoverRecord(id=f"{g}-{ms:x}-{n:06x}", group=g, from_instance=f"i-{g}-b",
                                 to_instance=f"i-{g}-a", trigger=Trigger.AUTO, reason="down", epoch=1,
                                 started_at=ms / 1000, result=Result.COMPLETED,
                                 finished_at=ms / 1000 + 1.0)
            creates.append((lay.record(g, rec.id), encode(rec.to_dict())))
            last = rec
        # As the executor leaves it: the last finished failover kept with the state.
        creates.append((lay.group(g), encode(GroupState(g, holder=f"i-{g}-a",
                                                        last_failover=last).to_dict())))
    c.session.ensure_path(lay.journal)
    for start in range(0, len(creates), 5000):
        chunk = creates[start:start + 5000]
        for res in c.session.many(client.create_async, chunk):
            if isinstance(res, Exception):
                raise res
    for g in groups:
        for m in (f"i-{g}-a", f"i-{g}-b"):
            c.observations.publish(Observation("a", g, m, True, time.time()))


def config(groups: list[str]) -> Config:
    return Config.model_validate({"cloud": {"region": "cn-bench"}, "groups": [
        {"name": g, "network_interface": f"eni-{g}", "members": [f"i-{g}-a", f"i-{g}-b"],
         "checks": [{"type": "tcp", "port": 80}]} for g in groups]})


def http_load_apart(port: int, clients: int, seconds: float) -> list[float]:
    """`http_load` from a process of its own, as real scrapers are: clients inside the
    replica's process would share its GIL with the rebuild and the server (each 0.6 MB read
    hands the GIL back and forth), a cost no outside client pays."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as ex:
        return ex.submit(http_load, port, clients, seconds).result()


def http_load(port: int, clients: int, seconds: float) -> list[float]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        while True:
            t0 = time.monotonic()
            with opener.open(f"http://127.0.0.1:{port}/status", timeout=30) as r:
                r.read()
                assert r.status == 200
            with lock:
                latencies.append(time.monotonic() - t0)
            if time.monotonic() >= stop:
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def whole_encoded(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A whole build as the replica made it before parts (its `as_of` added)."""
    doc = build()
    doc["as_of"] = time.time()
    return doc


class Churn:
    """Flips the vote of `per_s` groups a second (spread over the second), so rebuilds by
    parts have parts to rebuild: an idle document would flatter them."""

    def __init__(self, c: Coordination, groups: list[str], per_s: int) -> None:
        self._c, self._groups, self._per_s = c, groups, per_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="churn", daemon=True)
        self.flips = 0
        self.enis: dict[str, EniSeen] = {}
        self.read_enis()

    def read_enis(self) -> None:
        """As the replica's ENI observer leaves them after each round of reads (once a second):
        every ENI InUse on its group's first member, each look new (a new `at`)."""
        at = time.monotonic()
        self.enis = {f"eni-{g}": EniSeen(EniStatus.IN_USE, f"i-{g}-a", at, ips=("10.0.0.1",))
                     for g in self._groups}

    def start(self) -> None:
        if self._per_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(1.0 / self._per_s):
            g = self._groups[n % len(self._groups)]
            up = (n // len(self._groups)) % 2 == 1  # every group flips down, then up again
            self._c.observations.publish(Observation("a", g, f"i-{g}-b", up, time.time()))
            n += 1
            self.flips = n
            if n % self._per_s == 0:
                self.read_enis()


def serve_and_load(build: Callable[[], Any], counter: ReadCounter, args: argparse.Namespace,
                   max_age_s: float = 1.0) -> dict[str, Any]:
    """GET /status from `args.clients` clients in a process of their own for `args.seconds`,
    through a `CachedDocument` of `build` with a per-request `self` part like the replica's."""
    groups = [f"g{i:04d}" for i in range(args.groups)]

    def own_health() -> dict[str, Any]:  # app.Replica._own_health: every member's local verdict
        return {g: {f"i-{g}-a": True, f"i-{g}-b": True} for g in groups}

    self_part = SelfPart(lambda: {"id": "a", "leader": True}, "health", own_health)
    cached = CachedDocument(build, max_age_s=max_age_s, fresh=self_part)
    server = OpsServer("127.0.0.1", 0, liveness=lambda: (True, ""), ready=lambda: (True, ""),
                       status=cached)
    server.start()
    try:
        t = time.monotonic()
        http_load(server.port, 1, 0.0)  # the first request waits for the first build
        first_s = time.monotonic() - t
        before, t = counter.count, time.monotonic()
        lat = http_load_apart(server.port, args.clients, args.seconds)
        elapsed = time.monotonic() - t
        reads = counter.count - before
    finally:
        server.stop()
    return {"lat": lat, "builds": cached.builds, "first_s": first_s, "reads": reads,
            "elapsed": elapsed, "load": load_average()}


def summary(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The rounds of one way, merged: their latencies pooled."""
    lat = [x for r in runs for x in r["lat"]]
    return {"clients": args.clients, "rounds": len(runs), "seconds_each": args.seconds,
            "requests": len(lat), "p50_s": round(statistics.median(lat), 4),
            "p99_s": round(pct(lat, 99), 4), "max_s": round(max(lat), 4),
            "p99_s_per_round": [round(pct(r["lat"], 99), 4) for r in runs],
            "builds": sum(r["builds"] for r in runs),
            "first_request_after_start_s": round(max(r["first_s"] for r in runs), 3),
            # Every read the session sent meanwhile: the documents' own (5 each, see
            # `mirror_replica`) and the mirror's re-read of each vote the churn changed.
            "zk_reads_per_s": round(sum(r["reads"] for r in runs) / sum(r["elapsed"] for r in runs), 1),
            "load_average_1m_after_each_round": [r["load"][0] for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--records", type=int, default=20, help="finished failovers kept per group")
    ap.add_argument("--builds", type=int, default=20, help="uncached builds the new way")
    ap.add_argument("--full-builds", type=int, default=3, help="builds the old way")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0, help="of each round of each way")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--churn", type=int, default=50,
                    help="groups whose vote changes each second while the document is rebuilt")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/status.json")
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="sys.setswitchinterval for the replica side (default: Python's 5 ms)")
    args = ap.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    groups = [f"g{i:04d}" for i in range(args.groups)]
    cfg = config(groups)
    with tempfile.TemporaryDirectory() as tmp:
        zk = ZkCluster(Path(tmp), size=1)
        zk.start()
        c = connect(ZookeeperConfig(hosts=zk.hosts, root="/bench", session_timeout_s=6.0), "a")
        try:
            c.join()
            deadline = time.monotonic() + 30
            while not c.leadership.is_leader() and time.monotonic() < deadline:
                time.sleep(0.05)
            t0 = time.monotonic()
            fill(c, groups, args.records)
            deadline = time.monotonic() + 60
            while len(c.observations.snapshot()) < len(groups) and time.monotonic() < deadline:
                time.sleep(0.2)
            print(f"filled {args.groups} groups x {args.records} records in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
            counter = ReadCounter(c.session.client)

            def measure(build: Callable[[], dict[str, Any]], n: int,
                        pause_s: float = 0.0) -> dict[str, Any]:
                times, reads = [], []
                for _ in range(n):
                    time.sleep(pause_s)
                    before, t = counter.count, time.monotonic()
                    doc = build()
                    times.append(time.monotonic() - t)
                    reads.append(counter.count - before)
                    assert len(doc["groups"]) == len(groups)
                return {"builds": n, "p50_s": round(statistics.median(times), 4),
                        "p99_s": round(pct(times, 99), 4), "max_s": round(max(times), 4),
                        "zk_reads_per_build": max(reads)}

            churn = Churn(c, groups, args.churn)

            def cli_way() -> dict[str, Any]:
                return build_status(cfg, c.leadership, c.status_reads(groups),
                                    c.observations.snapshot(), enis=churn.enis)

            def whole() -> dict[str, Any]:  # the mirror, the document built whole (before)
                return build_status(cfg, c.leadership, c.status.view(groups),
                                    c.observations.snapshot(), enis=churn.enis)

            parts = StatusParts()

            def by_parts() -> Encoded:  # as the replica builds it (app.Replica._build_status)
                head, inputs = status_inputs(cfg, c.leadership, c.status.view(groups, parts.pace),
                                             c.observations.snapshot(), enis=churn.enis,
                                             pace=parts.pace)
                return Encoded(*parts.encode(head, inputs, {"as_of": time.time()}))

            def old_way() -> dict[str, Any]:
                return build_status(cfg, c.leadership, c.journal, c.observations.snapshot(),
                                    enis=churn.enis)

            assert whole()["groups"] == old_way()["groups"] == cli_way()["groups"]
            assert json.loads(by_parts().body)["groups"] == whole()["groups"]
            full = measure(old_way, args.full_builds)
            print(f"full history: {full}", flush=True)
            cli = measure(cli_way, args.full_builds)
            print(f"status reads (CLI): {cli}", flush=True)
            fast = measure(lambda: whole_encoded(whole), args.builds)
            print(f"mirror (replica), built whole: {fast}", flush=True)
            churn.start()
            try:
                fast_parts = measure(lambda: by_parts().doc, args.builds, pause_s=1.0)
                fast_parts["parts_built_last"] = parts.built
                print(f"mirror (replica), by parts, {args.churn} groups changing a second: "
                      f"{fast_parts}", flush=True)
                # The three ways in turn, round after round, so the host's load (shared, and
                # changing by the minute) falls on each alike. The fixed document is never
                # rebuilt: what the host's load alone costs the tail.
                fixed_doc = whole()
                ways: dict[str, tuple[Callable[[], Any], float]] = {
                    "http": (by_parts, 1.0),
                    "http_built_whole": (lambda: whole_encoded(whole), 1.0),
                    "http_fixed_document": (lambda: fixed_doc, 3600.0)}
                runs: dict[str, list[dict[str, Any]]] = {w: [] for w in ways}
                for _ in range(args.rounds):
                    for way, (build, age) in ways.items():
                        runs[way].append(serve_and_load(build, counter, args, max_age_s=age))
                        print(f"{way}: p99 {pct(runs[way][-1]['lat'], 99):.4f} s, "
                              f"load {runs[way][-1]['load'][0]}", flush=True)
            finally:
                churn.stop()
            http, http_whole, control = (summary(runs[w], args) for w in ways)
            control["document_bytes"] = len(json.dumps(fixed_doc, separators=(",", ":")))
            print(f"http (by parts): {http}\nhttp (built whole, as before): {http_whole}\n"
                  f"http, fixed document: {control}", flush=True)
        finally:
            c.close()
            zk.stop()
    result = {
        "benchmark": "status",
        "command": "benchmarks/bench_status.py " + " ".join(sys.argv[1:]),
        "settings": {"groups": args.groups, "records_per_group": args.records,
                     "members_per_group": 2, "replicas": 1, "cache_s": 1.0,
                     "clients_in": "a separate process",
                     "groups_changing_per_s": args.churn,
                     "enis": "every ENI InUse on a member, looked at again every second",
                     "self_part": "every member's own health, as app.Replica's (SelfPart)",
                     "switch_interval_s": sys.getswitchinterval(),
                     "zookeeper": "one local node, loopback"},
        "full_history": full, "status_reads_cli": cli, "mirror_replica": fast,
        "mirror_replica_by_parts": fast_parts, "http": http, "http_built_whole": http_whole,
        "http_fixed_document": control,
        "note": "2 CPU cores shared with other engineers' work while measured",
        "load_average": load_average(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
