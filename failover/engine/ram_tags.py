"""The RAM policy's tag conditions, checked against the tags the cloud shows (validate --live).

deploy/ram-policy.json (shipped as failover/cloud/ram-policy.json) allows the controller's
writes only on resources whose tags satisfy `acs:ResourceTag/<key>` conditions. An untagged
ENI, instance or EIP passes every offline check and the first drill or failover ends in
Forbidden.RAM; this module reads the conditions out of the policy itself (no second copy of
the tag) and says, per resource the config names, which writes would be refused.

Pure: the policy is a parsed JSON document, the tags a mapping the cloud adapter read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from failover.config import Config
from failover.engine.readiness import Finding

KINDS = ("eni", "instance", "eip")
# The resources each write names (the API's own parameters): a RAM condition on a resource
# type applies to an action only where the action acts on that type.
WRITES_ON: Mapping[str, tuple[str, ...]] = {
    "ecs:AttachNetworkInterface": ("eni", "instance"),
    "ecs:DetachNetworkInterface": ("eni", "instance"),
    "ecs:AssignPrivateIpAddresses": ("eni",),
    "ecs:StopInstance": ("instance",),
    "ecs:StartInstance": ("instance",),
    "ecs:RunCommand": ("instance",),
    "vpc:AssociateEipAddress": ("eip",),
}
_TAG = "acs:ResourceTag/"
# How the resource types are written in a RAM resource ARN (acs:<service>:<region>:<account>:<type>/<id>).
_ARN_TYPES = {"eni": "eni", "instance": "instance", "eip": "eip"}


@dataclass(frozen=True)
class TagRule:
    """Writes `actions` on resources of `kind` are allowed only with tag `key` in `values`."""

    statement: str
    kind: str
    key: str
    values: tuple[str, ...]
    actions: tuple[str, ...]
    regions: tuple[str, ...]  # the regions the statement's resources are in ("*" = any)


def _as_list(v: Any) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def tag_rules(policy: Mapping[str, Any]) -> list[TagRule]:
    """Every Allow statement's tag conditions, per resource kind it names."""
    out: list[TagRule] = []
    for i, st in enumerate(policy.get("Statement", [])):
        if st.get("Effect") != "Allow":
            continue
        tags = {k[len(_TAG):]: tuple(_as_list(v))
                for k, v in (st.get("Condition", {}).get("StringEquals") or {}).items()
                if k.startswith(_TAG)}
        if not tags:
            continue
        by_kind: dict[str, set[str]] = {}
        for arn in _as_list(st.get("Resource", [])):
            parts = arn.split(":", 4)
            if len(parts) == 5 and parts[4].split("/")[0] in _ARN_TYPES:
                by_kind.setdefault(_ARN_TYPES[parts[4].split("/")[0]], set()).add(parts[2])
        actions = _as_list(st.get("Action", []))
        for kind, regions in by_kind.items():
            acts = tuple(a for a in actions if kind in WRITES_ON.get(a, ()))
            if not acts:
                continue
            for key, values in tags.items():
                out.append(TagRule(str(st.get("Sid") or f"Statement[{i}]"), kind, key, values, acts,
                                   tuple(sorted(regions))))
    return out


def named_resources(cfg: Config) -> dict[str, dict[str, str]]:
    """kind -> {resource id: the config path that first names it}."""
    out: dict[str, dict[str, str]] = {k: {} for k in KINDS}
    for i, g in enumerate(cfg.groups):
        out["eni"].setdefault(g.network_interface, f"groups[{i}].network_interface")
        for j, m in enumerate(g.members):
            out["instance"].setdefault(m, f"groups[{i}].members[{j}]")
        for k, e in enumerate(g.eips):
            out["eip"].setdefault(e, f"groups[{i}].eips[{k}]")
    return out


def tag_command(region: str, kind: str, rid: str, key: str, value: str) -> str:
    """The aliyun CLI line that sets the tag (ECS's TagResources for ENIs and instances,
    VPC's for EIPs)."""
    service, rtype = ("vpc", "EIP") if kind == "eip" else ("ecs", kind)
    return (f"aliyun {service} TagResources --RegionId {region} --ResourceType {rtype} "
            f"--ResourceId.1 {rid} --Tag.1.Key {key} --Tag.1.Value {value}")


def _short(actions: Sequence[str]) -> str:
    return ", ".join(a.split(":", 1)[1] for a in actions)


def tag_findings(cfg: Config, rules: Sequence[TagRule],
                 tags: Mapping[str, Mapping[str, Mapping[str, str]]]) -> list[Finding]:
    """One error per resource and rule it fails. `tags`: kind -> id -> the resource's tags;
    a resource the cloud did not show is left to the other findings (it is reported missing)."""
    region = cfg.cloud.region
    out: list[Finding] = []
    for rule in {(r.statement, r.kind): r for r in rules}.values():
        if "*" not in rule.regions and region not in rule.regions:
            out.append(Finding("cloud.region", (
                f"the RAM policy's statement {rule.statement} allows {_short(rule.actions)} on "
                f"{rule.kind}s only in {', '.join(rule.regions)}, not {region}: every one would be "
                "refused (Forbidden.RAM)")))
    named = named_resources(cfg)
    for rule in rules:
        for rid, path in named[rule.kind].items():
            seen = tags.get(rule.kind, {}).get(rid)
            if seen is None:
                continue
            have = seen.get(rule.key)
            if have in rule.values:
                continue
            shown = "no tag " + rule.key if have is None else f"the tag {rule.key}={have}"
            want = rule.values[0]
            out.append(Finding(path, (
                f"{rid} has {shown}; the RAM policy's statement {rule.statement} allows "
                f"{_short(rule.actions)} on it only with {rule.key}={' or '.join(rule.values)}: "
                f"those calls would be refused (Forbidden.RAM). Tag it: "
                f"{tag_command(region, rule.kind, rid, rule.key, want)}")))
    return out
