"""The auth-upgrade trial: a deployment started without ZooKeeper auth is restarted with it.

Afterwards every write an unauthenticated client tries under the root is refused (create a
child, set data, set ACL, delete: on every znode; goal all), a leader whose epoch is bumped
from outside (by someone holding the credential) resigns within one tick and leads again
with a newer epoch, and a failover still completes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import yaml
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError, NotEmptyError
from kazoo.security import OPEN_ACL_UNSAFE

from harness.chaos import ChaosSystem
from harness.trials import Progress, TrialResult, fail_and_wait, judge, quiet, restore
from harness.waiting import wait_for

CREDENTIAL = "failover:trial-secret"  # a test credential on a loopback ZooKeeper
TICK_S = 1.0  # the session worker's tick


def enable_auth(system: ChaosSystem) -> None:
    """Stops every replica, turns zookeeper.auth on in the config, starts them again."""
    system.f.stop_all()
    doc = yaml.safe_load(system.f.config.read_text())
    doc["zookeeper"]["auth"] = {"credential_env": "FAILOVER_ZK_CREDENTIAL"}
    system.f.config.write_text(yaml.safe_dump(doc))
    system.f.env["FAILOVER_ZK_CREDENTIAL"] = CREDENTIAL
    assert system.kz is not None
    system.kz.add_auth("digest", CREDENTIAL)  # the trial's own reader keeps its view
    for cid in list(system.f.replicas):
        system.f.start(cid)
    system.wait_steady(60)


def tree(kz: KazooClient, root: str) -> list[str]:
    out, level = [], [root]
    while level:
        out += level
        level = [f"{p}/{c}" for p in level for c in kz.get_children(p)]
    return out


def outsider_writes(hosts: str, paths: list[str]) -> tuple[int, int, list[str]]:
    """(refused, tried, what got through) for four writes per znode by a client without auth."""
    kz = KazooClient(hosts=hosts, timeout=5.0)
    kz.start(timeout=15)
    tried, refused, through = 0, 0, []
    try:
        for p in paths:
            attempts: list[tuple[str, Any]] = [
                ("create", lambda p=p: kz.create(f"{p}/intruder", b"x")),
                ("set", lambda p=p: kz.set(p, b"{}")),
                ("set_acls", lambda p=p: kz.set_acls(p, OPEN_ACL_UNSAFE)),
                ("delete", lambda p=p: kz.delete(p)),
            ]
            for what, write in attempts:
                tried += 1
                try:
                    write()
                    through.append(f"{what} {p}")
                except NoAuthError:
                    refused += 1
                except (NoNodeError, NotEmptyError):
                    refused += 1  # not a permission answer, but nothing was written either
    finally:
        kz.stop()
        kz.close()
    return refused, tried, through


def leader_epoch(kz: KazooClient, root: str) -> tuple[str, int] | None:
    try:
        doc = json.loads(kz.get(f"{root}/leader")[0])
    except NoNodeError:
        return None
    return str(doc["id"]), int(doc["epoch"])


def resignations(system: ChaosSystem, cid: str) -> list[float]:
    """For each stale-epoch resignation in the replica's log: seconds from the refused write."""
    out = []
    for line in system.f.replicas[cid].log.read_text(errors="replace").splitlines():
        if "resigned leadership" in line and "is stale" in line:
            msg = json.loads(line)["msg"]
            out.append(float(msg.split(" since ")[1].split(" s;")[0]))
    return out


def auth_upgrade(system: ChaosSystem, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("21c. auth upgrade: restarted with zookeeper.auth on an open tree", 1)
    kz = system.kz
    assert kz is not None
    enable_auth(system)
    paths = tree(kz, system.root)
    refused, tried, through = outsider_writes(system.zk.hosts, paths)
    result.check(not through, f"unauthenticated writes got through: {through[:5]}")
    progress(f"auth upgrade: {refused}/{tried} unauthenticated writes refused on {len(paths)} znodes")
    before = wait_for(lambda: leader_epoch(kz, system.root), 10, "a leader", system.diag)
    kz.set(f"{system.root}/epoch", b'{"by": "an operator"}')  # bumps the epoch under the leader
    bumped = kz.get(f"{system.root}/epoch")[1].version
    t0 = time.monotonic()
    # The leader finds out on its next fenced write (the group state of a routine tick, or a
    # failover's journal); the failover below makes sure it writes.
    g = system.groups[0]
    src = system.holder_of(g) or g.members[0]
    out = fail_and_wait(system, g, timeout=90)
    after = wait_for(lambda: (le := leader_epoch(kz, system.root)) and le[1] > bumped and le,
                     10, "a leader with an epoch newer than the bump", system.diag)
    took = time.monotonic() - t0
    judge(result, "after the bump", out, system.other(g, src))
    restore(system, src)
    stale_for = resignations(system, before[0])
    result.check(bool(stale_for), f"{before[0]} never resigned its stale epoch")
    result.check(all(s <= TICK_S + 0.5 for s in stale_for),
                 f"{before[0]} resigned {stale_for} s after its epoch went stale (one tick: {TICK_S} s)")
    result.figures = {
        "znodes": len(paths), "unauthenticated_writes_tried": tried,
        "unauthenticated_writes_refused": refused,
        "leader_before": before, "leader_after": after, "bumped_to": bumped,
        "new_epoch_after_s": round(took, 2),
        "resigned_after_stale_s": stale_for,
    }
    return result.done()
