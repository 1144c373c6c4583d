"""Pre-staging: which members need the group's hot-plug trigger installed, and installing it.

`plan` is pure: the group, its ENI, the vSwitch CIDR and the members as DescribeInstances
shows them (with their tags) in, the stage actions out. A member needs one when its tag
`failover:prestaged:<eni>` does not name the version `render_stage` computes now (never
staged, or staged for other IPs, another OS family, older scripts). `apply` sends each
member's stage script over Cloud Assistant (routine priority: no failover waits behind it)
and, when the guest answered that it holds the version, records that answer in the tag. A
second run therefore sends nothing; `restage` sends again whatever the tags say (a re-imaged
instance keeps its tags while its disk lost the trigger). The stage script itself compares
the guest's own version file first and changes nothing when it matches.

The tag is only a cheap, batched read of what the guest last answered; nothing trusts it for
a failover: the guest step checks the service IPs themselves and falls back to RunCommand
(`engine/guest_check.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from failover.config import GroupConfig
from failover.engine.execute import gateway_of
from failover.engine.readiness import Finding
from failover.model import (
    CallTrace,
    CloudError,
    EniState,
    GuestNetwork,
    InstanceInfo,
    Priority,
    StagedGuest,
)
from failover.ports import CloudPort, GuestStager, Provisioning
from failover.records import NOTICE_KEY_LINE, NOTICE_KEY_TAG

TAG_PREFIX = "failover:prestaged:"


def tag_key(eni_id: str) -> str:
    return f"{TAG_PREFIX}{eni_id}"


def network_of(group: GroupConfig, eni: EniState, cidr: str) -> GuestNetwork:
    """The guest network the failover's guest step would configure (`Executor._network_of`)."""
    c = group.guest.cidr or cidr
    return GuestNetwork(mac=eni.mac, ips=eni.private_ips, cidr=c,
                        gateway=group.guest.gateway or gateway_of(c), table=group.guest.table)


@dataclass(frozen=True)
class StageAction:
    path: str  # groups[0].members[1]
    instance: str
    eni_id: str
    version: str
    found: str | None  # the member's tag now

    def describe(self) -> str:
        was = "not staged" if self.found is None else f"staged version {self.found}"
        return (f"pre-stage the guest configuration of {self.eni_id} on {self.instance}, version "
                f"{self.version} ({was}; RunCommand, then TagResources)")


@dataclass(frozen=True)
class StagePlan:
    group: str
    stage: StagedGuest | None  # None: the group is not pre-staged
    actions: tuple[StageAction, ...] = ()
    waiting: tuple[Finding, ...] = ()  # members that cannot be staged now (not Running)

    def findings(self) -> list[Finding]:
        fix = f"run `failover provision {self.group}`"
        out = [Finding(a.path, f"the pre-staged guest configuration of {a.eni_id} is "
                               f"{'missing' if a.found is None else 'outdated (' + a.found + ')'} on "
                               f"{a.instance}: a failover there waits guest.prestage_wait_s, then "
                               f"uses RunCommand; {fix}", error=False) for a in self.actions]
        return out + list(self.waiting)


def plan(index: int, group: GroupConfig, eni: EniState | None, cidr: str | None,
         instances: Mapping[str, InstanceInfo], stager: GuestStager | None, *,
         restage: bool = False) -> StagePlan:
    if stager is None or not group.guest.prestage or eni is None or not (group.guest.cidr or cidr):
        return StagePlan(group.name, None)
    stage = stager.stage(group.guest.os, network_of(group, eni, cidr or ""), persist=group.guest.persist,
                         notify=tuple(group.guest.stop_notice))
    actions: list[StageAction] = []
    waiting: list[Finding] = []
    for j, m in enumerate(group.members):
        path = f"groups[{index}].members[{j}]"
        info = instances.get(m)
        found = info.tag(tag_key(eni.eni_id)) if info is not None else None
        if found == stage.version and not restage:
            continue
        if info is None or info.status != "Running":
            waiting.append(Finding(path, f"{m} is {info.status if info else 'not found'}: its guest "
                                         "configuration is pre-staged once it runs (provision again)",
                                   error=False))
            continue
        actions.append(StageAction(path, m, eni.eni_id, stage.version, found))
    return StagePlan(group.name, stage, tuple(actions), tuple(waiting))


@dataclass(frozen=True)
class StageOutcome:
    action: str
    ok: bool
    detail: str


STAGED_LINE = "failover-stage: "  # the stage script's last line: "installed V" or "unchanged V"


def staged_version(output: str) -> str | None:
    """The version a stage script reported, else None (a guest that printed nothing)."""
    for raw in reversed(output.splitlines()):
        line = raw.strip()
        if line.startswith(STAGED_LINE):
            words = line[len(STAGED_LINE):].split()
            if len(words) == 2 and words[0] in ("installed", "unchanged"):
                return words[1]
    return None


def notice_key(output: str) -> str | None:
    """The member key's public half the stage script printed (with guest.stop_notice)."""
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith(NOTICE_KEY_LINE):
            key = line[len(NOTICE_KEY_LINE):].strip()
            return key if len(key) == 44 else None  # Base64 of 32 bytes
    return None


def apply(p: StagePlan, cloud: CloudPort, prov: Provisioning, *,
          timeout_s: float = 60.0) -> list[StageOutcome]:
    """Stages every planned member in turn; a failure on one never stops the others."""
    out: list[StageOutcome] = []
    if p.stage is None:
        return out
    for a in p.actions:
        trace = CallTrace()
        try:
            result = cloud.run_script(a.instance, p.stage.script, timeout_s=timeout_s, trace=trace,
                                      priority=Priority.ROUTINE)
            said = staged_version(result.output)
            if not result.ok or said not in (None, a.version):
                out.append(StageOutcome(a.describe(), False, f"the stage script ended {result.status} "
                                        f"(exit {result.exit_code}): {result.output[-200:]}"))
                continue
            key = notice_key(result.output)
            if key is not None:  # graceful stops: the replicas verify the member's notices by it
                prov.tag_instance(a.instance, NOTICE_KEY_TAG, key, trace=trace)
            prov.tag_instance(a.instance, tag_key(a.eni_id), a.version, trace=trace)
            out.append(StageOutcome(a.describe(), True, f"requests: {', '.join(trace.request_ids)}"))
        except CloudError as e:
            out.append(StageOutcome(a.describe(), False, str(e)))
    return out
