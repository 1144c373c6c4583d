"""A fault's episode judged from samples (pure, issue 20): when the group was served again,
and how long status called it healthy or degraded while nothing served it. The samples come from
`harness.partial.Watch`; `tests/reliability/test_partial_judge.py` covers the rules.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

CLAIMS_SERVED = ("healthy", "degraded")


@dataclass(frozen=True)
class Sample:
    """The cloud at one instant: whether each group was served, and where its ENI was InUse."""

    t: float
    served: dict[str, bool]
    holder: dict[str, str | None]


@dataclass(frozen=True)
class StatusSample:
    """One status answer (a replica's /status, or the CLI), asked at t0 and answered at t1."""

    t0: float
    t1: float
    state: dict[str, str | None]  # the group's state (None: no answer)
    # When the document says it was true (a replica's /status is built at most once a second
    # and carries `as_of`); None: as of the answer (the CLI reads live).
    as_of: float | None = None

    @property
    def since(self) -> float:
        """The earliest moment the answer speaks for."""
        return self.t0 if self.as_of is None else min(self.t0, self.as_of)


@dataclass
class Episode:
    """One fault, judged from the samples: figures in seconds."""

    t_fault: float
    served_after_s: float | None  # until the stable served stretch began; None: never served
    unserved_s: float
    lying_s: float  # /status said healthy/degraded while nothing served the group
    lying_beyond_s: float  # ... while nothing had served it for longer than one detection window
    cli_lies: int  # `failover status --json` answers that did the same
    cli_samples: int
    states: list[str] = field(default_factory=list)  # the status states seen, in order, deduplicated
    timeline: list[str] = field(default_factory=list)  # "+1.23 s unserved (ENI InUse on None)" ...
    # The /status cache's side (issue 21 rebuilds the document at most once a second):
    # the oldest answer's age (answer time - as_of), and the lying beyond the window judged
    # at the moment each answer was asked instead of at its as_of.
    status_age_max_s: float = 0.0
    beyond_at_answer_s: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {"served_after_s": None if self.served_after_s is None else round(self.served_after_s, 2),
                "unserved_s": round(self.unserved_s, 2), "lying_s": round(self.lying_s, 2),
                "lying_beyond_window_s": round(self.lying_beyond_s, 2), "cli_lies": self.cli_lies,
                "cli_samples": self.cli_samples, "states": self.states,
                "status_age_max_s": round(self.status_age_max_s, 2),
                "beyond_window_at_answer_s": round(self.beyond_at_answer_s, 2)}


def judge_samples(cloud: list[Sample], status: list[StatusSample], cli: list[StatusSample], group: str,
                  t_fault: float, window: float) -> Episode:
    """One fault's figures (pure). A cloud sample's verdict holds until the next one; a status
    answer lies when it says healthy/degraded and nothing served the group from the moment it
    speaks for (its `as_of`, else when it was asked) to its answer, and it lies beyond the window
    when nothing served it for `window` before that."""
    after = [s for s in cloud if s.t >= t_fault]
    unserved = sum(b.t - a.t for a, b in itertools.pairwise(after) if not a.served[group])
    asked = [s for s in status if s.t1 >= t_fault]
    lying = beyond = at_answer = 0.0
    for a, b in itertools.pairwise(asked):
        if a.state[group] in CLAIMS_SERVED and not _served_between(cloud, group, a.since, a.t1):
            lying += b.t0 - a.t0
            if not _served_between(cloud, group, a.since - window, a.t1):
                beyond += b.t0 - a.t0
        if a.state[group] in CLAIMS_SERVED and not _served_between(cloud, group, a.t0 - window, a.t1):
            at_answer += b.t0 - a.t0
    ages = [a.t1 - a.as_of for a in asked if a.as_of is not None]
    states: list[str] = []
    for s in asked:
        st = s.state[group]
        if st is not None and (not states or states[-1] != st):
            states.append(st)
    if len(states) > 8:  # a retry loop flips between two states: keep the story readable
        states = [*states[:6], f"... ({len(states) - 7} more)", states[-1]]
    mine = [c for c in cli if c.t1 >= t_fault]
    lies = sum(1 for c in mine if c.state[group] in CLAIMS_SERVED
               and not _served_between(cloud, group, c.t0 - window, c.t1))
    served_at = _stable_start(after, group)
    return Episode(t_fault, None if served_at is None else served_at - t_fault, unserved, lying, beyond,
                   lies, len(mine), states, _timeline(after, asked, group, t_fault),
                   status_age_max_s=max(ages, default=0.0), beyond_at_answer_s=at_answer)


def _timeline(after: list[Sample], asked: list[StatusSample], group: str, t_fault: float,
              limit: int = 20) -> list[str]:
    """Each change of the cloud's verdict or holder, and of the status state, relative to the fault."""
    marks: list[tuple[float, str]] = []
    last: tuple[bool, str | None] | None = None
    for s in after:
        if (s.served[group], s.holder[group]) != last:
            last = (s.served[group], s.holder[group])
            marks.append((s.t, f"{'served' if last[0] else 'unserved'} (ENI InUse on {last[1]})"))
    state: str | None = None
    for a in asked:
        if a.state[group] != state:
            state = a.state[group]
            marks.append((a.t1, f"status {state}"))
    out = [f"+{t - t_fault:.2f} s {what}" for t, what in sorted(marks)]
    return out if len(out) <= limit else [*out[:limit - 2], f"... ({len(out) - limit + 1} more)", out[-1]]


def _stable_start(after: list[Sample], group: str) -> float | None:
    """The start of the served stretch that lasts to the last sample, if the group was unserved
    at some point before it (else the fault never interrupted it: the first sample's time)."""
    if not after or not after[-1].served[group]:
        return None
    k = len(after) - 1
    while k > 0 and after[k - 1].served[group]:
        k -= 1
    return after[k].t


def _served_between(samples: list[Sample], group: str, t0: float, t1: float) -> bool:
    """Served at some sample in [t0, t1], or by the verdict that held when the span began."""
    before = [s for s in samples if s.t <= t0]
    if before and before[-1].served[group]:
        return True
    return any(s.served[group] for s in samples if t0 <= s.t <= t1)
