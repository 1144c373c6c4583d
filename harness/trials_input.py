"""Trial 8 (ZooKeeper side): garbage where the controller keeps its state.

- a finished journal record overwritten with garbage: the replicas keep
  leading and serving, `history` skips it with a log line, `journal inspect`
  marks it CORRUPT, `journal reset ID --yes` removes it, failovers still work;
- the group-state znode overwritten with garbage: no crash loop, a clear error
  naming the znode, and `journal reset --all --groups --yes` recovers;
- a live replica's observation znode overwritten with garbage: ignored with a
  log line (not one per tick), the member's verdict comes from the other votes.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from kazoo.exceptions import NoNodeError

from harness.chaos import ChaosSystem, pause
from harness.replicas import Replica
from harness.trials import Progress, TrialResult, fail_and_wait, judge, quiet, restore
from harness.waiting import wait_for

GARBAGE = b"\x00\xff{not json"
OBS_LOG = "ignoring observation znode"
TICK_FAILED = "engine tick failed"


def _clean(result: TrialResult, what: str, out: subprocess.CompletedProcess[str], codes: tuple[int, ...]) -> bool:
    ok = out.returncode in codes and "Traceback" not in out.stderr + out.stdout
    return result.check(ok, f"{what}: exit {out.returncode}, stderr {out.stderr[-400:]!r}")


def _alive(result: TrialResult, system: ChaosSystem, what: str) -> None:
    for r in system.f.replicas.values():
        code, _ = r.get("/healthz")
        result.check(r.proc.poll() is None and code == 200,
                     f"{what}: replica {r.cid} exit {r.proc.poll()}, /healthz {code}")
    result.check(system.f.leader() is not None, f"{what}: no leader")


def _wait_leader(system: ChaosSystem, not_cid: str, timeout: float) -> Replica | None:
    """The replica owning the leader znode, other than `not_cid` (its /status may be down)."""
    assert system.kz is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cid = json.loads(system.kz.get(f"{system.root}/leader")[0]).get("id")
        except (NoNodeError, ValueError):
            cid = None
        r = system.f.replicas.get(cid or "")
        if cid != not_cid and r is not None and r.proc.poll() is None:
            return r
        time.sleep(0.1)
    return None


def corrupt_record(system: ChaosSystem, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("8b. corrupt journal record", 1)
    g = system.groups[0]
    src = system.holder_of(g) or g.members[0]
    out = fail_and_wait(system, g)
    judge(result, "setup", out, system.other(g, src))
    restore(system, src)
    assert system.kz is not None
    rec_id = out.record["id"]
    system.kz.set(f"{system.root}/journal/{g.name}/{rec_id}", GARBAGE)
    pause(2.0)
    _alive(result, system, "after corrupting a record")
    hist = system.f.cli("history", "--json")
    if _clean(result, "history", hist, (0,)):
        result.check(rec_id not in hist.stdout, "history shows the corrupt record")
        result.check("corrupt" in hist.stderr, f"history did not say it skipped a corrupt record: {hist.stderr!r}")
    _clean(result, "status", system.f.cli("status"), (0,))
    inspect = system.f.cli("journal", "inspect")
    if _clean(result, "journal inspect", inspect, (0,)):
        result.check(any("CORRUPT" in line and rec_id in line for line in inspect.stdout.splitlines()),
                     f"journal inspect does not mark {rec_id} CORRUPT: {inspect.stdout!r}")
    _clean(result, "journal reset", system.f.cli("journal", "reset", rec_id, "--yes"), (0,))
    after = system.f.cli("journal", "inspect")
    if _clean(result, "journal inspect after reset", after, (0,)):
        result.check("0 corrupt" in after.stdout, f"still corrupt after reset: {after.stdout!r}")
    holder = system.holder_of(g) or src
    try:
        again = fail_and_wait(system, g)
        judge(result, "after reset", again, system.other(g, holder))
        restore(system, holder)
    except AssertionError as e:
        result.fail(f"after reset: {str(e).splitlines()[0]}")
    progress(f"trial 8b: {result.failures or 'ok'}")
    return result.done()


def corrupt_group_state(system: ChaosSystem, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("8c. corrupt group-state znode", 1)
    g = system.groups[0]
    assert system.kz is not None
    path = f"{system.root}/groups/{g.name}"
    pids = {r.cid: r.proc.pid for r in system.f.replicas.values()}
    system.kz.set(path, GARBAGE)
    pause(2.0)
    _alive(result, system, "after corrupting the group state")
    result.check(pids == {r.cid: r.proc.pid for r in system.f.replicas.values()}, "a replica was restarted")
    status = system.f.cli("status", "--json")
    if _clean(result, "status", status, (0,)):
        group = json.loads(status.stdout)["groups"][0]
        result.check(group["state"] == "corrupt" and path in group.get("error", ""),
                     f"status does not show the corrupt group state: {group}")
    ack = system.f.cli("ack", g.name)
    if _clean(result, "ack", ack, (1,)):
        result.check(path in ack.stderr and len(ack.stderr.strip().splitlines()) == 1,
                     f"ack's error does not name {path} in one line: {ack.stderr!r}")
    # A new leader must take office with the znode still corrupt, without failing every tick.
    old = system.f.leader()
    if old is not None:
        system.f.kill(old.cid)
        new = _wait_leader(system, old.cid, 30)
        system.f.start(old.cid)  # after the takeover: a quick restart could otherwise win it back
        if result.check(new is not None, "no new leader after the old one was killed") and new is not None:
            before = new.log.read_text(errors="replace").count(TICK_FAILED)
            pause(3.0)
            ticks = new.log.read_text(errors="replace").count(TICK_FAILED) - before
            result.check(ticks <= 3, f"the new leader's engine tick failed {ticks} times in 3 s "
                                     "over one corrupt group-state znode")
    inspect = system.f.cli("journal", "inspect")
    if _clean(result, "journal inspect", inspect, (0,)):
        result.check(any("CORRUPT" in line and path in line for line in inspect.stdout.splitlines()),
                     f"journal inspect does not mark {path} CORRUPT: {inspect.stdout!r}")
    _clean(result, "journal reset --all --groups",
           system.f.cli("journal", "reset", "--all", "--groups", "--yes"), (0,))
    _clean(result, "status after reset", system.f.cli("status"), (0,))
    holder = system.holder_of(g)
    try:
        system.wait_steady(30)
        again = fail_and_wait(system, g)
        judge(result, "after reset", again, system.other(g, holder or g.members[0]))
        restore(system, holder or g.members[0])
    except AssertionError as e:
        result.fail(f"after reset: {str(e).splitlines()[0]}")
    progress(f"trial 8c: {result.failures or 'ok'}")
    return result.done()


def garbage_observation(system: ChaosSystem, watch_s: float = 3.0, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("8d. garbage in an observation znode", 1)
    g = system.groups[0]
    assert system.kz is not None
    holder = system.holder_of(g) or g.members[0]
    leader = system.f.leader()
    assert leader is not None
    voter = next(c for c in system.f.replicas if c != leader.cid)
    before = leader.log.read_text(errors="replace").count(OBS_LOG)
    path = f"{system.root}/observations/{g.name}/{holder}/{voter}"
    kz = system.kz
    # The voter publishes once its checks have decided: overwrite its vote, not a missing one.
    wait_for(lambda: kz.exists(path), 15, f"{voter}'s observation of {holder}", system.diag)
    kz.set(path, GARBAGE)
    pause(watch_s)
    lines = leader.log.read_text(errors="replace").count(OBS_LOG) - before
    result.check(lines >= 1, "no log line about the garbage observation")
    result.check(lines <= max(2.0, watch_s), f"{lines} log lines in {watch_s:g} s about one garbage znode")
    _alive(result, system, "after garbage in an observation")
    st = system.leader_status() or {}
    member: dict[str, Any] = next((m for grp in st.get("groups", []) for m in grp["members"] if m["instance"] == holder), {})
    result.check(member.get("up") is True and voter not in member.get("votes", {}),
                 f"the garbage vote was not ignored: {member}")
    result.figures = {"log_lines": lines, "watch_s": watch_s}
    progress(f"trial 8d: {lines} log lines in {watch_s:g} s")
    return result.done()


def corrupt_group_isolated(system: ChaosSystem, progress: Progress = quiet) -> TrialResult:
    """Two groups; one group-state znode is garbage and the leader dies: the new leader still
    fails the *other* group over (one bad znode must not stop every group)."""
    result = TrialResult("8e. a corrupt group state does not stop the other groups", 1)
    bad, good = system.groups[0], system.groups[1]
    assert system.kz is not None
    system.kz.set(f"{system.root}/groups/{bad.name}", GARBAGE)
    old = system.f.leader()
    assert old is not None
    system.f.kill(old.cid)
    result.check(_wait_leader(system, old.cid, 30) is not None, "no new leader after the old one was killed")
    system.f.start(old.cid)  # after the takeover: a quick restart could otherwise win it back
    holder = system.holder_of(good) or good.members[0]
    try:
        out = fail_and_wait(system, good, timeout=30)
        judge(result, good.name, out, system.other(good, holder))
    except AssertionError as e:
        result.fail(f"{good.name} did not fail over while {bad.name}'s state is corrupt: "
                    f"{str(e).splitlines()[0]}")
    progress(f"trial 8e: {result.failures or 'ok'}")
    return result.done()
