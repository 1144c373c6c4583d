"""The partial-failure trial family (issue 20): faults real clouds and real operators produce.

Each trial runs `runs` repetitions against a `PartialSystem` (three `failover run` replicas,
real ZooKeeper, the emulator; group `web` on i-primary / i-standby / i-third) and judges every
run by the cloud and the service, not by the controller's journal (harness/partial_judge.py):

- served again within `GOAL_S` of the fault (a healthy member exists in every trial), and still
  served `STABLE_S` later;
- no second of `status` (a replica's /status, and `failover status --json` through the CLI)
  calling the group healthy or degraded while nothing had served it for longer than one
  detection window.

P1 attach fails after the detach, drill      P2 the same, automatic (the primary comes back)
P3 guest step fails on the first standby     P4 attach fails persistently on the first standby
P5 ENI detached by hand                      P6 ENI moved by hand, then that holder dies
P7 target dies between detach and attach, the leader killed there
P8 an unknown ENI status (`Creating`) in a round, another group's holder fails
P9 SIGHUP to the leader in the middle of a failover
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.chaos import Group, Spec
from harness.chaos_events import eni_moves, invocations_by_instance
from harness.partial import PartialSystem
from harness.partial_judge import (
    PERSISTENT_ATTACH_ERROR,
    Run,
    judge_run,
    left_in_use,
    repeat,
    wait_eni,
)
from harness.trials import Progress, TrialResult, quiet
from harness.waiting import wait_for

# ------------------------------------------------------------------ P1, P2


def attach_fails_drill(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]

    def one(result: TrialResult, label: str) -> Run:
        system.s.control.fail_next_attach(g.eni)
        seq0 = system.last_seq()
        out: dict[str, Any] = {}

        def drill() -> None:
            try:
                p = system.f.cli("drill", g.name, "--yes", timeout=90)
                out["exit"], out["tail"] = p.returncode, (p.stdout + p.stderr).strip().splitlines()[-1:]
            except subprocess.TimeoutExpired:
                out["exit"] = "timeout"

        th = threading.Thread(target=drill, daemon=True)
        th.start()
        # The fault begins when the drill's detach does (a CLI process may take seconds to start
        # on a loaded machine; that is not the controller's time).
        t_fault = left_in_use(system, g, seq0, timeout=60)
        run = judge_run(result, system, g, label, t_fault)
        th.join(90)
        run.extra["drill_exit"] = out.get("exit")
        return run

    return repeat("P1. attach fails after the detach (drill)", system, runs, progress, one)


def attach_fails_auto(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]

    def one(result: TrialResult, label: str) -> Run:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        system.s.control.fail_next_attach(g.eni)
        t_fault = time.time()
        system.fail(src)
        wait_eni(system, g, ("Detaching", "Available", "Attaching"))
        system.heal(src)  # a reboot: the old holder is back before the attach has failed
        return judge_run(result, system, g, label, t_fault, old_holder=src)

    return repeat("P2. attach fails after the detach (automatic, old holder back)", system, runs, progress, one)


# ------------------------------------------------------------------ P3, P4


def guest_fails_first_standby(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]

    def one(result: TrialResult, label: str) -> Run:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        first = next(m for m in g.members if m != src)
        system.s.control.cloud_assistant(first, False)
        t_fault = time.time()
        system.fail(src)
        return judge_run(result, system, g, label, t_fault, agent_offline=first)

    return repeat("P3. guest step fails on the first standby (agent offline)", system, runs, progress, one)


def attach_fails_first_standby(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]
    code, status = PERSISTENT_ATTACH_ERROR

    def one(result: TrialResult, label: str) -> Run:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        first = next(m for m in g.members if m != src)
        seq0 = system.last_seq()
        system.s.control.fault(action="AttachNetworkInterface", code=code, status=status,
                               message="Injected: the instance has no free ENI slot.",
                               match={"InstanceId": first})
        t_fault = time.time()
        system.fail(src)
        run = judge_run(result, system, g, label, t_fault, refused_on=first)
        rules = system.s.control.state()["faults"]["rules"]
        run.extra["attaches_refused"] = sum(r["fired"] for r in rules)
        run.extra["attached_to"] = list(eni_moves(system.events(seq0), g.eni).attached_to)
        return run

    return repeat("P4. attach fails persistently on the first standby of three", system, runs, progress, one)


# ------------------------------------------------------------------ P5, P6


def detached_by_hand(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]

    def one(result: TrialResult, label: str) -> Run:
        t_fault = time.time()
        system.s.control.detach_by_hand(g.eni)
        return judge_run(result, system, g, label, t_fault)

    return repeat("P5. ENI detached by hand", system, runs, progress, one)


def moved_by_hand_then_dies(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]

    def one(result: TrialResult, label: str) -> Run | None:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        to = g.members[-1] if src != g.members[-1] else g.members[1]
        # From a steady start: the previous run's release of its dead holder done. Racing the
        # move, that release's look at the ENI comes before the describe shows the move (the
        # realistic profile's lag) and cannot see it: a different fault from the one judged here.
        system.wait_released(g.name)
        seq0 = system.last_seq()
        t_move = time.time()
        system.s.control.move_by_hand(g.eni, to)
        moved = judge_run(result, system, g, f"{label} (moved to {to})", t_move)
        releases = invocations_by_instance(system.events(seq0), "release")[to]
        result.check(releases == 0, f"{label}: {releases} release script(s) ran on {to}, the ENI's real holder")
        if moved.episode.served_after_s is None:
            return moved
        if moved.extra["holder"] != to:
            result.fail(f"{label}: the ENI was moved by hand to {to}, healthy, and the controller moved it "
                        f"to {moved.extra['holder']} (an adoption must not be undone)")
            return moved
        t_fault = time.time()
        system.fail(to)
        system.s.control.crash(to)
        died = judge_run(result, system, g, f"{label} ({to} dies)", t_fault, moved_to=to,
                         after_move=moved.episode.figures(), releases_on_real_holder=releases)
        result.check(died.extra["holder"] != to, f"{label}: still on {to}, which died")
        return died

    return repeat("P6. ENI moved by hand, then that holder dies", system, runs, progress, one)


# ------------------------------------------------------------------ P7


def target_dies_leader_killed(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]

    def one(result: TrialResult, label: str) -> Run:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        leader = system.f.leader()
        assert leader is not None, "no leader"
        ctl = system.s.control
        # No attach can start (a retryable refusal, on every standby: the engine may skip one it
        # remembers failing) until the test has killed the target the leader tried: that guest
        # hangs (the API still says Running; a command there never ends; probes fail).
        for m in g.members:
            if m != src:
                ctl.fault(action="AttachNetworkInterface", code="ServiceUnavailable", status=503,
                          match={"InstanceId": m})
        system.fail(src)

        def tried() -> str | None:
            if ctl.eni(g.eni)["status"] != "Available":
                return None
            fired = [r for r in ctl.state()["faults"]["rules"] if r["fired"]]
            return str(fired[0]["match"]["InstanceId"]) if fired else None

        target: str = wait_for(tried, 20, "the detach done and an attach tried", system.diag)
        t_fault = time.time()
        system.fail(target)
        ctl.hang(target)
        system.f.kill(leader.cid)
        ctl.clear_faults()
        return judge_run(result, system, g, label, t_fault, target=target, killed=leader.cid)

    return repeat("P7. target dies between detach and attach, the leader killed there", system, runs,
                 progress, one)


# ------------------------------------------------------------------ P8


def unknown_eni_status(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g, other = system.groups[0], system.groups[1]

    def one(result: TrialResult, label: str) -> Run:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        system.s.control.report_status(other.eni, "Creating")
        time.sleep(1.0)  # a few leader rounds read it before anything else happens
        t_fault = time.time()
        system.fail(src)
        run = judge_run(result, system, g, label, t_fault, odd_eni=other.eni)
        system.s.control.report_status(other.eni, None)
        result.check(system.w.served(other.name), f"{label}: {other.name} not served at the end")
        return run

    return repeat("P8. an unknown ENI status (Creating) in the round", system, runs, progress, one)


# ------------------------------------------------------------------ P9


def sighup_mid_failover(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]

    def one(result: TrialResult, label: str) -> Run:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        leader = system.f.leader()
        assert leader is not None, "no leader"
        seq0 = system.last_seq()
        known = {r["id"] for r in system.records(g.name)}
        t_fault = time.time()
        system.fail(src)
        system.wait_running(g.name, known)
        os.kill(leader.proc.pid, signal.SIGHUP)
        run = judge_run(result, system, g, label, t_fault, leader=leader.cid)
        events = system.events(seq0)
        moves = eni_moves(events, g.eni)
        holder = run.extra["holder"]
        configures = invocations_by_instance(events, "configure")[holder] if holder else 0
        run.extra.update(attaches=moves.attaching, configure_scripts=configures)
        result.check(moves.attaching == 1, f"{label}: {moves.attaching} attaches for one failover "
                                           f"(to {list(moves.attached_to)})")
        result.check(configures == 1, f"{label}: the guest script ran {configures} times on {holder}")
        if run.episode.served_after_s is not None:
            _sighup_mid_release(result, system, g, label, src, run)
        return run

    return repeat("P9. SIGHUP to the leader in the middle of a failover", system, runs, progress, one)


RELEASE_CALL_S = 3.0  # RunCommand answers this late while the release is in flight


def _sighup_mid_release(result: TrialResult, system: PartialSystem, g: Group, label: str, src: str,
                        run: Run) -> None:
    """The old holder comes back; while its release script is in flight the leader reloads:
    the release runs once, on `src` only, and the group stays served."""
    leader = system.f.leader()
    if leader is None:
        result.fail(f"{label}: no leader for the release phase")
        return
    seq0 = system.last_seq()
    system.s.control.latency("RunCommand", RELEASE_CALL_S)
    try:
        t0 = time.time()
        system.heal(src)
        wait_for(lambda: src in ((system.group_state(g.name) or {}).get("pending_release") or [])
                 and system.w.served(g.name), 10, f"{src} queued for its release", system.diag)
        time.sleep(1.0)  # the quorum sees it up; the release's RunCommand is in flight
        os.kill(leader.proc.pid, signal.SIGHUP)
        system.wait_released(g.name, timeout=30)
        time.sleep(RELEASE_CALL_S)  # a second release, if any, has had time to be sent
    finally:
        system.s.control.latency("RunCommand", 0)
    releases = invocations_by_instance(system.events(seq0), "release")
    ep = system.w.episode(g.name, t0)
    run.extra.update(releases_on_old_holder=releases[src], release_phase=ep.figures())
    result.check(releases[src] == 1 and sum(releases.values()) == 1,
                 f"{label}: release scripts while reloading: {dict(releases)} (expected one, on {src})")
    result.check(ep.unserved_s == 0, f"{label}: the group went unserved for {ep.unserved_s:.2f} s "
                                     f"during the release phase")


# ------------------------------------------------------------------ the family

Trial = Callable[[PartialSystem, int, Progress], TrialResult]

# The batched cloud reads every second, so an odd status is read by several rounds in P8.
FAST_READS = Spec(policy={"readiness_interval_s": 1.0})


@dataclass(frozen=True)
class Member:
    trial: Trial
    spec: Spec = field(default_factory=Spec)
    second_group: bool = False


FAMILY: dict[str, Member] = {
    "P1": Member(attach_fails_drill),
    "P2": Member(attach_fails_auto),
    "P3": Member(guest_fails_first_standby),
    "P4": Member(attach_fails_first_standby),
    "P5": Member(detached_by_hand),
    "P6": Member(moved_by_hand_then_dies),
    "P7": Member(target_dies_leader_killed),
    "P8": Member(unknown_eni_status, FAST_READS, second_group=True),  # the others: Spec()
    "P9": Member(sighup_mid_failover),
}
