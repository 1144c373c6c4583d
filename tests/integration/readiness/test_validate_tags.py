"""`validate --live` checks the tags the RAM policy's conditions require, through the real SDK.

The emulator's worlds are tagged as the shipped policy requires (tests/support/sim.py reads
the tag out of the policy); each test takes one tag away, or hands in another policy, and
expects the one finding that names the writes the cloud would refuse.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from failover.engine.ram_tags import tag_rules
from failover.lab.render import MANAGED_TAGS
from harness.cloud import new_cloud
from harness.sim import MANAGED, SimServer
from harness.standby_worlds import cli, world, write_config
from tests.integration.deploy.tools import DEPLOY


def shipped_policy() -> dict[str, Any]:
    return dict(json.loads(resources.files("failover.cloud").joinpath("ram-policy.json").read_text()))


def untagged(w: dict[str, Any], kind: str, rid: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    for item in w[kind]:
        if item["id"] == rid:
            item["tags"] = tags or {}
    return w


def live(sim: SimServer, tmp_path: Path, *args: str, **group: Any) -> tuple[int, list[str], str]:
    result = cli(sim, write_config(tmp_path / "c.yaml", sim.endpoint, **group), "validate", "--live", *args)
    return result.exit_code, result.stderr.splitlines(), result.stdout


def test_the_shipped_policy_yields_rules_for_eni_instance_and_eip() -> None:
    rules = {(r.kind, r.key): r for r in tag_rules(shipped_policy())}
    assert set(rules) == {("eni", "failover"), ("instance", "failover"), ("eip", "failover")}
    assert rules[("eni", "failover")].values == ("managed",)
    assert "ecs:AttachNetworkInterface" in rules[("eni", "failover")].actions
    assert "ecs:StopInstance" not in rules[("eni", "failover")].actions  # names an instance only
    assert rules[("instance", "failover")].actions[-1] == "ecs:RunCommand"
    assert rules[("eip", "failover")].actions == ("vpc:AssociateEipAddress",)


def test_deploy_policy_is_the_packaged_one() -> None:
    """One source: deploy/ram-policy.json is a link to the file the wheel ships."""
    assert (DEPLOY / "ram-policy.json").is_symlink()
    assert json.loads((DEPLOY / "ram-policy.json").read_text()) == shipped_policy()


def test_the_lab_and_test_worlds_carry_the_policys_tags() -> None:
    assert MANAGED_TAGS == MANAGED == {r.key: r.values[0] for r in tag_rules(shipped_policy())}
    local = yaml.safe_load((DEPLOY.parent / "config" / "world.yaml").read_text())  # config/local.yaml's
    for kind in ("instances", "network_interfaces", "eips"):
        assert all(item.get("tags") == MANAGED for item in local[kind]), kind


def test_the_sdk_reads_tags_from_the_emulator() -> None:
    w = untagged(world(), "instances", "i-standby", {"failover": "other", "env": "prod"})
    with SimServer.from_world(w) as sim:
        cloud = new_cloud(sim, rate_per_s=100)
        assert cloud.resource_tags("instance", ["i-primary", "i-standby", "i-gone"]) == {
            "i-primary": MANAGED, "i-standby": {"failover": "other", "env": "prod"}}
        assert cloud.resource_tags("eni", ["eni-svc"]) == {"eni-svc": MANAGED}
        assert cloud.resource_tags("eip", ["eip-a", "47.100.0.1"]) == {"eip-a": MANAGED, "47.100.0.1": MANAGED}


def test_an_untagged_eni_names_the_writes_that_would_be_refused(tmp_path: Path) -> None:
    with SimServer.from_world(untagged(world(), "network_interfaces", "eni-svc")) as sim:
        code, err, _ = live(sim, tmp_path)
    assert code == 2
    assert err == [
        "error: groups[0].network_interface: eni-svc has no tag failover; the RAM policy's statement "
        "MoveEnisAndFenceOnlyManagedResources allows AttachNetworkInterface, DetachNetworkInterface, "
        "AssignPrivateIpAddresses on it only with failover=managed: those calls would be refused "
        "(Forbidden.RAM). Tag it: aliyun ecs TagResources --RegionId cn-hangzhou --ResourceType eni "
        "--ResourceId.1 eni-svc --Tag.1.Key failover --Tag.1.Value managed"]


def test_a_standby_with_another_value_and_an_untagged_eip(tmp_path: Path) -> None:
    w = untagged(untagged(world(), "instances", "i-standby", {"failover": "manual"}), "eips", "eip-a")
    with SimServer.from_world(w) as sim:
        code, err, _ = live(sim, tmp_path)
    assert code == 2 and len(err) == 2, err
    assert err[0].startswith("error: groups[0].members[1]: i-standby has the tag failover=manual; ")
    assert "StopInstance, StartInstance, RunCommand" in err[0]
    assert err[1].startswith("error: groups[0].eips[0]: 47.100.0.1 has no tag failover; the RAM policy's "
                             "statement ReassociateOnlyManagedEips allows AssociateEipAddress")
    assert "aliyun vpc TagResources --RegionId cn-hangzhou --ResourceType EIP --ResourceId.1 47.100.0.1" in err[1]


def test_json_lists_the_tag_findings(tmp_path: Path) -> None:
    with SimServer.from_world(untagged(world(), "instances", "i-primary")) as sim:
        result = cli(sim, write_config(tmp_path / "c.yaml", sim.endpoint), "--json", "validate", "--live")
    doc = json.loads(result.stdout)
    assert result.exit_code == 2 and doc["ok"] is False
    assert [(f["path"], f["severity"]) for f in doc["findings"]] == [("groups[0].members[0]", "error")]


def test_the_conditions_come_from_the_policy_given(tmp_path: Path) -> None:
    """Another tag and another region in the operator's policy: the check follows the file."""
    policy = shipped_policy()
    for st in policy["Statement"]:
        cond = st.get("Condition", {}).get("StringEquals")
        if cond:
            cond.pop("acs:ResourceTag/failover")
            cond["acs:ResourceTag/team"] = ["sre"]
            st["Resource"] = [r.replace("cn-hangzhou", "cn-shanghai") for r in st["Resource"]]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    with SimServer.from_world(world()) as sim:
        code, err, _ = live(sim, tmp_path, "--ram-policy", str(path))
    assert code == 2
    regions = [e for e in err if e.startswith("error: cloud.region: ")]
    assert len(regions) == 3 and all("only in cn-shanghai, not cn-hangzhou" in e for e in regions), err
    tags = [e for e in err if not e.startswith("error: cloud.region: ")]
    assert len(tags) == 4 and all(" has no tag team; " in e and "team=sre" in e for e in tags), err


def test_a_bad_policy_file_or_no_live(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with SimServer.from_world(world()) as sim:
        code, err, _ = live(sim, tmp_path, "--ram-policy", str(bad))
        assert code == 2 and len(err) == 1 and err[0].startswith(f"error: --ram-policy: {bad}: "), err
        result = cli(sim, write_config(tmp_path / "c.yaml", sim.endpoint), "validate", "--ram-policy", str(bad))
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --ram-policy: only with --live (it checks the cloud's tags)"


def test_a_world_file_tag_must_be_a_string() -> None:
    import pytest

    from failover.sim.world_file import WorldError, load_world

    w = untagged(world(), "instances", "i-standby", {"failover": 1})  # type: ignore[dict-item]  # a number on purpose
    with pytest.raises(WorldError, match=r"instances\[1\]\.tags: must map tag keys to string values"):
        load_world(w)
