"""The README's picture of one failover: who answered the client, over time, with the steps marked.

matplotlib is imported lazily and only here: the controller never needs it, and a machine
without it still runs the bench (the chart is then skipped with a note). Why matplotlib rather
than a hand-written PNG: the chart needs text (axes, step names), and a font renderer is not
code this project should own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from failover.lab.analysis import Answer, _ts

WINDOW_BEFORE_S = 0.4
WINDOW_AFTER_S = 0.8


def step_marks(entry: dict[str, Any] | None, injected_at: float) -> list[tuple[str, float]]:
    """(label, seconds since the failure) for the start of the failover and of each step."""
    if not entry:
        return []
    marks: list[tuple[str, float]] = []
    started = _ts(entry.get("started_at"))
    if started is not None:
        marks.append(("decided", started - injected_at))
    t = started
    for step in entry.get("steps") or []:
        at = _ts(step.get("started_at")) or t
        if at is not None and step.get("name"):
            marks.append((str(step["name"]), at - injected_at))
            dur = step.get("duration_s")
            t = at + float(dur) if isinstance(dur, int | float) else at
    return marks


def render(path: Path, answers: list[Answer], injected_at: float, entry: dict[str, Any] | None,
           old: str, new: str, title: str) -> str | None:
    """Writes the PNG; returns why not when matplotlib is missing."""
    try:
        import logging

        import matplotlib

        logging.getLogger("matplotlib").setLevel(logging.WARNING)
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): chart skipped"
    marks = step_marks(entry, injected_at)
    last_mark = max([m[1] for m in marks] + [0.0])
    firsts = [a.done - injected_at for a in answers if a.answer == new and a.done >= injected_at]
    end = max(last_mark, min(firsts) if firsts else 0.0) + WINDOW_AFTER_S
    rows = {old: 2, new: 1}
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=110)
    for who, y, color in ((old, 2, "tab:blue"), (new, 1, "tab:green")):
        xs = [a.done - injected_at for a in answers if a.answer == who]
        ax.scatter([x for x in xs if -WINDOW_BEFORE_S <= x <= end], [y] * sum(
            1 for x in xs if -WINDOW_BEFORE_S <= x <= end), s=14, color=color, label=f"answered by {who}")
    # a failed request is drawn when it was sent: its timeout says nothing about the outage
    errs = [a.sent - injected_at for a in answers if a.answer is None]
    errs = [x for x in errs if -WINDOW_BEFORE_S <= x <= end]
    ax.scatter(errs, [0] * len(errs), s=14, marker="x", color="tab:red", label="request sent, never answered")
    ax.axvline(0, color="black", linewidth=1.5)
    ax.text(0, 2.45, " failure", fontsize=8, va="bottom")
    for i, (label, x) in enumerate(marks):
        ax.axvline(x, color="gray", linestyle="--", linewidth=0.8)
        ax.text(x, 2.25 - 0.22 * (i % 2), f" {label}", fontsize=7, color="dimgray", va="bottom")
    ax.set_yticks([0, rows[new], rows[old]], ["error", new, old])
    ax.set_ylim(-0.5, 2.8)
    ax.set_xlim(-WINDOW_BEFORE_S, end)
    ax.set_xlabel("seconds since the failure (client answers, one request every 20 ms)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return None
