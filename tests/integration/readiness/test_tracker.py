"""Continuous readiness through the real adapter: the tracker, its budget share, and a replica's /status."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from failover import metrics
from failover.cloud.budget import ApiBudget
from failover.config import GroupConfig, parse
from failover.engine.readiness import ReadinessTracker
from failover.model import Priority
from failover.ports import SystemClock
from harness.cloud import new_cloud
from harness.replicas import Fleet, write_config
from harness.sim import SimServer
from harness.standby_worlds import world
from harness.waiting import wait_for
from harness.zk import ZkCluster

MEMBERS = ["i-primary", "i-standby", "i-far"]


def groups() -> list[GroupConfig]:
    return parse({"cloud": {"region": "cn-hangzhou"},
                  "groups": [{"name": "rdy", "network_interface": "eni-svc", "members": MEMBERS,
                              "checks": [{"type": "tcp", "port": 80}]}]}).groups


def test_tracker_follows_the_cloud() -> None:
    with SimServer.from_world(world()) as sim:
        cloud = new_cloud(sim, rate_per_s=100)
        t = ReadinessTracker(groups(), cloud, cloud, SystemClock())
        assert t.refresh()
        snap = t.answers()["rdy"]
        assert set(snap) == {"i-standby", "i-far"}
        assert snap["i-standby"].ready
        assert snap["i-far"].reason == "i-far is in zone cn-hangzhou-i, the ENI eni-svc is in cn-hangzhou-h"
        sim.control.cloud_assistant("i-standby", online=False)
        assert t.refresh(force=True)
        assert t.ready_map() == {"rdy": {"i-standby": False, "i-far": False}}
        sample = metrics.REGISTRY.get_sample_value("failover_standby_ready",
                                                   {"group": "rdy", "ecs_instance": "i-standby"})
        assert sample == 0.0


def test_tracker_spends_only_the_routine_share() -> None:
    with SimServer.from_world(world()) as sim:
        budget = ApiBudget(0.01, 4, 0.5, clock=SystemClock(), routine_max_wait_s=0.1)
        cloud = new_cloud(sim, budget=budget)
        t = ReadinessTracker(groups(), cloud, cloud, SystemClock())
        assert t.refresh()
        # The routine half of each action's window (2 calls in 400 s, paced 200 s apart) has no
        # call for it within its bound: the tracker gives up and keeps its answer...
        assert not t.refresh(force=True)
        assert t.ready_map()["rdy"] == {"i-standby": True, "i-far": False}
        # ...while a failover step still gets the reserve of the very same action.
        assert cloud.describe_eni("eni-svc", priority=Priority.FAILOVER).instance_id == "i-primary"


@pytest.mark.timeout(90)
def test_a_replica_reports_readiness_in_status_metrics_and_the_cli(
        tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> None:
    health = tmp_path / "health"
    health.mkdir()
    for m in MEMBERS:
        (health / m).touch()
    with SimServer.from_world(world()) as sim:
        cfg = write_config(tmp_path / "config.yaml", zk_hosts=zk_server.hosts, zk_root=zk_root,
                           endpoint=sim.endpoint, health_dir=health, members=MEMBERS)
        env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret,
               "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
        fleet = Fleet(cfg, tmp_path, env)
        try:
            replica = fleet.start("ctl-a")

            def far_known() -> dict[str, Any] | None:
                st = replica.status()
                members = {m["instance"]: m for m in st["groups"][0]["members"]} if st else {}
                return members if "ready" in members.get("i-far", {}) else None

            members = wait_for(far_known, 30, "readiness in /status", fleet.logs)
            assert members["i-far"]["ready"] is False
            assert members["i-far"]["ready_reason"] == ("i-far is in zone cn-hangzhou-i, the ENI eni-svc is "
                                                        "in cn-hangzhou-h")
            assert members["i-standby"]["ready"] is True
            assert "ready" not in members["i-primary"]  # the holder is no standby
            text = replica.get("/metrics")[1]
            assert 'failover_standby_ready{ecs_instance="i-far",group="web"} 0.0' in text
            assert 'failover_standby_ready{ecs_instance="i-standby",group="web"} 1.0' in text
            assert 'failover_standby_ready{ecs_instance="i-primary",group="web"}' not in text
            doc = json.loads(fleet.cli("status", "--json").stdout)
            cli_members = {m["instance"]: m for m in doc["groups"][0]["members"]}
            assert cli_members["i-far"]["ready"] is False
            assert "cn-hangzhou-i" in cli_members["i-far"]["ready_reason"]
        finally:
            fleet.stop_all()
