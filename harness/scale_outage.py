"""A zone outage inside the whole-replica fleet (`bench_health.py --outage N`).

After the steady window, the first N groups' holders stop answering at once (their
addresses refuse connections, `ScaleSystem.down`), while every replica keeps probing the
whole fleet and the emulator's gateway still throttles every action at the account's limit.
Measured as trial 7 measures an outage on its own (`trials_scale.outage_figures`): the span
from the first failover's start to the last one's end against N / qps, the bound plus the
emulated steps the last group must still wait, and the throttled calls of every replica
during the outage; checked from the cloud: every failed group's ENI moved once, to its
standby, and no other group's moved.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from failover.config import PolicyConfig
from harness.chaos import Group, journal_records
from harness.chaos_events import eni_moves
from harness.outage_path import last_group_path
from harness.scale import Progress, ScaleSystem, Snapshot, member_ip, served_ips, world
from harness.scale_measure import is_throttled
from harness.trials_scale import emulated_floors, outage_figures


def _last_records(kz: KazooClient, root: str, groups: list[Group]) -> dict[str, dict[str, Any]] | None:
    """Each group's latest journal record, when every one has finished; else None."""
    out = {}
    for g in groups:
        try:
            recs = journal_records(kz, root, g.name)
        except KazooException:
            return None  # ZooKeeper away or reconnecting: ask again
        if not recs or recs[-1]["result"] == "running":
            return None
        out[g.name] = recs[-1]
    return out


def _delta(a: Snapshot, b: Snapshot) -> tuple[Counter[str], dict[str, int]]:
    """Between two snapshots: every replica's calls by action, and each one's throttled calls."""
    calls: Counter[str] = Counter()
    throttled = {}
    for cid, now in b.calls.items():
        throttled[cid] = 0
        for (action, code), n in (now - a.calls.get(cid, Counter())).items():
            calls[action] += n
            throttled[cid] += n if is_throttled(code) else 0
    return calls, throttled


def run_outage(system: ScaleSystem, n: int, progress: Progress) -> dict[str, Any]:
    spec = system.spec
    qps = spec.account_qps or spec.api_rate_per_s
    groups = [Group(f"g{g:05d}", f"eni-{g:05d}", (f"i-{2 * g:05d}", f"i-{2 * g + 1:05d}"),
                    served_ips(g)[2]) for g in range(n)]
    assert system.sim is not None
    seq0 = int(system.sim.control.request("GET", "/events?since=0")["last"])
    before = system.snapshot()
    kz = KazooClient(hosts=system.zk.hosts, timeout=5.0)
    kz.start()
    failures: list[str] = []
    try:
        failed_at = time.time()
        system.down([member_ip(2 * g) for g in range(n)])
        limit = time.monotonic() + 120 + 20 * n / qps
        recs = None
        while recs is None and time.monotonic() < limit:
            time.sleep(1.0)
            recs = _last_records(kz, system.root, groups)
            moved = system.holders_moved()
            progress(f"outage: {moved}/{n} ENIs moved")
    finally:
        kz.stop()
        kz.close()
    after = system.snapshot()
    if recs is None:
        return {"failures": [f"not every one of {n} failovers finished within the limit"]}
    events = system.sim.control.events(seq0)
    incomplete = sorted(name for name, r in recs.items() if r["result"] != "completed")
    if incomplete:
        failures.append(f"{len(incomplete)} failovers not completed: {incomplete[:5]}")
    twice = [g.eni for g in groups if not eni_moves(events, g.eni).moved_once]
    if twice:
        failures.append(f"ENIs not moved exactly once: {twice[:5]}")
    if system.holders_moved() != n:
        failures.append(f"{system.holders_moved()} ENIs off their first member, {n} failed")
    floors = emulated_floors(events, groups, PolicyConfig().detach_timeout_s)
    calls, throttled = _delta(before, after)
    figures = outage_figures(qps, failed_at, recs, floors, dict(world(spec)["timing"]), calls,
                             sum(throttled.values()))
    progress(f"outage: {n} groups in {figures['span_s']} s (bound {figures['lower_bound_s']} s, "
             f"ratio {figures['ratio']}, {figures['throttled_calls']} throttled)")
    figures["last_group"] = last_group_path(events, groups, recs)
    return {"failures": failures, "figures": figures, "throttled_by_replica": throttled}
