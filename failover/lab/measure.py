"""Polling lag and RTO breakdowns from the emulator's event log and the failover journal (pure).

The emulator stamps each transition with its due time (`t`, epoch seconds), not with the time
somebody looked; the controller's step ends when the describe that showed the new state came
back. Both clocks are this machine's `time.time()`, so the difference is the polling lag.
Used by `failover lab bench` (its realistic part), tests/integration/timing and
benchmarks/bench_polling_lag.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Event = Mapping[str, Any]


def transition_time(events: Iterable[Event], rid: str, to: str, *, after: float = 0.0,
                    kind: str = "enis") -> float | None:
    """Due time of the first `-> to` transition of `rid` at or after `after`."""
    for e in events:
        if e.get("kind") == kind and e.get("id") == rid and e.get("to") == to and e["t"] >= after:
            return float(e["t"])
    return None


def calls(events: Iterable[Event], rid: str, action: str) -> list[Event]:
    """The accepted mutating calls the emulator logged (`kind: calls`), e.g. every detach."""
    return [e for e in events if e.get("kind") == "calls" and e.get("id") == rid
            and e.get("to") == action]


def step_end(step: Mapping[str, Any]) -> float:
    return float(step["started_at"]) + float(step["duration_s"])


def breakdown(record: Mapping[str, Any], events: Sequence[Event], eni: str,
              failed_at: float) -> dict[str, float]:
    """Where a failover's time went, from `failover history --json` and the emulator's events.

    detection: the failure -> the failover's start (the leader's decision);
    detach / attach: the emulator's own transition times (call accepted -> new state);
    *_polling_lag: the new state -> the step that noticed it ended;
    guest, verify: the journal's step durations;
    rto: the failure -> the end of verify (the service answers on the standby again).
    """
    steps = {s["name"]: s for s in record["steps"]}
    out: dict[str, float] = {"detection_s": float(record["started_at"]) - failed_at}
    for name, start_to, end_to in (("detach", "Detaching", "Available"),
                                   ("attach", "Attaching", "InUse")):
        # An escalated detach (failed, fence, detach again) keeps one journal entry, its last
        # run's, which starts after the force-stop released the ENI: the detach is timed from
        # the failover's start (the stall and the force-stop included), its lag from that run.
        step = steps[name]
        since = float(record["started_at"] if name == "detach" else step["started_at"])
        began = transition_time(events, eni, start_to, after=since - 0.5)
        ended = transition_time(events, eni, end_to, after=began or 0.0)
        if began is None or ended is None:
            raise ValueError(f"no {start_to} -> {end_to} transition of {eni} in the events")
        out[f"{name}_s"] = ended - began
        out[f"{name}_polling_lag_s"] = step_end(step) - ended
        out[f"{name}_call_s"] = began - since  # read + call before the state moved
    out["guest_s"] = float(steps["guest"]["duration_s"])
    out["verify_s"] = float(steps["verify"]["duration_s"])
    out["rto_s"] = step_end(steps["verify"]) - failed_at
    return out


def command_time(events: Iterable[Event], after: float = 0.0) -> float:
    """The emulated run time of the guest script(s) since `after`: invocation created -> Success."""
    evs = [e for e in events if e["t"] >= after]
    recs = [e for e in evs if e.get("kind") == "records"]
    end = max((e["t"] for e in recs if e.get("to") == "Success"), default=None)
    created = min((e["t"] for e in evs if e.get("kind") == "invocations"),
                  default=min((e["t"] for e in recs if e.get("to") == "Running"), default=None))
    return float(end - created) if end is not None and created is not None else 0.0


def hotplug_time(events: Iterable[Event], eni: str, after: float = 0.0) -> float:
    """The guest's pre-staged trigger: the ENI InUse -> the trigger's configure ended (the
    emulator's drawn hot-plug time plus the script's own run), 0 when no trigger ran."""
    evs = [e for e in events if e["t"] >= after]
    inuse = max((e["t"] for e in evs if e.get("kind") == "enis" and e.get("id") == eni
                 and e.get("to") == "InUse"), default=None)
    ran = min((e["t"] for e in evs if e.get("kind") == "guest" and e.get("to") == "HotplugConfigured"
               and inuse is not None and e["t"] >= inuse), default=None)
    return float(ran - inuse) if ran is not None and inuse is not None else 0.0
