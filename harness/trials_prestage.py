"""Trial 26: Cloud Assistant offline on every member for the whole of each run (issue 26).

The group `web` (i-primary, i-standby, i-third) has `guest.prestage: true`; `failover
provision --yes` stages every member once, before the first run (the agents are online then).
Each run takes every member's Cloud Assistant agent offline, fails the holder, and judges the
run by the cloud as the partial-failure family does (tests/support/partial.py: served = the ENI
InUse on a healthy member whose configure ran there after the attach; here the configure is
the emulated guest's pre-staged trigger, an event of the guest, not an API call). On top:

- the failover's guest step says it was served by the pre-staged path (the journal's step
  detail), and no configure script was sent over Cloud Assistant in the run;
- the hot-plug trigger ran on the new holder (the emulator's `guest` event).

The agents stay offline until the next run's settle, so the old holder's release (a RunCommand)
fails meanwhile and is left for later: that is the documented limit of a Cloud Assistant outage.
"""

from __future__ import annotations

import time
from typing import Any

from harness.chaos import Spec
from harness.chaos_events import invocations_by_instance
from harness.partial import PartialSystem
from harness.partial_judge import Run, judge_run, repeat
from harness.trials import Progress, TrialResult, quiet

NAME = "26. Cloud Assistant offline on every member for the whole trial (pre-staged guest configuration)"
# The hot-plug trigger runs 0.2 s after InUse; the guest step waits up to 2 s for it.
PRESTAGE = Spec(guest={"prestage": True, "prestage_wait_s": 2.0},
                timing={"attach_s": 0.5, "detach_s": 0.5, "command_s": 0.3, "hotplug_s": 0.2})


def _guest_detail(system: PartialSystem, group: str, since: float) -> str | None:
    recs = [r for r in system.records(group) if float(r["started_at"]) >= since - 1.0]
    steps: list[dict[str, Any]] = next((r.get("steps") or [] for r in reversed(recs)
                                        if r.get("result") == "completed"), [])
    return next((s.get("detail") for s in steps if s.get("name") == "guest"), None)


def agent_offline_everywhere(system: PartialSystem, runs: int, progress: Progress = quiet) -> TrialResult:
    g = system.groups[0]
    staged = system.f.cli("provision", "--yes", timeout=120)
    if staged.returncode != 0:
        result = TrialResult(NAME, runs)
        result.fail(f"failover provision --yes exited {staged.returncode}: {staged.stdout[-300:]} "
                    f"{staged.stderr[-300:]}")
        return result.done()

    def one(result: TrialResult, label: str) -> Run:
        src = system.holder_of(g)
        assert src is not None, "the ENI has no holder"
        for m in g.members:
            system.s.control.cloud_assistant(m, False)
        t_fault = time.time()
        system.fail(src)
        run = judge_run(result, system, g, label, t_fault, agents_offline=list(g.members))
        holder = run.extra["holder"]
        events = system.events(system.run_seq)
        sent = invocations_by_instance(events, "configure")
        triggered = [e for e in events if e.get("kind") == "guest" and e.get("to") == "HotplugConfigured"
                     and e.get("id") == holder]
        detail = _guest_detail(system, g.name, t_fault)
        run.extra.update(guest_path=detail, configure_runcommands=sum(sent.values()),
                         hotplug_triggers_on_holder=len(triggered))
        if run.episode.served_after_s is not None:
            result.check(detail == "prestaged", f"{label}: the guest step was served by {detail!r}, "
                                                "not the pre-staged path")
            result.check(bool(triggered), f"{label}: no pre-staged trigger ran on {holder}")
        return run

    return repeat(NAME, system, runs, progress, one)
