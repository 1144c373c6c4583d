"""The reconcile loop end to end: real ZooKeeper, the emulator over the SDK, three replicas as
processes. The ENI is moved by hand, detached by hand, or its attach fails after the detach:
every case ends with the ENI InUse on a healthy member, configured and verified."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from alibabacloud_ecs20140526 import models as m

from harness.chaos_events import eni_moves, invocations_by_instance
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


@contextmanager
def _running(tmp_path: Path, sim: SimServer, zk_server: ZkCluster, zk_root: str,
             serving_check: bool = False) -> Iterator[FileHealthFleet]:
    health = tmp_path / "health"
    health.mkdir()
    for i in ("i-primary", "i-standby"):
        (health / i).touch()
    cfg = write_config(tmp_path / "config.yaml", zk_hosts=zk_server.hosts, zk_root=zk_root,
                       endpoint=sim.endpoint, health_dir=health, members=["i-primary", "i-standby"])
    if serving_check:  # a check through {ip}: fails where `down-<instance>-<ip>` exists
        doc = yaml.safe_load(cfg.read_text())
        doc["groups"][0]["checks"].append(
            {"type": "command", "run": ["test", "!", "-e", f"{health}/down-{{instance}}-{{ip}}"]})
        cfg.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret,
           "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    f = FileHealthFleet(cfg, tmp_path, env, health=health)
    try:
        for cid in ("ctl-a", "ctl-b", "ctl-c"):
            f.start(cid)
        wait_for(lambda: _group(f).get("state") == "healthy", 30, "a healthy group", f.logs)
        yield f
    finally:
        f.stop_all()


@pytest.fixture
def fleet(tmp_path: Path, sim: SimServer, zk_server: ZkCluster, zk_root: str) -> Iterator[FileHealthFleet]:
    with _running(tmp_path, sim, zk_server, zk_root) as f:
        yield f


def _group(f: FileHealthFleet) -> dict[str, Any]:
    leader = f.leader()
    st = (leader.status() if leader is not None else None) or {}
    groups: list[dict[str, Any]] = st.get("groups") or [{}]
    return groups[0]


def _eni(sim: SimServer) -> tuple[str, str | None]:
    eni = sim.control.eni("eni-svc")
    return eni["status"], eni.get("instance")


def _served_on(f: FileHealthFleet, sim: SimServer, instance: str) -> bool:
    g = _group(f)
    return _eni(sim) == ("InUse", instance) and g.get("served") is True and g.get("holder") == instance


def _history(f: FileHealthFleet) -> list[dict[str, Any]]:
    out = f.cli("history", "--json")
    return json.loads(out.stdout) if out.returncode == 0 else []


def _detach_by_hand(sim: SimServer, instance: str) -> None:
    sim.ecs_client().detach_network_interface(m.DetachNetworkInterfaceRequest(
        region_id="cn-hangzhou", network_interface_id="eni-svc", instance_id=instance))


def _attach_by_hand(sim: SimServer, instance: str) -> None:
    sim.ecs_client().attach_network_interface(m.AttachNetworkInterfaceRequest(
        region_id="cn-hangzhou", network_interface_id="eni-svc", instance_id=instance))


def test_an_eni_detached_by_hand_is_attached_back_and_said_unserved_meanwhile(
        fleet: FileHealthFleet, sim: SimServer) -> None:
    _detach_by_hand(sim, "i-primary")
    wait_for(lambda: _served_on(fleet, sim, "i-primary"), 20, "the ENI served on i-primary again",
             fleet.logs)
    rec = _history(fleet)[0]
    assert (rec["trigger"], rec["result"], rec["to"]) == ("auto", "completed", "i-primary")
    assert "Available" in rec["reason"] and "rollback" in rec["reason"]
    leader = fleet.leader()
    assert leader is not None
    assert "group unserved" in leader.log.read_text()


def test_a_move_by_hand_is_adopted_and_that_holders_death_is_followed(
        fleet: FileHealthFleet, sim: SimServer) -> None:
    # The runbook's last resort: the controllers are frozen while an operator moves the ENI.
    for r in fleet.replicas.values():
        os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        _detach_by_hand(sim, "i-primary")
        wait_for(lambda: _eni(sim)[0] == "Available", 10, "the hand-made detach")
        _attach_by_hand(sim, "i-standby")
        wait_for(lambda: _eni(sim) == ("InUse", "i-standby"), 10, "the hand-made attach")
    finally:
        for r in fleet.replicas.values():
            os.kill(r.proc.pid, signal.SIGCONT)
    wait_for(lambda: _served_on(fleet, sim, "i-standby"), 30, "i-standby adopted", fleet.logs)
    adopted = [r for r in _history(fleet) if r["trigger"] == "adopt"]
    assert adopted and adopted[0]["to"] == "i-standby" and "outside the controller" in adopted[0]["reason"]
    assert "i-primary" in adopted[0]["reason"]
    # Not undone while i-standby is healthy; when it dies, the failover starts from it.
    (fleet.health / "i-standby").unlink()
    wait_for(lambda: _served_on(fleet, sim, "i-primary"), 30, "failed over to i-primary", fleet.logs)
    last = _history(fleet)[0]
    assert (last["from"], last["to"], last["result"]) == ("i-standby", "i-primary", "completed")


def _last_seq(sim: SimServer) -> int:
    return int(sim.control.request("GET", "/events?since=0")["last"])


def _attach_failures(sim: SimServer, since: int) -> int:
    return eni_moves(sim.control.events(since), "eni-svc").failed


def test_an_attach_that_fails_after_the_detach_ends_served(fleet: FileHealthFleet, sim: SimServer) -> None:
    # The cloud accepts the attach, then gives up (the ENI falls back to Available): the adapter
    # re-sends it within the same step, so the failover completes without a failed record.
    seq0 = _last_seq(sim)
    sim.control.fail_next_attach("eni-svc")
    (fleet.health / "i-primary").unlink()
    wait_for(lambda: _served_on(fleet, sim, "i-standby"), 40, "the ENI served on i-standby",
             fleet.logs)
    events = sim.control.events(seq0)
    moves = eni_moves(events, "eni-svc")
    assert (moves.detaching, moves.failed) == (1, 1), moves  # the injected failure happened
    assert moves.attached_to == ("i-standby", "i-standby"), moves  # and its attach was re-sent
    assert invocations_by_instance(events, "configure") == {"i-standby": 1}
    rows = _history(fleet)
    assert (rows[0]["to"], rows[0]["result"]) == ("i-standby", "completed")
    assert _group(fleet)["state"] in ("degraded", "healthy")


def test_an_attach_that_keeps_failing_is_a_failed_step_and_a_later_retry_serves(
        fleet: FileHealthFleet, sim: SimServer) -> None:
    # Two failures in a row exhaust the in-step re-send: the step fails, and the retry serves.
    seq0 = _last_seq(sim)
    sim.control.fail_next_attach("eni-svc")
    (fleet.health / "i-primary").unlink()
    wait_for(lambda: _attach_failures(sim, seq0) >= 1, 30, "the first attach failure", fleet.logs)
    sim.control.fail_next_attach("eni-svc")  # the re-send takes >= attach_s: armed in time
    wait_for(lambda: _served_on(fleet, sim, "i-standby"), 60, "the ENI served on i-standby",
             fleet.logs)
    events = sim.control.events(seq0)
    moves = eni_moves(events, "eni-svc")
    assert (moves.detaching, moves.failed) == (1, 2), moves
    assert moves.attached_to == ("i-standby",) * 3, moves  # the step's two, then the retry's
    assert invocations_by_instance(events, "configure") == {"i-standby": 1}
    results = [(r["to"], r["result"]) for r in reversed(_history(fleet))]
    assert ("i-standby", "failed") in results, results
    assert results[-1] == ("i-standby", "completed"), results
    assert _group(fleet)["state"] in ("degraded", "healthy")


def test_a_holder_up_but_not_serving_through_the_service_ip_is_left(
        tmp_path: Path, sim: SimServer, zk_server: ZkCluster, zk_root: str) -> None:
    with _running(tmp_path, sim, zk_server, zk_root, serving_check=True) as fleet:
        health: Path = fleet.health
        (health / "down-i-primary-192.168.1.51").touch()  # i-primary answers, but not on the ENI
        wait_for(lambda: _served_on(fleet, sim, "i-standby"), 60, "served on i-standby", fleet.logs)
        rows = _history(fleet)
        reasons = " | ".join(r["reason"] for r in rows)
        assert "does not serve through the service IPs" in reasons, reasons
        assert rows[0]["to"] == "i-standby" and rows[0]["result"] == "completed"
        assert any(r["trigger"] == "adopt" and r["to"] == "i-primary" for r in rows)  # the re-run
