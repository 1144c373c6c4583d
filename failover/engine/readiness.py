"""Standby readiness: could the group's ENI be attached to this standby right now?

Most failed failovers fail on a precondition that held for weeks before the
outage. The checks here are pure functions over cloud facts and answer in
lines an operator can act on; `read_facts` gathers the facts in a few batched
reads through the ports; `ReadinessTracker` refreshes them on a slow interval
at ROUTINE priority (it never spends the failover reserve), keeps the last
known answer while the cloud does not answer, and exports
`failover_standby_ready{group,instance}`. The engine skips a standby that is
known not to be ready; unknown (never read) is allowed. `read_at()` says when each
group's answer was read: a new leader does not abandon a failover on a "not ready" read
before it took office (engine/decide.py `resume_waits_for_readiness`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from failover import metrics
from failover.config import GroupConfig, PolicyConfig
from failover.model import (
    CloudError,
    EniState,
    InstanceInfo,
    InstanceTypeLimits,
    Priority,
)
from failover.ports import Clock, CloudPort, InstanceTypes

log = logging.getLogger("failover.readiness")

PLUGGABLE = ("Running", "Stopped")  # the only states an ENI attaches in
RETRY_S = 10.0  # after a failed read round, well before the next interval
RECHECK_S = 2.0  # a failover waiting on "not ready" re-reads at most this often per group
READ_GROUPS = 100  # groups per read round: one page of ENIs


@dataclass(frozen=True)
class Finding:
    """One line of `failover validate --live`, named by its key path."""

    path: str
    message: str
    error: bool = True

    def line(self) -> str:
        return f"{'error' if self.error else 'warning'}: {self.path}: {self.message}"


@dataclass(frozen=True)
class StandbyReadiness:
    instance: str
    ready: bool
    reason: str = ""  # why not; when ready, what an operator should still know ("" if nothing)


@dataclass(frozen=True)
class GroupFacts:
    """What the cloud says about one group's ENI (None: not found) and its members."""

    eni: EniState | None
    instances: Mapping[str, InstanceInfo]
    limits: Mapping[str, InstanceTypeLimits]
    assistant: Mapping[str, bool]  # Cloud Assistant online; absent = not asked


# -------------------------------------------------------------------- checks


def needs_stop(instance_type: str, policy: PolicyConfig) -> bool:
    """True when the type changes ENIs only while Stopped (policy.stop_to_attach_types)."""
    return any(
        instance_type == p or instance_type.startswith((p + ".", p + "-"))
        for p in policy.stop_to_attach_types
    )


def eni_problems(group: GroupConfig, facts: GroupFacts) -> list[str]:
    """What stops the ENI itself from moving to any member."""
    eni = facts.eni
    if eni is None:
        return [f"ENI {group.network_interface} not found"]
    if eni.eni_type != "Secondary":
        return [f"{eni.eni_id} is a {eni.eni_type} ENI; only a secondary ENI can move between instances"]
    return []


def member_problems(group: GroupConfig, member: str, facts: GroupFacts,
                    ip_count: int | None = None) -> list[str]:
    """Why the ENI could not be attached to `member` now ([] if it could).

    For the holder only placement and the IP count apply. `ip_count` is the
    number of private IPs the ENI will carry (default: what it carries now).
    """
    eni = facts.eni
    info = facts.instances.get(member)
    if eni is None:
        return eni_problems(group, facts)
    if info is None:
        return [f"instance {member} not found"]
    out: list[str] = []
    if info.vpc_id != eni.vpc_id:
        out.append(f"{member} is in VPC {info.vpc_id}, the ENI {eni.eni_id} is in {eni.vpc_id}")
    if info.zone_id != eni.zone_id:
        out.append(f"{member} is in zone {info.zone_id}, the ENI {eni.eni_id} is in {eni.zone_id}")
    holding = eni.instance_id == member
    limits = facts.limits.get(info.instance_type)
    if limits is not None:
        out += _capacity(member, info, limits, eni, ip_count or len(eni.private_ips), holding)
    if holding:
        return out
    if info.status not in PLUGGABLE:
        out.append(f"{member} is {info.status}; an ENI attaches only to a Running or Stopped instance")
    policy = group.policy
    # The failover does not stop a standby to attach (it would lengthen every RTO by a
    # stop and a start): such a standby is kept Stopped by the operator, or is not ready.
    if info.status == "Running" and needs_stop(info.instance_type, policy):
        out.append(
            f"{member} is Running and its type {info.instance_type} takes an ENI only while Stopped "
            "(policy.stop_to_attach_types); keep it Stopped as a cold standby"
        )
    if group.guest.method == "cloud_assistant" and facts.assistant.get(member) is False \
            and not group.guest.prestage:  # pre-staged: the guest's own trigger needs no agent
        out.append(
            f"Cloud Assistant is offline on {member}; the guest step (guest.method: cloud_assistant) "
            "could not configure the ENI there"
        )
    return out


def _capacity(member: str, info: InstanceInfo, limits: InstanceTypeLimits, eni: EniState,
              ip_count: int, holding: bool) -> list[str]:
    out: list[str] = []
    others = [e for e in info.eni_ids if e != eni.eni_id]
    if not holding and len(others) >= limits.max_enis:
        out.append(
            f"{member} already has {len(others)} ENIs, all its type {info.instance_type} allows "
            f"(EniQuantity {limits.max_enis}, the primary included); detach one or pick a larger type"
        )
    if ip_count > limits.ips_per_eni:
        out.append(
            f"{info.instance_type} ({member}) allows {limits.ips_per_eni} private IPs per ENI; "
            f"the ENI {eni.eni_id} needs {ip_count}"
        )
    return out


def member_note(group: GroupConfig, member: str, facts: GroupFacts) -> str:
    """What an operator should know about a ready standby."""
    info = facts.instances.get(member)
    if info is not None and info.status == "Stopped" and needs_stop(info.instance_type, group.policy):
        return f"a cold standby: {info.instance_type} takes the ENI while Stopped; start it after a failover"
    if group.guest.prestage and facts.assistant.get(member) is False:
        return ("Cloud Assistant is offline: only the pre-staged configuration can bring the ENI up "
                "there (no RunCommand fallback)")
    return ""


def evaluate(group: GroupConfig, facts: GroupFacts) -> dict[str, StandbyReadiness]:
    """Every standby of the group (every member but the ENI's holder), ready or why not."""
    problems = eni_problems(group, facts)
    holder = facts.eni.instance_id if facts.eni is not None else None
    out: dict[str, StandbyReadiness] = {}
    for member in group.members:
        if member == holder:
            continue
        why = problems or member_problems(group, member, facts)
        reason = "; ".join(why) if why else member_note(group, member, facts)
        out[member] = StandbyReadiness(member, not why, reason)
    return out


def group_findings(index: int, group: GroupConfig, facts: GroupFacts,
                   ip_count: int | None = None) -> list[Finding]:
    """`validate --live`'s placement findings for one group: the ENI, then each member."""
    prefix = f"groups[{index}]"
    eni = facts.eni
    if eni is None:
        return [Finding(f"{prefix}.network_interface", f"ENI {group.network_interface} not found")]
    out = [Finding(f"{prefix}.network_interface", msg) for msg in eni_problems(group, facts)]
    if eni.instance_id and eni.instance_id not in group.members:
        out.append(Finding(f"{prefix}.network_interface",
                           f"{eni.eni_id} is attached to {eni.instance_id}, not a member of {group.name}",
                           error=False))
    for j, m in enumerate(group.members):
        out += [Finding(f"{prefix}.members[{j}]", msg) for msg in member_problems(group, m, facts, ip_count)]
    return out


# --------------------------------------------------------------------- reads


def read_eni(cloud: CloudPort, eni_id: str, priority: Priority = Priority.ROUTINE) -> EniState | None:
    """The ENI, or None when the cloud says it does not exist (other errors raise)."""
    try:
        return cloud.describe_eni(eni_id, priority=priority)
    except CloudError as e:
        if e.not_found:
            return None
        raise


def read_facts(cloud: CloudPort, types: InstanceTypes, groups: Sequence[GroupConfig],
               limits_cache: dict[str, InstanceTypeLimits] | None = None,
               priority: Priority = Priority.ROUTINE) -> dict[str, GroupFacts]:
    """One batched round: the groups' ENIs, their members, types and agents, each at once
    (every replica reads every group on each interval: a read per ENI would spend the
    account's per-second limit that the leader's failovers need).

    Raises `CloudError` when the cloud does not answer; a missing ENI is a fact (None).
    """
    limits = limits_cache if limits_cache is not None else {}
    found = cloud.describe_enis([g.network_interface for g in groups], priority=priority)
    enis = {g.name: found.get(g.network_interface) for g in groups}
    members = list(dict.fromkeys(m for g in groups for m in g.members))
    instances = cloud.describe_instances(members, priority=priority) if members else {}
    unknown = sorted({i.instance_type for i in instances.values()} - limits.keys())
    if unknown:
        limits.update(types.describe_instance_types(unknown, priority=priority))
    ask = list(dict.fromkeys(
        m for g in groups if g.guest.method == "cloud_assistant"
        for m in g.members if m != _holder(enis[g.name]) and m in instances
    ))
    assistant = cloud.cloud_assistant_online(ask, priority=priority) if ask else {}
    return {
        g.name: GroupFacts(
            enis[g.name],
            {m: instances[m] for m in g.members if m in instances},
            {t: lim for t, lim in limits.items()
             if any(instances[m].instance_type == t for m in g.members if m in instances)},
            {m: assistant[m] for m in g.members if m in assistant},
        )
        for g in groups
    }


def _holder(eni: EniState | None) -> str | None:
    return eni.instance_id if eni is not None else None


# ------------------------------------------------------------------- tracker


class ReadinessTracker:
    """Keeps every group's standby readiness fresh; the engine reads `ready_map()`."""

    def __init__(self, groups: Sequence[GroupConfig], cloud: CloudPort, types: InstanceTypes,
                 clock: Clock) -> None:
        self._groups = list(groups)
        self._cloud = cloud
        self._types = types
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, dict[str, StandbyReadiness]] = {}
        self._ready: dict[str, dict[str, bool]] = {}
        # group -> monotonic start of the read it answers from; replaced, never changed in place,
        # so the engine's tick finds the same object while nothing was read (memo.Sources.same)
        self._read_at: Mapping[str, float] = {}
        self._due: dict[str, float] = {}
        self._limits: dict[str, InstanceTypeLimits] = {}  # a type's limits never change
        self._failing = False
        self._exported: dict[str, set[str]] = {}
        self._wake = threading.Event()
        self._rechecked: dict[str, float] = {}

    def ready_map(self) -> dict[str, dict[str, bool]]:
        """group -> standby -> ready (what `Engine(readiness=...)` calls every tick)."""
        with self._lock:
            return self._ready

    def read_at(self) -> Mapping[str, float]:
        """group -> when (monotonic) the read behind its current answer began; absent: never read."""
        with self._lock:
            return self._read_at

    def answers(self) -> dict[str, dict[str, StandbyReadiness]]:
        """group -> standby -> the last known answer, with its reason (`status` shows it)."""
        with self._lock:
            return {g: dict(m) for g, m in self._latest.items()}

    def recheck(self, group: str) -> None:
        """A failover is held back because no standby is ready: read the group again now.

        The last answer may be minutes old (a standby that rebooted and came back is
        "not ready" until the slow interval comes round); one re-read per `RECHECK_S` keeps a
        truly unready standby from costing more than a few reads.
        """
        now = self._clock.monotonic()
        with self._lock:
            if now - self._rechecked.get(group, -RECHECK_S) < RECHECK_S:
                return
            self._rechecked[group] = now
            self._due[group] = now
        self._wake.set()

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.refresh()
            except Exception:
                log.exception("readiness refresh crashed; retrying")
            until = self._clock.monotonic() + self._wait_s()
            while not stop.is_set() and not self._wake.is_set() and self._clock.monotonic() < until:
                self._wake.wait(min(0.5, max(0.0, until - self._clock.monotonic())))
            self._wake.clear()

    def refresh(self, force: bool = False) -> bool:
        """Reads the groups that are due (all with `force`); False if nothing was updated.

        A hundred groups at a time (one DescribeNetworkInterfaces page, two of
        DescribeInstances): each part's answer is kept as it comes, and a part the cloud does
        not answer is retried on its own, so a thousand groups never start over from the first.
        """
        now = self._clock.monotonic()
        due = [g for g in self._groups if force or self._due.get(g.name, 0.0) <= now]
        updated = False
        for i in range(0, len(due), READ_GROUPS):
            updated = self._refresh_part(due[i:i + READ_GROUPS]) or updated
        return updated

    def _refresh_part(self, due: list[GroupConfig]) -> bool:
        now = self._clock.monotonic()
        try:
            facts = read_facts(self._cloud, self._types, due, self._limits)
        except CloudError as e:
            if not self._failing:
                log.warning("could not read standby readiness; keeping the last known",
                            extra={"error": str(e), "groups": len(due)})
            self._failing = True
            for group in due:
                self._due[group.name] = now + min(RETRY_S, group.policy.readiness_interval_s)
            return False
        if self._failing:
            log.info("standby readiness readable again")
        self._failing = False
        results = {group.name: evaluate(group, facts[group.name]) for group in due}
        self._log_changes(results)
        with self._lock:
            self._latest = {**self._latest, **results}
            self._ready = {group: {m: r.ready for m, r in ms.items()} for group, ms in self._latest.items()}
            self._read_at = {**self._read_at, **{group.name: now for group in due}}
        for group in due:
            self._due[group.name] = now + group.policy.readiness_interval_s
        self._export(results)
        return True

    def _wait_s(self) -> float:
        with self._lock:
            due = min(self._due.values(), default=None)
        if due is None:
            return 1.0
        return max(0.0 if self._wake.is_set() else 1.0, due - self._clock.monotonic())

    def _log_changes(self, results: Mapping[str, Mapping[str, StandbyReadiness]]) -> None:
        with self._lock:
            before = self._latest
        for group, members in results.items():
            for member, answer in members.items():
                old = before.get(group, {}).get(member)
                if old is not None and old.ready == answer.ready:
                    continue
                if answer.ready:
                    log.info("standby ready", extra={"group": group, "instance": member})
                else:
                    log.warning("standby not ready", extra={"group": group, "instance": member,
                                                            "reason": answer.reason})

    def _export(self, results: Mapping[str, Mapping[str, StandbyReadiness]]) -> None:
        for group, members in results.items():
            # The holder is no standby: its old series would hide a group with none ready.
            metrics.set_standby_ready(group, {m: r.ready for m, r in members.items()},
                                      self._exported.get(group, set()) - members.keys())
            self._exported[group] = set(members)
