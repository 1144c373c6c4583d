"""Trial 5 (the network lab): one controller partitioned from the primary while the others see it.

A blackhole route in the first controller's namespace cuts its path to the
holder; its own probes fail and it votes the holder down, while the two others
still reach it. A majority sees the holder up, so nothing may move: no journal
record, the kernel's ENI stays in the holder's namespace.
"""

from __future__ import annotations

import time
from typing import Any

from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide
from harness.trials import Progress, TrialResult, quiet


def _votes(lab: Lab, holder: str) -> dict[str, Any]:
    st = lab.cli_json("status", controller_id=lab.spec.controllers[1].controller_id)
    groups = st.get("groups") if isinstance(st, dict) else None
    for m in (groups or [{}])[0].get("members", []):
        if m.get("instance") == holder:
            return dict(m.get("votes") or {})
    return {}


def _history(lab: Lab) -> int | None:
    hist = lab.cli_json("history", controller_id=lab.spec.controllers[1].controller_id)
    return len(hist) if isinstance(hist, list) else None


def partition(lab: Lab, runs: int, watch_s: float = 6.0, progress: Progress = quiet) -> TrialResult:
    result = TrialResult("5. one controller partitioned from the primary (lab)", runs)
    side = FailoverSide(lab)
    cut = lab.spec.controllers[0].controller_id
    saw: list[bool] = []
    for i in range(runs):
        holder = side.wait_ready(60)
        before = _history(lab)
        side.inject("partition", holder)
        try:
            deadline = time.monotonic() + 10
            down_vote = False
            while time.monotonic() < deadline and not down_vote:
                down_vote = _votes(lab, holder).get(cut) is False
                time.sleep(0.2)
            saw.append(down_vote)
            result.check(down_vote, f"run {i}: {cut} never voted {holder} down (the partition did not bite)")
            time.sleep(watch_s)
            votes = _votes(lab, holder)
            after = _history(lab)
            now = lab.holder()
        finally:
            side.restore("partition", holder)
        result.check(after == before, f"run {i}: journal went from {before} to {after} records")
        result.check(now == holder, f"run {i}: the ENI moved from {holder} to {now}")
        others_up = [v for c, v in votes.items() if c != cut]
        result.check(len(others_up) >= 1 and all(others_up), f"run {i}: the other votes were {votes}")
        progress(f"trial 5 run {i + 1}/{runs}: votes {votes}; holder {now}")
    result.figures = {"watch_s": watch_s, "partition_seen_by_cut_controller": sum(saw)}
    return result.done()
