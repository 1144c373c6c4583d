"""deploy/ram-policy.json against the API actions the cloud adapter really calls.

The adapter dispatches by action name (`SdkGateway.call("AttachNetworkInterface", ...)` looks
up `attach_network_interface_with_options` on the SDK client), so the scan reads the action
names out of failover/cloud's source: every string literal that is an operation of the ECS
or VPC SDK. The gateway's routing tables (module-level assignments in sdk.py, which list what
it *can* route to the VPC client) are not calls and are left out. The product comes from the
same routing: `sdk.VPC_ACTIONS` go to `vpc:`, the rest to `ecs:`.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import alibabacloud_ecs20140526.client as ecs_client
import alibabacloud_vpc20160428.client as vpc_client

from tests.integration.deploy.tools import DEPLOY, REPO

CLOUD = REPO / "failover" / "cloud"
POLICY = DEPLOY / "ram-policy.json"


@cache
def sdk_operations(module: Any) -> frozenset[str]:
    """Operation names as the SDK itself sends them (`action='AttachNetworkInterface'`)."""
    return frozenset(re.findall(r"\baction\s*=\s*'(\w+)'", inspect.getsource(module)))


def _routing_tables(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            ids |= {id(n) for n in ast.walk(node)}
    return ids


def called_actions() -> set[str]:
    from failover.cloud import sdk

    ecs, vpc = sdk_operations(ecs_client), sdk_operations(vpc_client)
    found: set[str] = set()
    files = sorted(CLOUD.glob("*.py"))
    assert files, "failover/cloud has no source to scan"
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        skip = _routing_tables(tree) if path.name == "sdk.py" else set()
        for node in ast.walk(tree):
            if id(node) in skip or not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            name = node.value
            if name in sdk.VPC_ACTIONS and name in vpc:
                found.add(f"vpc:{name}")
            elif name in ecs:
                found.add(f"ecs:{name}")
    return found


def policy() -> dict[str, Any]:
    return dict(json.loads(POLICY.read_text()))


def policy_actions() -> set[str]:
    out: set[str] = set()
    for st in policy()["Statement"]:
        acts = st["Action"]
        out |= {acts} if isinstance(acts, str) else set(acts)
    return out


def test_the_scan_finds_the_calls_it_must() -> None:
    """The scan is not vacuous: the core moves are found, with the right product."""
    found = called_actions()
    assert {"ecs:AttachNetworkInterface", "ecs:DetachNetworkInterface", "ecs:DescribeNetworkInterfaces"} <= found
    assert all(a.startswith(("ecs:", "vpc:")) for a in found)


def test_policy_allows_exactly_the_actions_the_controller_calls() -> None:
    called, allowed = called_actions(), policy_actions()
    assert not called - allowed, f"the controller calls actions the policy denies: {sorted(called - allowed)}"
    assert not allowed - called, f"the policy allows actions nothing calls: {sorted(allowed - called)}"


def test_policy_is_least_privilege() -> None:
    doc = policy()
    assert doc["Version"] == "1"
    for st in doc["Statement"]:
        sid = st.get("Sid", "?")
        assert st["Effect"] == "Allow", sid
        acts = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        assert not any("*" in a for a in acts), f"{sid}: wildcard action"
        cond = st.get("Condition", {})
        assert cond.get("Bool", {}).get("acs:SecureTransport") == "true", f"{sid}: must require HTTPS"
        writes = [a for a in acts if not a.split(":")[1].startswith("Describe")]
        if not writes:
            continue
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        assert "*" not in resources, f"{sid}: a write on every resource"
        for arn in resources:
            parts = arn.split(":")
            assert parts[0] == "acs" and parts[2] not in {"", "*"}, f"{sid}: {arn} is not scoped to a region"
        one_off_command = all(r.endswith(":command/*") for r in resources) and acts == ["ecs:RunCommand"]
        if not one_off_command:
            tags = [k for k in cond.get("StringEquals", {}) if k.startswith("acs:ResourceTag/")]
            assert tags, f"{sid}: writes must be limited to tagged resources"


def test_the_policy_file_is_plain_json_without_placeholders() -> None:
    text = POLICY.read_text()
    assert not re.search(r"<[A-Z_]+>|\$\{", text)
    assert Path(POLICY).suffix == ".json"


# ECS's RAM authorization reference (help/en/ecs/developer-reference/api-ecs-2014-05-26-ram):
# the resource types each write the controller makes is authorized against, all required.
DOCUMENTED_RESOURCES = {
    "ecs:AttachNetworkInterface": ("eni", "instance"),
    "ecs:DetachNetworkInterface": ("eni", "instance"),
    "ecs:AssignPrivateIpAddresses": ("eni",),
    "ecs:StopInstance": ("instance",),
    "ecs:StartInstance": ("instance",),
    "ecs:RunCommand": ("instance",),
}
ARN = re.compile(r"^acs:ecs:[a-z0-9-]+:\*:(?P<type>[a-z]+)/\*$")


def test_each_write_covers_the_resource_types_ram_checks_it_against() -> None:
    """A wrong form (networkinterface/ for eni/, say) fails every move with Forbidden.RAM."""
    for action, types in DOCUMENTED_RESOURCES.items():
        granted: set[str] = set()
        for st in policy()["Statement"]:
            acts = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            if action in acts:
                resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
                for arn in resources:
                    m = ARN.match(arn)
                    assert m, f"{action}: {arn} is not acs:ecs:<region>:*:<type>/*"
                    granted.add(m["type"])
        missing = set(types) - granted
        assert not missing, f"{action}: the policy grants no {sorted(missing)} resource"
