"""Takeover time after the leader's process is SIGKILLed (median of N), next to the session timeout.

Runs its own one-node ZooKeeper (tickTime=500) and three replica processes;
each trial kills the current leader and measures, on CLOCK_MONOTONIC (shared
by all processes on Linux), from the kill to the moment another replica
reports itself leader. A replacement replica keeps three alive.

    .venv/bin/python benchmarks/bench_takeover.py [--trials 10] [--session 2.0]
    -> benchmarks/results/takeover.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.procs import ReplicaProc, start_replica  # noqa: E402
from harness.zk import ZkCluster  # noqa: E402


def wait_leader(reps: dict[str, ReplicaProc], timeout: float) -> tuple[str, float] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in reps.values():
            while (ev := r.next_event(0)) is not None:
                if ev["event"] == "leader":
                    r.last_leader_t = ev["t"]
        leading = [c for c, r in reps.items() if r.leading]
        if len(leading) == 1:
            return leading[0], reps[leading[0]].last_leader_t
        time.sleep(0.005)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--session", type=float, default=2.0, help="zookeeper.session_timeout_s")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/takeover.json")
    args = ap.parse_args()
    trials: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        zk = ZkCluster(Path(tmp), size=1)
        zk.start()
        reps: dict[str, ReplicaProc] = {}
        try:
            for i in range(3):
                reps[f"r{i}"] = start_replica(zk.hosts, "/bench", f"r{i}", args.session)
            found = wait_leader(reps, 30)
            assert found, "no initial leader"
            for n in range(args.trials):
                leader, _ = found
                time.sleep(0.5 + (n % 4) * 0.15)  # vary the heartbeat phase at the kill
                reps[leader].kill()
                killed = time.monotonic()
                del reps[leader]
                found = wait_leader(reps, args.session + 10)
                assert found, f"trial {n}: no new leader"
                took = found[1] - killed
                trials.append(round(took, 4))
                print(f"trial {n}: {leader} killed -> {found[0]} leads after {took:.3f}s", flush=True)
                cid = f"r{3 + n}"
                reps[cid] = start_replica(zk.hosts, "/bench", cid, args.session)
                while (ev := reps[cid].next_event(30)) is not None and ev["event"] != "ready":
                    pass
                time.sleep(0.3)  # let it register before the next kill
        finally:
            for r in reps.values():
                r.kill()
            zk.stop()
    ordered = sorted(trials)
    result = {
        "what": "leader takeover after SIGKILL of the leader's process",
        "session_timeout_s": args.session,
        "zookeeper": {"nodes": 1, "tickTime_ms": 500},
        "replicas": 3,
        "median_s": round(statistics.median(trials), 4),
        "p90_s": ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)],  # nearest rank
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "trials": trials,
        "command": f"benchmarks/bench_takeover.py --trials {args.trials} --session {args.session}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
