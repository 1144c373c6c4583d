"""How a partial-failure run is judged (issue 20): by the cloud and the service, never by the
controller's journal. A run starts from a settled system (`settle`), its episode is judged
against the goal (`judge_run`), a trial's runs are summarised into figures (`summarize`);
`repeat` runs a trial's repetitions. The trials themselves: harness/trials_partial.py and
harness/trials_prestage.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.chaos import DETACH_TIMEOUT_S, Group
from harness.chaos_events import eni_moves, invocations_by_instance, percentile, stall_allowance
from harness.episode import Episode
from harness.partial import MIN_INTERRUPTION_S, PartialSystem
from harness.trials import Progress, TrialResult
from harness.waiting import wait_for

GOAL_S = 10.0  # the goal under the emulator's fixed timing
STABLE_S = 2.0  # served this long after the fault's interruption counts as served again
WAIT_S = GOAL_S + 20  # a run waits this long for "served" before it is judged never served
PERSISTENT_ATTACH_ERROR = ("EniPerInstanceLimitExceeded", 403)  # the standby's ENI slots are taken


def settle(system: PartialSystem, timeout: float = 60) -> None:
    """Undoes every fault of a run: the API, agents, reported statuses, dead instances, dead
    replicas; then waits until the system is steady and every group served."""
    ctl = system.s.control
    ctl.clear_faults()
    for g in system.groups:
        ctl.report_status(g.eni, None)
    for inst in system.ips:
        ctl.cloud_assistant(inst, True)
        found = ctl.instance(inst)
        if found.get("hung"):
            ctl.unhang(inst)
        if found["status"] == "Running" and found.get("crashed"):
            ctl.stop(inst)  # a crashed guest comes back by a reboot
            def stopped(i: str = inst) -> bool:
                return bool(ctl.instance(i)["status"] == "Stopped")

            wait_for(stopped, 30, f"{inst} stopped")
            found = ctl.instance(inst)
        if found["status"] == "Stopped":
            ctl.start(inst)
            def running(i: str = inst) -> bool:
                return bool(ctl.instance(i)["status"] == "Running")

            wait_for(running, 30, f"{inst} running")
        system.heal(inst)
    for cid, r in list(system.f.replicas.items()):
        if r.proc.poll() is not None:
            system.f.start(cid)
    system.wait_steady(timeout)
    wait_for(lambda: all(system.w.served(g.name) for g in system.groups), timeout,
             "every group served again", system.diag)


@dataclass
class Run:
    """What one run of a trial measured."""

    label: str
    episode: Episode
    extra: dict[str, Any]


def judge_run(result: TrialResult, system: PartialSystem, g: Group, label: str, t_fault: float,
              **extra: Any) -> Run:
    ep = system.w.wait_stably_served(g.name, t_fault, STABLE_S, WAIT_S)
    holder = system.w.holder(g.name)
    story = "; ".join(ep.timeline)
    if ep.unserved_s < MIN_INTERRUPTION_S:
        result.fail(f"{label}: the fault never made {g.name} unserved (the trial did not take): {story}")
    elif ep.served_after_s is None:
        result.fail(f"{label}: not served {WAIT_S:g} s after the fault (cloud: ENI on {holder}; "
                    f"status said {' -> '.join(ep.states) or 'nothing'}): {story}")
    else:
        # GOAL_S is the goal under the fixed timing; a profile that stalls a detach (the
        # realistic one's crash stalls) adds what the policy must wait for it: its detach
        # timeout and the stop. None on the fixed timing.
        goal = GOAL_S + stall_allowance(system.events(system.run_seq), g.eni,
                                        float(system.spec.policy.get("detach_timeout_s", DETACH_TIMEOUT_S)))
        result.check(ep.served_after_s <= goal,
                     f"{label}: served again only after {ep.served_after_s:.2f} s (goal {goal:g} s): {story}")
    result.check(ep.lying_beyond_s == 0,
                 f"{label}: /status said healthy/degraded for {ep.lying_beyond_s:.2f} s while nothing "
                 f"served {g.name} for longer than one detection window "
                 f"({system.detection_window_s():.2f} s); states {' -> '.join(ep.states)}")
    result.check(ep.cli_lies == 0,
                 f"{label}: `failover status --json` said healthy/degraded {ep.cli_lies} time(s) while "
                 f"nothing served {g.name} for longer than one detection window")
    events = system.events(system.run_seq)
    guest_runs = invocations_by_instance(events, "configure")[holder] if holder else 0
    # More than one guest run on the final holder per attach there is a repair of a holder
    # the controller thought unserved: a figure, checked only where the trial says so (P9).
    return Run(label, ep, {"holder": holder, "attaches": eni_moves(events, g.eni).attaching,
                           "guest_runs_on_holder": guest_runs, **extra})


def summarize(result: TrialResult, runs: list[Run], system: PartialSystem) -> None:
    served = [r.episode.served_after_s for r in runs if r.episode.served_after_s is not None]
    result.figures = {
        "served_runs": f"{len(served)}/{len(runs)}",
        "served_after_p50_s": round(percentile(served, 0.5) or 0, 2) if served else None,
        "served_after_max_s": round(max(served), 2) if served else None,
        "lying_max_s": round(max((r.episode.lying_s for r in runs), default=0), 2),
        "lying_beyond_window_max_s": round(max((r.episode.lying_beyond_s for r in runs), default=0), 2),
        # The /status cache's cost, reported (not judged): see Episode.
        "status_age_max_s": round(max((r.episode.status_age_max_s for r in runs), default=0), 2),
        "beyond_window_at_answer_max_s": round(max((r.episode.beyond_at_answer_s for r in runs), default=0), 2),
        "cli_lies": sum(r.episode.cli_lies for r in runs),
        "cli_samples": sum(r.episode.cli_samples for r in runs),
        "detection_window_s": round(system.detection_window_s(), 2),
        "runs": [{"run": r.label, **r.episode.figures(), **r.extra} for r in runs],
    }


def repeat(name: str, system: PartialSystem, runs: int, progress: Progress,
           one: Callable[[TrialResult, str], Run | None]) -> TrialResult:
    """`runs` repetitions of `one`, each from a settled system; a run that leaves the system
    unsettled ends the trial (its state is then unknown)."""
    result = TrialResult(name, runs)
    done: list[Run] = []
    for i in range(runs):
        label = f"run {i}"
        try:
            settle(system)
        except AssertionError as e:
            result.fail(f"{label}: not steady and served before the run: {str(e).splitlines()[0]}")
            break
        system.run_seq = system.last_seq()
        try:
            run = one(result, label)
        except AssertionError as e:
            result.fail(f"{label}: {str(e).splitlines()[0]}")
            break
        if run is None:
            break
        done.append(run)
        ep = run.episode
        progress(f"{name.split('.', maxsplit=1)[0]} {label}: served after {ep.served_after_s}, lying "
                 f"{ep.lying_s:.2f} s ({ep.lying_beyond_s:.2f} s beyond the window), states "
                 f"{' -> '.join(ep.states)}")
        if ep.served_after_s is None:
            break  # never served again: the next run would start from an unknown state
    summarize(result, done, system)
    return result.done()


def left_in_use(system: PartialSystem, g: Group, seq0: int, timeout: float) -> float:
    """The cloud's time of the first event after `seq0` that took the ENI out of InUse."""
    def left() -> float | None:
        return next((float(e["t"]) for e in system.events(seq0)
                     if e.get("kind") == "enis" and e.get("id") == g.eni and e.get("from") == "InUse"), None)
    found: float = wait_for(left, timeout, f"{g.eni} leaving InUse", system.diag)
    return found


def wait_eni(system: PartialSystem, g: Group, statuses: tuple[str, ...], timeout: float = 20) -> None:
    wait_for(lambda: system.s.control.eni(g.eni)["status"] in statuses, timeout,
             f"{g.eni} {'/'.join(statuses)}", system.diag)
