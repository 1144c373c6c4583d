"""Pure arithmetic over what the client saw and what the journal says: RTO, breakdown, stats.

RTO (the issue's definition) is the client's gap from the last answer by the old holder to the
first answer by the new one, both taken when the answer arrived. The breakdown splits it with
the journal: detection (failure injected -> failover started) and each step's duration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Answer:
    sent: float
    done: float
    answer: str | None  # the instance id that answered, None on an error
    error: str = ""


def read_answers(path: Path) -> list[Answer]:
    out: list[Answer] = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            d = json.loads(line)
        except ValueError:
            continue  # the last line may be half written while the client runs
        out.append(Answer(float(d["sent"]), float(d["done"]), d.get("answer"), d.get("error", "")))
    return sorted(out, key=lambda a: a.done)


@dataclass(frozen=True)
class Outage:
    rto_s: float | None  # None: the new holder never answered
    last_old: float | None
    first_new: float | None
    errors: int  # requests that failed between the two
    stayed: bool  # after the first answer by the new holder, only the new holder answered


def outage(answers: Sequence[Answer], old: str, new: str, since: float) -> Outage:
    """The gap around a failure injected at `since` (answers before it are the steady state)."""
    olds = [a.done for a in answers if a.answer == old]
    news = [a.done for a in answers if a.answer == new and a.done >= since]
    last_old = max(olds) if olds else None
    first_new = min(news) if news else None
    if first_new is None or last_old is None:
        return Outage(None, last_old, first_new, sum(1 for a in answers if a.answer is None), False)
    errors = sum(1 for a in answers if a.answer is None and last_old <= a.done <= first_new)
    stayed = all(a.answer == new for a in answers if a.done > first_new and a.answer is not None)
    return Outage(max(0.0, first_new - last_old), last_old, first_new, errors, stayed)


def served_by(answers: Iterable[Answer], since: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in answers:
        if a.done >= since:
            key = a.answer or "error"
            counts[key] = counts.get(key, 0) + 1
    return counts


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    vals = sorted(values)
    if not vals:
        return None
    rank = max(1, math.ceil(q / 100 * len(vals)))
    return vals[rank - 1]


def median(values: Sequence[float]) -> float | None:
    vals = sorted(values)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def summarize(trials: list[dict[str, Any]]) -> dict[str, Any]:
    rtos = [t["rto_s"] for t in trials if t.get("rto_s") is not None]
    out: dict[str, Any] = {
        "median_s": _r(median(rtos)), "p90_s": _r(percentile(rtos, 90)),
        "min_s": _r(min(rtos) if rtos else None), "max_s": _r(max(rtos) if rtos else None),
        "ok": sum(1 for t in trials if t.get("ok")), "runs": len(trials), "trials": trials,
    }
    parts: dict[str, list[float]] = {}
    for t in trials:
        for name, v in (t.get("breakdown") or {}).items():
            if isinstance(v, int | float):
                parts.setdefault(name, []).append(float(v))
    if parts:
        out["breakdown_median_s"] = {k: _r(median(v)) for k, v in parts.items()}
    return out


def breakdown(entry: dict[str, Any], injected_at: float) -> dict[str, float]:
    """Detection and step durations of one journal entry (`failover history --json`)."""
    out: dict[str, float] = {}
    started = _ts(entry.get("started_at"))
    if started is not None:
        out["detection"] = round(started - injected_at, 4)
    for step in entry.get("steps") or []:
        d = step.get("duration_s")
        if isinstance(d, int | float) and step.get("name"):
            out[str(step["name"])] = round(float(d), 4)
    return out


def _ts(v: Any) -> float | None:
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs <= 0:
        return None
    return round(ours / theirs, 3)
