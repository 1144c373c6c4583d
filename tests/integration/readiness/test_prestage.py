"""`failover provision` with guest.prestage against the emulator: staged once, idempotently.

The RunCommands are counted from the emulator's own event log (every RunCommand creates an
invocation), and what each member holds from the emulated guest's disk (`staged`, written only
when a stage script ran to success there) and its tags (what DescribeInstances shows).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from failover.engine.staging import tag_key
from harness.sim import SimServer
from harness.standby_worlds import cli, world, write_config

PRESTAGE = {"guest": {"prestage": True}}
MEMBERS = ("i-primary", "i-standby")


def run_commands(sim: SimServer, since: int) -> list[dict[str, Any]]:
    return [e for e in sim.control.events(since) if e["kind"] == "invocations" and e["to"] == "Created"]


def last_seq(sim: SimServer) -> int:
    events = sim.control.events()
    return int(events[-1]["seq"]) if events else 0


def staged(sim: SimServer) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """Per member: the guest's staged triggers and the stage-version tags (the RAM policy's
    `failover=managed` tag every test world carries is not provision's doing)."""
    return {i["id"]: (i["staged"], {k: v for k, v in i["tags"].items() if k != "failover"})
            for i in sim.control.state()["instances"] if i["id"] in MEMBERS}


def test_provision_stages_every_member_once_and_restages_on_change(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        mac = sim.control.eni("eni-svc")["mac"]
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, **PRESTAGE)

        seq = last_seq(sim)
        dry = cli(sim, cfg, "provision", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert [ln for ln in dry.stdout.splitlines() if "pre-stage" in ln and "not staged" in ln] != []
        assert run_commands(sim, seq) == [] and all(s == ({}, {}) for s in staged(sim).values())
        warned = cli(sim, cfg, "--json", "validate", "--live")
        findings = json.loads(warned.stdout)["findings"]
        missing = [f for f in findings if "pre-staged guest configuration" in f["message"]]
        assert [f["path"] for f in missing] == ["groups[0].members[0]", "groups[0].members[1]"]
        assert all(f["severity"] == "warning" and "missing" in f["message"] for f in missing)

        seq = last_seq(sim)
        first = cli(sim, cfg, "provision", "--yes")
        assert first.exit_code == 0, first.output
        sent = run_commands(sim, seq)
        assert sorted(i for e in sent for i in e["instances"]) == sorted(MEMBERS)
        assert all(f"# failover guest stage: ENI {mac}" in e["script"] for e in sent)
        version = staged(sim)["i-primary"][0][mac]
        assert staged(sim) == {m: ({mac: version}, {tag_key("eni-svc"): version}) for m in MEMBERS}

        doc = json.loads(cli(sim, cfg, "--json", "provision", "--dry-run").stdout)
        assert doc["groups"][0]["prestaged_version"] == version and doc["groups"][0]["changes"] == []

        # a second run sends nothing and changes nothing
        seq, before = last_seq(sim), staged(sim)
        again = cli(sim, cfg, "provision", "--yes")
        assert again.exit_code == 0, again.output
        assert again.stdout.splitlines() == ["web (eni-svc):", "  = matches the config", "nothing to do"]
        assert run_commands(sim, seq) == [] and staged(sim) == before
        assert not [f for f in json.loads(cli(sim, cfg, "--json", "validate", "--live").stdout)["findings"]
                    if "pre-staged" in f["message"]]

        # a config change (one more service IP) is a new version: both members re-staged
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, service_ips=["192.168.1.51", "192.168.1.52"],
                           **PRESTAGE)
        outdated = json.loads(cli(sim, cfg, "--json", "validate", "--live").stdout)["findings"]
        assert sum("outdated" in f["message"] for f in outdated) == 2
        seq = last_seq(sim)
        changed = cli(sim, cfg, "provision", "--yes")
        assert changed.exit_code == 0, changed.output
        assert len(run_commands(sim, seq)) == 2
        new = staged(sim)["i-standby"][0][mac]
        assert new != version
        assert staged(sim) == {m: ({mac: new}, {tag_key("eni-svc"): new}) for m in MEMBERS}


def test_a_member_whose_agent_is_offline_is_left_for_the_next_run(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, **PRESTAGE)
        sim.control.cloud_assistant("i-standby", False)
        result = cli(sim, cfg, "provision", "--yes")
        assert result.exit_code == 1, result.output
        assert any(ln.startswith("FAILED: pre-stage") and "i-standby" in ln for ln in result.stdout.splitlines())
        st = staged(sim)
        assert st["i-standby"] == ({}, {}) and st["i-primary"][1]  # no tag without the guest's success
        sim.control.cloud_assistant("i-standby", True)
        seq = last_seq(sim)
        assert cli(sim, cfg, "provision", "--yes").exit_code == 0
        assert [e["instances"] for e in run_commands(sim, seq)] == [["i-standby"]]


def test_windows_or_method_none_cannot_be_prestaged(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, guest={"prestage": True, "os": "windows"})
        result = cli(sim, cfg, "validate", "--skip-env")
        assert result.exit_code == 2
        assert "groups[0].guest.prestage" in result.output


def hotplugs(sim: SimServer, since: int) -> list[tuple[str, str, str]]:
    return [(e["id"], e["to"], e["mac"]) for e in sim.control.events(since) if e["kind"] == "guest"
            and e["to"].startswith("Hotplug")]


def test_the_emulated_guest_runs_its_staged_trigger_when_the_nic_appears(tmp_path: Path) -> None:
    """No API call: an ENI moved by hand to a staged member is configured there by the trigger,
    whatever the agent's state; a member without a stage runs nothing."""
    with SimServer.from_world(world()) as sim:
        mac = sim.control.eni("eni-svc")["mac"]
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, members=["i-primary", "i-standby"], **PRESTAGE)
        seq = last_seq(sim)
        sim.control.move_by_hand("eni-svc", "i-standby")  # not staged yet: nothing runs
        wait_in_use(sim, "i-standby")
        assert hotplugs(sim, seq) == []
        assert cli(sim, cfg, "provision", "--yes").exit_code == 0
        sim.control.cloud_assistant("i-primary", False)
        seq = last_seq(sim)
        sim.control.move_by_hand("eni-svc", "i-primary")
        wait_in_use(sim, "i-primary")
        wait(lambda: hotplugs(sim, seq) == [("i-primary", "HotplugConfigured", mac)])
        assert run_commands(sim, seq) == []


def wait_in_use(sim: SimServer, instance: str) -> None:
    wait(lambda: sim.control.eni("eni-svc")["status"] == "InUse"
         and sim.control.eni("eni-svc")["instance"] == instance)


def wait(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_cold_standby_runs_its_trigger_when_it_boots_with_the_nic(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        mac = sim.control.eni("eni-svc")["mac"]
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, **PRESTAGE)
        assert cli(sim, cfg, "provision", "--yes").exit_code == 0
        sim.control.instance_action("i-standby", "stop")
        wait(lambda: sim.control.instance("i-standby")["status"] == "Stopped")
        seq = last_seq(sim)
        sim.control.move_by_hand("eni-svc", "i-standby")  # attached while Stopped: no OS to see it
        wait_in_use(sim, "i-standby")
        time.sleep(0.3)
        assert hotplugs(sim, seq) == []
        sim.control.instance_action("i-standby", "start")
        wait(lambda: hotplugs(sim, seq) == [("i-standby", "HotplugConfigured", mac)])


def test_an_unstaged_guest_runs_no_trigger_until_restaged(tmp_path: Path) -> None:
    """What the lab bench does between a pre-staged part and a RunCommand one: the emulator
    forgets the triggers (a re-imaged instance keeps its tags, so a plain provision skips it)."""
    with SimServer.from_world(world()) as sim:
        mac = sim.control.eni("eni-svc")["mac"]
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, members=["i-primary", "i-standby"], **PRESTAGE)
        assert cli(sim, cfg, "provision", "--yes").exit_code == 0
        sim.control.unstage()
        seq = last_seq(sim)
        sim.control.move_by_hand("eni-svc", "i-standby")
        wait_in_use(sim, "i-standby")
        assert cli(sim, cfg, "provision", "--yes").exit_code == 0
        assert run_commands(sim, seq) == []  # the tags still say staged
        assert hotplugs(sim, seq) == []
        assert cli(sim, cfg, "provision", "--yes", "--restage").exit_code == 0
        seq = last_seq(sim)
        sim.control.move_by_hand("eni-svc", "i-primary")
        wait_in_use(sim, "i-primary")
        wait(lambda: hotplugs(sim, seq) == [("i-primary", "HotplugConfigured", mac)])
