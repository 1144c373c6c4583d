"""Cutting rounds into jobs: bounded shards spread over the interval, one ecs batch."""

from __future__ import annotations

from typing import Any

import pytest

from failover.config import GroupConfig
from failover.health.jobs import plan_jobs


def group(name: str, checks: list[dict[str, Any]], interval: float = 1.0, members: int = 2) -> GroupConfig:
    return GroupConfig.model_validate({
        "name": name, "network_interface": f"eni-{name}",
        "members": [f"i-{name}-{k}" for k in range(members)], "checks": checks,
        "health": {"interval_s": interval, "timeout_s": 0.1},
    })


TCP = {"type": "tcp", "port": 80}
ECS = {"type": "ecs_status"}


def test_shards_hold_at_most_max_probes_and_spread_over_the_interval() -> None:
    groups = [group(f"g{i}", [TCP, ECS]) for i in range(10)]  # 2 direct probes each
    jobs = plan_jobs(groups, max_probes=6)
    shards = [j for j in jobs if j.kind == "probes"]
    assert [len(j.groups) for j in shards] == [3, 3, 3, 1]
    assert [j.phase_s for j in shards] == [0.0, 0.25, 0.5, 0.75]
    assert [g.name for j in shards for g in j.groups] == [g.name for g in groups]
    (ecs,) = [j for j in jobs if j.kind == "ecs_status"]
    assert len(ecs.groups) == 10  # one batched status call per interval for all of them
    assert len({j.job_id for j in jobs}) == len(jobs)


def test_intervals_are_scheduled_apart_and_a_big_group_gets_its_own_shard() -> None:
    jobs = plan_jobs([group("a", [TCP], 1.0), group("b", [TCP], 2.0), group("big", [TCP], 1.0, members=9)],
                     max_probes=4)
    assert [(j.interval_s, [g.name for g in j.groups]) for j in jobs] == [
        (1.0, ["a"]), (1.0, ["big"]), (2.0, ["b"])
    ]


def test_ecs_only_groups_need_no_probe_shard() -> None:
    jobs = plan_jobs([group("a", [ECS])])
    assert [j.kind for j in jobs] == ["ecs_status"]


def test_max_probes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_probes"):
        plan_jobs([group("a", [TCP])], max_probes=0)


def test_an_ecs_status_check_can_run_on_its_own_shorter_cadence() -> None:
    fast = {"type": "ecs_status", "interval_s": 0.25}
    jobs = plan_jobs([group("a", [TCP, fast]), group("b", [TCP, ECS]), group("c", [fast])])
    assert sorted((j.kind, j.interval_s, sorted(g.name for g in j.groups)) for j in jobs) == [
        ("ecs_status", 0.25, ["a", "c"]),
        ("ecs_status", 1.0, ["b"]),
        ("probes", 1.0, ["a", "b"]),
    ]


def test_a_fast_status_round_gets_a_timeout_shorter_than_itself() -> None:
    from failover.health.plan import plan_round

    g = GroupConfig.model_validate({
        "name": "a", "network_interface": "eni-a", "members": ["i-1", "i-2"],
        "checks": [TCP, {"type": "ecs_status", "interval_s": 0.25}],
        "health": {"interval_s": 1.0, "timeout_s": 0.5},
    })
    specs, _ = plan_round([g], {"i-1": "10.0.0.1", "i-2": "10.0.0.2"})
    assert {s.kind: s.timeout_s for s in specs} == {"tcp": 0.5, "ecs_status": 0.125}
