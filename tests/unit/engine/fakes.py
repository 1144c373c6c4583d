"""In-memory fakes of our own ports (never of a library), for engine unit tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace

from failover.model import (
    CallTrace,
    CloudError,
    CommandResult,
    DetachStalled,
    EipInfo,
    EniState,
    EniStatus,
    ErrorKind,
    GuestNetwork,
    InstanceInfo,
    InstanceTypeLimits,
    NotLeader,
    Priority,
    ScriptLanguage,
    StaleEpoch,
    VerifyOutcome,
    VSwitchInfo,
)
from failover.ports import (
    Clock,
    CloudPort,
    GuestConfigurator,
    InstanceTypes,
    Journal,
    Leadership,
    Observations,
    Provisioning,
    Requests,
    Verifier,
)
from failover.records import DrillRequest, FailoverRecord, FencingToken, GroupState, Observation
from harness.clock import FakeClock


class FakeCloud:
    """One ENI per id; records every mutation so tests can count side effects."""

    def __init__(self, enis: dict[str, str | None], zone: str = "z1") -> None:
        self.enis = {
            e: EniState(e, EniStatus.IN_USE if holder else EniStatus.AVAILABLE, holder,
                        "00:16:3e:00:00:50", "192.168.1.50", ("192.168.1.50", "192.168.1.51"),
                        "vsw-a", "vpc-a", zone)
            for e, holder in enis.items()
        }
        self.mutations: list[tuple[str, str, str]] = []
        self.stalled: set[str] = set()  # instances whose detach hangs until stopped
        self.stopped: set[str] = set()
        self.fail_attach: dict[str, CloudError] = {}
        self.eips: list[EipInfo] = []
        self._req = itertools.count(1)
        self.instances: dict[str, InstanceInfo] = {}  # overrides of the default Running in z1
        self.assistant_offline: set[str] = set()
        self.read_error: CloudError | None = None  # every read raises it while set
        self.reads = 0
        self.attach_known: list[EniState | None] = []  # what each attach was told it knew

    def _trace(self, trace: CallTrace | None, action: str) -> None:
        if trace is not None:
            from failover.model import ApiCall
            trace.add(ApiCall(action, "OK", 0.0, f"req-{next(self._req)}"))

    def describe_eni(self, eni_id: str, *, priority: Priority = Priority.ROUTINE,
                     trace: CallTrace | None = None) -> EniState:
        self._trace(trace, "DescribeNetworkInterfaces")
        self._read()
        if eni_id not in self.enis:
            raise CloudError(f"ENI {eni_id} not found", kind=ErrorKind.FATAL, code="NotFound")
        return self.enis[eni_id]

    def describe_enis(self, eni_ids: Sequence[str], *,
                      priority: Priority = Priority.ROUTINE) -> dict[str, EniState]:
        self._read()
        return {e: self.enis[e] for e in eni_ids if e in self.enis}

    def _read(self) -> None:
        self.reads += 1
        if self.read_error is not None:
            raise self.read_error

    def describe_instances(self, instance_ids: Sequence[str], *, priority: Priority = Priority.ROUTINE,
                           trace: CallTrace | None = None) -> dict[str, InstanceInfo]:
        self._read()
        return {i: self.instances.get(i) or InstanceInfo(i, "Running", "192.168.1.10", "z1", "vpc-a", "vsw-a",
                                                         "ecs.g7")
                for i in instance_ids}

    def instance_statuses(self, instance_ids: Sequence[str], *,
                          priority: Priority = Priority.ROUTINE) -> dict[str, str]:
        return {i: "Stopped" if i in self.stopped else "Running" for i in instance_ids}

    def describe_vswitch(self, vswitch_id: str, *, priority: Priority = Priority.ROUTINE) -> VSwitchInfo:
        return VSwitchInfo(vswitch_id, "vpc-a", "z1", "192.168.1.0/24")

    def detach_eni(self, eni_id: str, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None, reissue_after_s: float | None = None) -> EniState:
        eni = self.enis[eni_id]
        if eni.status is EniStatus.AVAILABLE:
            return eni
        self._trace(trace, "DetachNetworkInterface")
        if instance_id in self.stalled and instance_id not in self.stopped:
            self.enis[eni_id] = replace(eni, status=EniStatus.DETACHING)
            raise DetachStalled("detach stalled", kind=ErrorKind.CONFLICT, code="Stalled")
        self.mutations.append(("detach", eni_id, instance_id))
        self.enis[eni_id] = replace(eni, status=EniStatus.AVAILABLE, instance_id=None)
        return self.enis[eni_id]

    def attach_eni(self, eni_id: str, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None, known: EniState | None = None) -> EniState:
        self.attach_known.append(known)
        eni = self.enis[eni_id]
        if eni.instance_id == instance_id and eni.status is EniStatus.IN_USE:
            return eni
        if eni.status is not EniStatus.AVAILABLE:
            raise CloudError(f"ENI is {eni.status} on {eni.instance_id}", kind=ErrorKind.FATAL)
        if instance_id in self.fail_attach:
            raise self.fail_attach[instance_id]
        self._trace(trace, "AttachNetworkInterface")
        self.mutations.append(("attach", eni_id, instance_id))
        self.enis[eni_id] = replace(eni, status=EniStatus.IN_USE, instance_id=instance_id)
        return self.enis[eni_id]

    def force_stop(self, instance_id: str, *, timeout_s: float, trace: CallTrace | None = None) -> None:
        self._trace(trace, "StopInstance")
        self.mutations.append(("stop", instance_id, ""))
        self.stopped.add(instance_id)

    def ensure_running(self, instance_id: str, *, timeout_s: float,
                       trace: CallTrace | None = None) -> bool:
        if instance_id not in self.stopped:
            return False
        self._trace(trace, "StartInstance")
        self.mutations.append(("start", instance_id, ""))
        self.stopped.discard(instance_id)
        return True

    def run_script(self, instance_id: str, script: str, *, timeout_s: float,
                   trace: CallTrace | None = None,
                   language: ScriptLanguage = ScriptLanguage.SHELL,
                   priority: Priority = Priority.FAILOVER) -> CommandResult:
        return CommandResult("t-1", "Success", 0, "")

    def cloud_assistant_online(self, instance_ids: Sequence[str], *,
                               priority: Priority = Priority.ROUTINE) -> dict[str, bool]:
        self._read()
        return {i: i not in self.assistant_offline for i in instance_ids}

    def eips_of_eni(self, eni_id: str, *, priority: Priority = Priority.ROUTINE,
                    trace: CallTrace | None = None) -> list[EipInfo]:
        return list(self.eips)


class FakeLeadership:
    def __init__(self, controller_id: str = "ctl-a", epoch: int = 1, controllers: int = 3) -> None:
        self.controller_id = controller_id
        self.epoch = epoch
        self.leader = True
        self.n = controllers
        self.fences = 0
        self.lose_after: int | None = None  # become a follower after this many fences

    def is_leader(self) -> bool:
        return self.leader

    def fence(self) -> FencingToken:
        if self.lose_after is not None and self.fences >= self.lose_after:
            self.leader = False
        if not self.leader:
            raise NotLeader("not the leader")
        self.fences += 1
        return FencingToken(self.controller_id, self.epoch)

    def leader_id(self) -> str | None:
        return self.controller_id if self.leader else None

    def controllers(self) -> list[str]:
        return [f"ctl-{i}" for i in range(self.n)]


class FakeJournal:
    def __init__(self) -> None:
        self.records: dict[str, FailoverRecord] = {}
        self.states: dict[str, GroupState] = {}
        self.epoch = 1
        self.writes: list[tuple[str, str]] = []

    def _check(self, token: FencingToken) -> None:
        if token.epoch < self.epoch:
            raise StaleEpoch(f"epoch {token.epoch} < {self.epoch}")

    def begin(self, record: FailoverRecord, token: FencingToken) -> None:
        self._check(token)
        self.records[record.id] = record
        self.writes.append(("begin", record.id))

    def update(self, record: FailoverRecord, token: FencingToken) -> None:
        self._check(token)
        self.records[record.id] = record
        self.writes.append(("update", record.id))

    def get(self, failover_id: str) -> FailoverRecord | None:
        return self.records.get(failover_id)

    def history(self, group: str | None = None, limit: int = 100) -> list[FailoverRecord]:
        rs = [r for r in self.records.values() if group is None or r.group == group]
        return sorted(rs, key=lambda r: r.started_at, reverse=True)[:limit]

    def unfinished(self) -> list[FailoverRecord]:
        return [r for r in self.records.values() if not r.finished]

    def group_state(self, group: str) -> GroupState:
        return self.states.get(group, GroupState(group))

    def set_group_state(self, state: GroupState, token: FencingToken) -> None:
        self._check(token)
        self.states[state.group] = state

    def ack(self, group: str) -> bool:
        s = self.group_state(group)
        self.states[group] = replace(s, blocked=False, blocked_reason="", recent_failovers=())
        return s.blocked


class FakeGuest:
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.configured: list[tuple[str, GuestNetwork]] = []
        self.released: list[str] = []

    def configure(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                  trace: CallTrace | None = None) -> CommandResult:
        self.configured.append((instance_id, network))
        return CommandResult("t-1", "Success" if self.ok else "Failed", 0 if self.ok else 1, "")

    def release(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                trace: CallTrace | None = None) -> CommandResult:
        self.released.append(instance_id)
        return CommandResult("t-2", "Success", 0, "")


class FakeVerifier:
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []

    def verify(self, group: str, instance_id: str, ips: Sequence[str], *, timeout_s: float) -> VerifyOutcome:
        self.calls.append((group, instance_id, tuple(ips)))
        return VerifyOutcome(self.ok, "" if self.ok else "tcp 80 refused")


class FakeObservations:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, dict[str, Observation]]] = {}

    def vote(self, group: str, instance: str, up: bool, controllers: Sequence[str]) -> None:
        for c in controllers:
            self.publish(Observation(c, group, instance, up, 0.0))

    def publish(self, observation: Observation) -> None:
        # A new snapshot object on every change, never one changed in place: what the product's
        # ZkObservations does, and what the engine's memo of unchanged inputs relies on.
        o = observation
        group = self.data.get(o.group, {})
        votes = {**group.get(o.instance, {}), o.controller_id: o}
        self.data = {**self.data, o.group: {**group, o.instance: votes}}

    def snapshot(self) -> Mapping[str, Mapping[str, Mapping[str, Observation]]]:
        return self.data


class FakeRequests:
    def __init__(self) -> None:
        self.items: dict[str, DrillRequest] = {}
        self.claimed: set[str] = set()
        self.results: dict[str, tuple[str | None, str]] = {}

    def submit(self, request: DrillRequest) -> None:
        self.items[request.id] = request

    def pending(self) -> list[DrillRequest]:
        return [r for r in self.items.values() if r.id not in self.claimed]

    def claim(self, request_id: str, token: FencingToken) -> bool:
        if request_id in self.claimed:
            return False
        self.claimed.add(request_id)
        return True

    def set_result(self, request_id: str, failover_id: str | None, message: str) -> None:
        self.results[request_id] = (failover_id, message)

    def unanswered(self) -> list[DrillRequest]:
        return [r for r in self.items.values() if r.id in self.claimed and r.id not in self.results]

    def settle(self, request_id: str, failover_id: str | None, message: str) -> bool:
        if request_id in self.results:
            return False
        self.results[request_id] = (failover_id, message)
        return True


class FakeInstanceTypes:
    """DescribeInstanceTypes: every type allows 3 ENIs and 10 IPs unless told otherwise."""

    def __init__(self, limits: dict[str, tuple[int, int]] | None = None) -> None:
        self.limits = limits or {}
        self.asked: list[tuple[str, ...]] = []

    def describe_instance_types(self, instance_types: Sequence[str], *,
                                priority: Priority = Priority.ROUTINE) -> dict[str, InstanceTypeLimits]:
        self.asked.append(tuple(instance_types))
        return {t: InstanceTypeLimits(t, *self.limits.get(t, (3, 10))) for t in instance_types}


class FakeProvisioning:
    """The provisioning writes, recorded; `fail` makes the named action raise."""

    def __init__(self, eips: Sequence[EipInfo] = ()) -> None:
        self.eips = list(eips)
        self.calls: list[tuple[str, ...]] = []
        self.fail: dict[str, CloudError] = {}

    def describe_eips(self, *, allocation_ids: Sequence[str] = (), ips: Sequence[str] = (),
                      priority: Priority = Priority.ROUTINE,
                      trace: CallTrace | None = None) -> list[EipInfo]:
        return [e for e in self.eips if e.ip in ips or e.allocation_id in allocation_ids]

    def assign_private_ips(self, eni_id: str, ips: Sequence[str], client_token: str, *,
                           timeout_s: float = 30.0, trace: CallTrace | None = None) -> tuple[str, ...]:
        self.calls.append(("assign", eni_id, client_token, *ips))
        if "assign" in self.fail:
            raise self.fail["assign"]
        return tuple(ips)

    def associate_eip(self, allocation_id: str, eni_id: str, *, private_ip: str | None = None,
                      mode: str = "NAT", client_token: str, timeout_s: float = 30.0,
                      trace: CallTrace | None = None) -> EipInfo:
        self.calls.append(("associate", allocation_id, eni_id, private_ip or "", mode, client_token))
        if "associate" in self.fail:
            raise self.fail["associate"]
        return EipInfo(allocation_id, "", "InUse", eni_id, "NetworkInterface", private_ip, mode)

    def tag_instance(self, instance_id: str, key: str, value: str, *, timeout_s: float = 30.0,
                     trace: CallTrace | None = None) -> None:
        self.calls.append(("tag", instance_id, key, value))
        if "tag" in self.fail:
            raise self.fail["tag"]


def _as_ports(clock: FakeClock, cloud: FakeCloud, leadership: FakeLeadership, journal: FakeJournal,
              guest: FakeGuest, verifier: FakeVerifier, observations: FakeObservations,
              requests: FakeRequests, types: FakeInstanceTypes, provisioning: FakeProvisioning,
              ) -> tuple[Clock, CloudPort, Leadership, Journal, GuestConfigurator, Verifier, Observations,
                         Requests, InstanceTypes, Provisioning]:
    """Never called: mypy (pyproject's `files`) holds each fake to the port it stands for."""
    return (clock, cloud, leadership, journal, guest, verifier, observations, requests, types,
            provisioning)
