"""`failover provision` against the emulator: dry run, a fixing run, an idempotent second run."""

from __future__ import annotations

import json
from pathlib import Path

from failover import metrics
from harness.sim import MANAGED, SimServer
from harness.standby_worlds import cli, cloud_state, world, write_config

FREE_EIP = {"id": "eip-b", "ip": "47.100.0.2", "tags": MANAGED}  # tagged as the RAM policy requires
WANTED = {"service_ips": ["192.168.1.51", "192.168.1.52"], "eips": ["47.100.0.1", "47.100.0.2"]}
WRITES = ("AssignPrivateIpAddresses", "AssociateEipAddress", "UnassignPrivateIpAddresses",
          "UnassociateEipAddress", "AttachNetworkInterface", "DetachNetworkInterface")


def writes_sent() -> float:
    """Every write call this process sent, by the adapter's own metric."""
    total = 0.0
    for action in WRITES:
        total += metrics.REGISTRY.get_sample_value(
            "failover_cloud_api_calls_total", {"action": action, "code": "OK"}) or 0.0
    return total


def test_dry_run_then_run_then_nothing_to_do(tmp_path: Path) -> None:
    with SimServer.from_world(world(eips=(FREE_EIP,))) as sim:
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, **WANTED)
        before, seq = cloud_state(sim), len(sim.control.events())

        dry = cli(sim, cfg, "provision", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert dry.stdout.splitlines() == [
            "web (eni-svc):",
            "  + assign 192.168.1.52 to eni-svc (AssignPrivateIpAddresses)",
            "  + associate EIP 47.100.0.2 (eip-b) with eni-svc on 192.168.1.51, NAT mode (AssociateEipAddress)",
            "dry run: nothing changed",
        ]
        assert cloud_state(sim) == before and len(sim.control.events()) == seq

        sent = writes_sent()
        run = cli(sim, cfg, "provision", "web", "--yes")
        assert run.exit_code == 0, run.output
        assert writes_sent() - sent == 2  # one assign for every missing IP, one associate per EIP
        done = [line for line in run.stdout.splitlines() if line.startswith("done: ")]
        assert len(done) == 2 and all("requests: " in line for line in done)
        eni = sim.control.eni("eni-svc")
        assert eni["secondary_ips"] == ["192.168.1.51", "192.168.1.52"]
        eip = next(e for e in sim.control.state()["eips"] if e["id"] == "eip-b")
        assert (eip["status"], eip["network_interface"], eip["private_ip"], eip["mode"]) == (
            "InUse", "eni-svc", "192.168.1.51", "NAT")
        assert eni["instance"] == "i-primary" and eni["status"] == "InUse"  # nothing moved
        assert cli(sim, cfg, "validate", "--live").exit_code == 0

        after, seq, sent = cloud_state(sim), len(sim.control.events()), writes_sent()
        again = cli(sim, cfg, "provision", "--yes")
        assert again.exit_code == 0, again.output
        assert again.stdout.splitlines() == ["web (eni-svc):", "  = matches the config", "nothing to do"]
        assert cloud_state(sim) == after and len(sim.control.events()) == seq
        assert writes_sent() == sent


def test_what_provision_will_not_touch(tmp_path: Path) -> None:
    other = {"id": "eni-other", "vswitch": "vsw-a", "security_groups": ["sg-a"], "primary_ip": "192.168.1.70"}
    elsewhere = {"id": "eip-b", "ip": "47.100.0.2", "network_interface": "eni-other",
                 "private_ip": "192.168.1.70", "mode": "NAT"}
    w = world(enis=(other,), eips=(elsewhere,))
    w["network_interfaces"][0]["secondary_ips"] = ["192.168.1.51", "192.168.1.60"]
    with SimServer.from_world(w) as sim:
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, **WANTED)
        before = cloud_state(sim)
        result = cli(sim, cfg, "provision", "--yes")
        assert result.exit_code == 1  # the cloud still differs: an EIP only a person may move
        out = result.stdout
        assert "  + assign 192.168.1.52 to eni-svc (AssignPrivateIpAddresses)" in out
        assert ("! will not touch groups[0].service_ips: 192.168.1.60 is on eni-svc but not in service_ips; "
                "provision leaves it. By hand: add it to service_ips, or remove it: aliyun ecs "
                "UnassignPrivateIpAddresses --RegionId cn-hangzhou --NetworkInterfaceId eni-svc "
                "--PrivateIpAddress.1 192.168.1.60") in out
        assert ("! will not touch groups[0].eips[1]: EIP 47.100.0.2 (eip-b) is associated with eni-other, "
                "not eni-svc; provision does not move it. By hand: aliyun vpc UnassociateEipAddress "
                "--RegionId cn-hangzhou --AllocationId eip-b --InstanceId eni-other "
                "--InstanceType NetworkInterface") in out
        assert "the cloud still differs from the config: 1 manual step(s) above" in result.stderr
        state = cloud_state(sim)
        assert state["eips"] == before["eips"]
        assert sim.control.eni("eni-svc")["secondary_ips"] == ["192.168.1.51", "192.168.1.60", "192.168.1.52"]


def test_json_and_the_confirmation_rule(tmp_path: Path) -> None:
    with SimServer.from_world(world(eips=(FREE_EIP,))) as sim:
        cfg = write_config(tmp_path / "c.yaml", sim.endpoint, **WANTED)
        before = cloud_state(sim)
        refused = cli(sim, cfg, "provision")
        assert refused.exit_code == 2
        assert "--yes is required when not on a terminal (or use --dry-run)" in refused.stderr
        unknown = cli(sim, cfg, "provision", "nope", "--dry-run")
        assert unknown.exit_code == 2 and "GROUP: unknown group 'nope'" in unknown.stderr
        doc = json.loads(cli(sim, cfg, "--json", "provision", "--dry-run").stdout)
        assert cloud_state(sim) == before
        assert doc["dry_run"] is True and doc["groups"][0]["applied"] == []
        assert len(doc["groups"][0]["changes"]) == 2
