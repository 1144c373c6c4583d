"""`failover validate --live` against the emulator: one broken precondition per world.

Each finding is also checked against the cloud itself: the attach the finding
predicts to fail does fail, for the reason given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from failover.model import CloudError
from harness.cloud import new_cloud
from harness.sim import MANAGED, SimServer
from harness.standby_worlds import cli, closed_endpoint, world, write_config

EXTRA_ENI = {"id": "eni-extra", "vswitch": "vsw-a", "security_groups": ["sg-a"],
             "primary_ip": "192.168.1.60", "instance": "i-standby"}


def validate(sim: SimServer, tmp_path: Path, **group: Any) -> tuple[int, list[str], str]:
    result = cli(sim, write_config(tmp_path / "c.yaml", sim.endpoint, **group), "validate", "--live")
    return result.exit_code, result.stderr.splitlines(), result.stdout


def attach_error(sim: SimServer, target: str) -> str:
    """What the cloud says when the ENI is really moved to `target`."""
    cloud = new_cloud(sim, rate_per_s=100)
    cloud.detach_eni("eni-svc", "i-primary", timeout_s=5)
    with pytest.raises(CloudError) as exc:
        cloud.attach_eni("eni-svc", target, timeout_s=1)
    return str(exc.value)


def test_a_matching_cloud_is_ok(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        code, err, out = validate(sim, tmp_path)
    assert (code, err) == (0, [])
    assert out.strip() == "ok: 1 groups, 2 instances; the cloud matches the config (0 warnings)"


def test_zone_mismatch(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        code, err, _ = validate(sim, tmp_path, members=["i-primary", "i-standby", "i-far"])
        assert (code, err) == (2, [
            "error: groups[0].members[2]: i-far is in zone cn-hangzhou-i, the ENI eni-svc is in cn-hangzhou-h"])
        assert "different zones" in attach_error(sim, "i-far")


def test_missing_service_ip(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        code, err, _ = validate(sim, tmp_path, service_ips=["192.168.1.51", "192.168.1.52"])
    assert (code, err) == (2, ["error: groups[0].service_ips[1]: 192.168.1.52 is not assigned to eni-svc; "
                               "run `failover provision web`"])


def test_full_standby(tmp_path: Path) -> None:
    w = world(type="ecs.g7.small", max_enis=2, enis=(EXTRA_ENI,))
    with SimServer.from_world(w) as sim:
        code, err, _ = validate(sim, tmp_path)
        assert code == 2 and len(err) == 1
        assert err[0].startswith("error: groups[0].members[1]: i-standby already has 2 ENIs, all its type "
                                 "ecs.g7.small allows (EniQuantity 2")
        assert "EniPerInstanceLimitExceeded" in attach_error(sim, "i-standby")


def test_running_standby_that_cannot_hot_plug(tmp_path: Path) -> None:
    with SimServer.from_world(world(type="ecs.t6-c1m1.large", hotplug=False)) as sim:
        code, err, _ = validate(sim, tmp_path)
        assert code == 2 and len(err) == 1
        assert err[0].startswith("error: groups[0].members[1]: i-standby is Running and its type "
                                 "ecs.t6-c1m1.large takes an ENI only while Stopped")
        assert "InvalidOperation.InvalidEcsState" in attach_error(sim, "i-standby")


def test_a_stopped_cold_standby_of_such_a_type_is_accepted(tmp_path: Path) -> None:
    with SimServer.from_world(world(type="ecs.t6-c1m1.large", hotplug=False, status="Stopped")) as sim:
        code, err, _ = validate(sim, tmp_path, guest={"method": "none"})
        assert (code, err) == (0, [])
        # With the guest step on Cloud Assistant, a stopped standby cannot be configured.
        code, err, _ = validate(sim, tmp_path)
        assert code == 2 and "Cloud Assistant is offline on i-standby" in err[0]


def test_cloud_assistant_offline(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        sim.control.cloud_assistant("i-standby", online=False)
        code, err, _ = validate(sim, tmp_path)
        assert (code, err) == (2, [
            "error: groups[0].members[1]: Cloud Assistant is offline on i-standby; the guest step "
            "(guest.method: cloud_assistant) could not configure the ENI there"])
        code, err, _ = validate(sim, tmp_path, guest={"method": "none"})
        assert (code, err) == (0, [])


def test_eip_on_another_eni_and_every_finding_at_once(tmp_path: Path) -> None:
    other = {"id": "eni-other", "vswitch": "vsw-a", "security_groups": ["sg-a"], "primary_ip": "192.168.1.70"}
    eip = {"id": "eip-b", "ip": "47.100.0.2", "network_interface": "eni-other", "private_ip": "192.168.1.70",
           "mode": "NAT", "tags": MANAGED}  # tagged: this test is about the other findings
    with SimServer.from_world(world(enis=(other,), eips=(eip,))) as sim:
        sim.control.cloud_assistant("i-standby", online=False)
        result = cli(sim, write_config(tmp_path / "c.yaml", sim.endpoint, eips=["47.100.0.1", "47.100.0.2"],
                                       members=["i-primary", "i-standby", "i-far"]), "validate", "--live")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2
    assert [line.split(": ")[1] for line in lines] == [
        "groups[0].members[1]", "groups[0].members[2]", "groups[0].eips[1]"]
    assert lines[2].startswith("error: groups[0].eips[1]: EIP 47.100.0.2 (eip-b) is associated with "
                               "eni-other, not eni-svc")


def test_a_missing_eni_and_a_warning_that_is_no_error(tmp_path: Path) -> None:
    w = world()
    w["network_interfaces"][0]["secondary_ips"] = ["192.168.1.51", "192.168.1.60"]
    with SimServer.from_world(w) as sim:
        code, err, out = validate(sim, tmp_path)
        assert code == 0 and len(err) == 1
        assert err[0].startswith("warning: groups[0].service_ips: 192.168.1.60 is on eni-svc but not in "
                                 "service_ips; provision leaves it; by hand: ")
        assert out.strip().endswith("the cloud matches the config (1 warning)")
        code, err, _ = validate(sim, tmp_path, network_interface="eni-nope")
        assert (code, err) == (2, ["error: groups[0].network_interface: ENI eni-nope not found"])


def test_json_lists_findings_with_severity(tmp_path: Path) -> None:
    with SimServer.from_world(world()) as sim:
        sim.control.cloud_assistant("i-standby", online=False)
        result = cli(sim, write_config(tmp_path / "c.yaml", sim.endpoint), "--json", "validate", "--live")
    doc = json.loads(result.stdout)
    assert result.exit_code == 2 and doc["ok"] is False
    assert [(f["path"], f["severity"]) for f in doc["findings"]] == [("groups[0].members[1]", "error")]


def test_unreachable_cloud_is_exit_1_with_one_clear_line(tmp_path: Path) -> None:
    endpoint = closed_endpoint()
    result = cli(None, write_config(tmp_path / "c.yaml", endpoint), "validate", "--live")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot compare the config with the cloud (region cn-hangzhou, endpoint "
                           f"{endpoint}): ")
    assert "could not connect" in line


def test_missing_credentials_are_a_config_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from failover.cli import main

    cfg = write_config(tmp_path / "c.yaml", closed_endpoint())
    result: Any = CliRunner().invoke(main, ["--config", str(cfg), "validate", "--live"],
                                     env={"SIM_AK": None, "SIM_SECRET": None})
    assert result.exit_code == 2
    assert "error: cloud.credentials.access_key_id_env: environment variable SIM_AK is not set" in result.stderr
