"""The product end to end: real ZooKeeper, the emulator over HTTP, three replicas as processes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.replicas import FileHealthFleet, write_config
from harness.sim import SimServer, small_world
from harness.waiting import wait_for
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def sim() -> Iterator[SimServer]:
    world = small_world(timing={"attach_s": 0.3, "detach_s": 0.3, "command_s": 0.1})
    with SimServer.from_world(world) as s:
        yield s


@pytest.fixture
def fleet(tmp_path: Path, sim: SimServer, zk_server: ZkCluster, zk_root: str) -> Iterator[FileHealthFleet]:
    health = tmp_path / "health"
    health.mkdir()
    for m in ("i-primary", "i-standby"):
        (health / m).touch()
    cfg = write_config(tmp_path / "config.yaml", zk_hosts=zk_server.hosts, zk_root=zk_root,
                       endpoint=sim.endpoint, health_dir=health, members=["i-primary", "i-standby"])
    env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret,
           "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    f = FileHealthFleet(cfg, tmp_path, env, health=health)
    try:
        for cid in ("ctl-a", "ctl-b", "ctl-c"):
            f.start(cid)
        wait_for(lambda: _ready(f), 30, "a leader that sees both members up", f.logs)
        yield f
    finally:
        f.stop_all()


def _ready(f: FileHealthFleet) -> bool:
    leader = f.leader()
    if leader is None:
        return False
    st = leader.status() or {}
    g = st["groups"][0]
    return g["holder"] == "i-primary" and all(m["up"] for m in g["members"])


def _holder(sim: SimServer) -> tuple[str, str | None]:
    eni = sim.control.eni("eni-svc")
    return eni["status"], eni.get("instance")


def _attach_transitions(sim: SimServer) -> list[dict[str, Any]]:
    return [e for e in sim.control.events() if e.get("id") == "eni-svc" and e.get("to") == "InUse"]


def test_primary_failure_moves_the_eni_exactly_once(fleet: FileHealthFleet, sim: SimServer) -> None:
    (fleet.health / "i-primary").unlink()
    wait_for(lambda: _holder(sim) == ("InUse", "i-standby"), 30, "the ENI on the standby", fleet.logs)
    hist = wait_for(lambda: _completed(fleet), 30, "a completed failover in history", fleet.logs)
    assert len(hist) == 1
    rec = hist[0]
    assert (rec["from"], rec["to"], rec["trigger"]) == ("i-primary", "i-standby", "auto")
    assert [s["name"] for s in rec["steps"]] == ["detach", "attach", "guest", "verify", "done"]
    assert all(s["duration_s"] is not None for s in rec["steps"])
    assert rec["steps"][0]["request_ids"] and rec["steps"][1]["request_ids"]
    assert len(_attach_transitions(sim)) == 1
    leader = fleet.leader()
    assert leader is not None
    metrics = leader.get("/metrics")[1]
    assert 'failover_failovers_total{group="web",result="completed",trigger="auto"} 1.0' in metrics
    status = json.loads(fleet.cli("status", "--json").stdout)
    assert status["groups"][0]["holder"] == "i-standby"
    assert status["groups"][0]["last_failover"]["result"] == "completed"


def _completed(fleet: FileHealthFleet) -> list[dict[str, Any]] | None:
    out = fleet.cli("history", "--json")
    if out.returncode != 0:
        return None
    rows = json.loads(out.stdout)
    return rows if rows and all(r["result"] == "completed" for r in rows) else None


def test_drill_from_the_cli_and_dry_run(fleet: FileHealthFleet, sim: SimServer) -> None:
    dry = fleet.cli("drill", "web", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["from"], plan["to"]) == ("i-primary", "i-standby")
    assert _holder(sim) == ("InUse", "i-primary")
    assert json.loads(fleet.cli("history", "--json").stdout) == []

    done = fleet.cli("drill", "web", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr + fleet.logs()
    assert "completed: web i-primary -> i-standby" in done.stdout
    assert "attach" in done.stdout and "requests:" in done.stdout
    assert _holder(sim) == ("InUse", "i-standby")
    back = fleet.cli("drill", "web", "--to", "i-primary", "--yes", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout.strip().splitlines()[-1])["result"] == "completed"
    assert _holder(sim) == ("InUse", "i-primary")


def test_bad_drill_arguments_exit_2(fleet: FileHealthFleet) -> None:
    assert fleet.cli("drill", "nope", "--yes").returncode == 2
    bad = fleet.cli("drill", "web", "--to", "i-other", "--yes")
    assert bad.returncode == 2 and "--to: i-other is not a member" in bad.stderr


def test_leader_killed_between_detach_and_attach_resumes(fleet: FileHealthFleet, sim: SimServer) -> None:
    sim.control.latency("AttachNetworkInterface", 4.0)  # hold the attach call open
    leader = fleet.leader()
    assert leader is not None
    (fleet.health / "i-primary").unlink()
    # Detached, not yet attached: the leader is inside the attach call.
    wait_for(lambda: _holder(sim) == ("Available", None), 30, "the detach to finish", fleet.logs)
    fleet.kill(leader.cid)
    sim.control.latency("AttachNetworkInterface", 0)
    hist = wait_for(lambda: _completed(fleet), 40, "the new leader to finish the failover", fleet.logs)
    assert len(hist) == 1  # the same failover resumed, not a second one
    assert _holder(sim) == ("InUse", "i-standby")
    assert len(_attach_transitions(sim)) == 1
    new_leader = fleet.leader()
    assert new_leader is not None and new_leader.cid != leader.cid


def test_sigterm_hands_over_leadership_at_once_and_exits_0(fleet: FileHealthFleet) -> None:
    import signal
    import time

    leader = fleet.leader()
    assert leader is not None
    t0 = time.monotonic()
    leader.proc.send_signal(signal.SIGTERM)
    assert leader.proc.wait(20) == 0
    wait_for(lambda: fleet.leader() is not None, 10, "a new leader", fleet.logs)
    # Released, not expired: well inside the 2 s session timeout plus the exit itself.
    assert time.monotonic() - t0 < 2 + 5


def test_sighup_with_a_broken_config_keeps_the_old_one(fleet: FileHealthFleet) -> None:
    import signal

    leader = fleet.leader()
    assert leader is not None
    own = fleet.workdir / f"{leader.cid}.yaml"
    good = own.read_text()
    own.write_text(good.replace("interval_s: 0.2", "interval_s: fast"))
    leader.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in leader.log.read_text(), 10, "the refusal in the log")
    assert "defaults.health.interval_s" in leader.log.read_text()  # where the file has it
    assert leader.proc.poll() is None and leader.get("/healthz")[0] == 200
    assert "failover_config_last_reload_successful 0.0" in leader.get("/metrics")[1]
    own.write_text(good.replace("cooldown_s: 0", "cooldown_s: 5"))
    leader.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in leader.log.read_text(), 10, "the reload in the log", fleet.logs)
    assert "failover_config_last_reload_successful 1.0" in leader.get("/metrics")[1]
    wait_for(lambda: fleet.leader() is not None, 10, "a leader after the reload", fleet.logs)
