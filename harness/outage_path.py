"""Where the last group of a zone outage spent its time (trial 7 and the fleet's outage).

An outage's span ends with its last group. Its path, from the emulator's event log and its
journal record, splits that group's time three ways: before its detach call went out (the
rate limit's queue: the calls of every group ahead of it), the cloud's own transitions
(Detaching, Attaching, the configure command's run: no controller beats those), and the rest,
the controller's (noticing each transition, booking the next call, verifying, the journal).
"""

from __future__ import annotations

from typing import Any

from harness.chaos import Group
from harness.chaos_events import RECORD_DONE, script_kind

# The ENI event that marks each point, keyed (to, from); None matches any `from`.
_ENI_MARKS = {
    ("Detaching", None): "detach_sent", ("Available", "Detaching"): "detached",
    ("Attaching", None): "attach_sent", ("InUse", "Attaching"): "attached",
}


def last_group_path(events: list[dict[str, Any]], groups: list[Group],
                    recs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The last group to finish: its marks (s after the first failover began: the cloud's, and
    where each of its steps ended) and its time split into the rate limit's queue, the cloud's
    transitions and the controller's rest."""
    t0 = min(float(r["started_at"]) for r in recs.values())
    name = max(recs, key=lambda n: float(recs[n]["finished_at"]))
    rec, eni = recs[name], next(g.eni for g in groups if g.name == name)
    marks = {"started": float(rec["started_at"]) - t0}
    invocation, mac = None, None
    for e in events:
        kind, rid, t = e.get("kind"), str(e.get("id")), float(e["t"]) - t0
        if kind == "enis" and rid == eni:
            to, was = str(e.get("to")), e.get("from")
            mark = _ENI_MARKS.get((to, str(was))) or _ENI_MARKS.get((to, None))
            if mark:
                marks.setdefault(mark, t)
            mac = mac or e.get("mac")  # the Attaching event's: the configure script names it
        elif (kind == "invocations" and e.get("to") == "Created" and invocation is None and mac
              and rec["to"] in (e.get("instances") or []) and script_kind(e) == "configure"
              and f"ENI {mac}" in str(e.get("script"))):
            invocation, marks["command_sent"] = rid, t
        elif kind == "records" and rid == f"{invocation}/{rec['to']}" and e.get("to") in RECORD_DONE:
            marks.setdefault("command_done", t)
    for step in rec.get("steps") or []:  # where the controller's rest lies between the marks
        if step.get("duration_s") is not None:
            marks[f"{step['name']}_ended"] = float(step["started_at"]) + float(step["duration_s"]) - t0
    marks["finished"] = float(rec["finished_at"]) - t0
    cloud = sum(marks[b] - marks[a] for a, b in (("detach_sent", "detached"), ("attach_sent", "attached"),
                                                 ("command_sent", "command_done")) if a in marks and b in marks)
    queued = marks.get("detach_sent", marks["started"]) - marks["started"]
    return {
        "group": name,
        "marks_s": {k: round(v, 2) for k, v in sorted(marks.items(), key=lambda kv: kv[1])},
        "before_detach_call_s": round(queued, 2),
        "cloud_transitions_s": round(cloud, 2),
        "controller_rest_s": round(marks["finished"] - marks["started"] - queued - cloud, 2),
    }
