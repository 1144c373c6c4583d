"""How rounds are cut into scheduler jobs (pure).

Groups with the same interval and jitter form a bucket. A bucket's direct
probes (tcp, http, command) are split into shards of at most
`max_probes` probes, each its own job, and the shards' phases are spread
evenly over the interval: one thread can start a few hundred probes at
once in a few milliseconds, not thousands, and neither this replica nor the
fleet sees one burst per interval. ecs_status checks form buckets of their
own (a check may set its own, shorter interval); each is one job, so each of
its rounds makes a single batched DescribeInstanceStatus call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from failover.config import EcsStatusCheck, GroupConfig
from failover.health.evaluate import effective_jitter

DEFAULT_MAX_PROBES = 250


@dataclass(frozen=True)
class RoundJob:
    job_id: str
    kind: Literal["probes", "ecs_status"]
    interval_s: float
    jitter_s: float
    phase_s: float  # offset of this job's fires within the interval
    groups: tuple[GroupConfig, ...]


def _status_interval(g: GroupConfig) -> float | None:
    """The group's ecs_status cadence, or None without such a check (the shortest wins)."""
    own = [c.interval_s or g.health.interval_s for c in g.checks if isinstance(c, EcsStatusCheck)]
    return min(own) if own else None


def round_cadence_s(g: GroupConfig) -> float:
    """The slowest of the group's round cadences: how often, at worst, it gets new evidence."""
    return max(g.health.interval_s, _status_interval(g) or 0.0)


def _direct_probes(g: GroupConfig) -> int:
    return len(g.members) * sum(1 for c in g.checks if not isinstance(c, EcsStatusCheck))


def plan_jobs(groups: Sequence[GroupConfig], max_probes: int = DEFAULT_MAX_PROBES) -> list[RoundJob]:
    if max_probes < 1:
        raise ValueError(f"max_probes must be at least 1, got {max_probes}")
    buckets: dict[tuple[float, float], list[GroupConfig]] = defaultdict(list)
    for g in groups:
        h = g.health
        buckets[(h.interval_s, effective_jitter(h.interval_s, h.jitter_s))].append(g)
    jobs: list[RoundJob] = []
    for (interval, jitter), members in sorted(buckets.items()):
        prefix = f"health:{interval:g}:{jitter:g}"
        shards: list[list[GroupConfig]] = []
        size = 0
        for g in members:
            n = _direct_probes(g)
            if n == 0:
                continue
            if not shards or size + n > max_probes:
                shards.append([])
                size = 0
            shards[-1].append(g)
            size += n
        for i, shard in enumerate(shards):
            phase = interval * i / len(shards)
            jobs.append(RoundJob(f"{prefix}:{i}", "probes", interval, jitter, phase, tuple(shard)))
    status: dict[tuple[float, float], list[GroupConfig]] = defaultdict(list)
    for g in groups:
        every = _status_interval(g)
        if every is not None:
            status[(every, effective_jitter(every, g.health.jitter_s))].append(g)
    for (interval, jitter), members in sorted(status.items()):
        jobs.append(RoundJob(f"health:{interval:g}:{jitter:g}:ecs", "ecs_status", interval, jitter,
                             0.0, tuple(members)))
    return jobs
