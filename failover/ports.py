"""The interfaces the engine and health are handed (adapters implement them).

Small, role-sized Protocols instead of one coordination object, so a unit test
fakes only the port it exercises. Every type crossing a port is from
`failover.model`: no SDK or kazoo type ever leaks through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from failover.model import (
    CallTrace,
    CommandResult,
    EipInfo,
    EniState,
    GuestNetwork,
    InstanceInfo,
    InstanceTypeLimits,
    Priority,
    ScriptLanguage,
    StagedGuest,
    VerifyOutcome,
    VSwitchInfo,
)
from failover.records import (
    DrillRequest,
    FailoverRecord,
    FencingToken,
    GroupState,
    Observation,
    RequestStatus,
)


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (for records people read)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring durations and deadlines."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Until `stop` is set or `seconds` pass; True when stopped (a loop's pause)."""
        ...


class SystemClock:
    """The real clock: the one `Clock` the product runs on (tests hand in a fake)."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)


class InstanceStatusReader(Protocol):
    """The part of `CloudPort` the health monitor and the verifier read (`CloudPort` includes it)."""

    def instance_statuses(
        self, instance_ids: Sequence[str], *, priority: Priority = ...
    ) -> dict[str, str]:
        """One batched DescribeInstanceStatus round: id -> Running/Stopped/..."""
        ...


class InstanceReader(Protocol):
    """The part of `CloudPort` the member addresses are read with (`CloudPort` includes it)."""

    def describe_instances(
        self, instance_ids: Sequence[str], *, priority: Priority = ...,
        trace: CallTrace | None = ...,
    ) -> dict[str, InstanceInfo]: ...


class ScriptRunner(Protocol):
    """The part of `CloudPort` the Cloud Assistant guest executor uses (`CloudPort` includes it)."""

    def run_script(
        self, instance_id: str, script: str, *, timeout_s: float,
        trace: CallTrace | None = ..., language: ScriptLanguage = ...,
        priority: Priority = ...,
    ) -> CommandResult:
        """Run the script on the instance (POSIX sh, or PowerShell on Windows) and wait.
        ROUTINE `priority` yields the API budget to failovers (releases of former holders)."""
        ...


class CloudPort(InstanceReader, InstanceStatusReader, ScriptRunner, Protocol):
    """ECS/VPC as the engine needs it (the narrow ports above are parts of it, each stated once).
    Waits are bounded by `timeout_s`.

    Raises `CloudError` (classified), `DetachStalled`, `CloudTimeout`.
    """

    def describe_eni(
        self, eni_id: str, *, priority: Priority = ..., trace: CallTrace | None = ...
    ) -> EniState: ...

    def describe_enis(
        self, eni_ids: Sequence[str], *, priority: Priority = ...
    ) -> dict[str, EniState]:
        """Batched: the ENIs that exist (a missing one is absent from the answer)."""
        ...

    def describe_vswitch(self, vswitch_id: str, *, priority: Priority = ...) -> VSwitchInfo: ...

    def detach_eni(
        self, eni_id: str, instance_id: str, *, timeout_s: float,
        trace: CallTrace | None = ..., reissue_after_s: float | None = ...,
    ) -> EniState:
        """Idempotent: already Available = done; already Detaching = wait.

        A detach still Detaching after `reissue_after_s` is sent once more (the
        documented first remedy for a hung guest); at `timeout_s` it is DetachStalled.
        """
        ...

    def attach_eni(
        self, eni_id: str, instance_id: str, *, timeout_s: float,
        trace: CallTrace | None = ..., known: EniState | None = ...,
    ) -> EniState:
        """Idempotent: already InUse on `instance_id` = done.

        `known` is the ENI as the caller read it a moment ago (the detach's last look): it
        stands in for the first read, which would wait for a describe round and a token.
        """
        ...

    def force_stop(
        self, instance_id: str, *, timeout_s: float, trace: CallTrace | None = ...
    ) -> None: ...

    def ensure_running(
        self, instance_id: str, *, timeout_s: float, trace: CallTrace | None = ...
    ) -> bool:
        """Start the instance if it is Stopped (a cold standby) and wait until it runs with
        Cloud Assistant online; True when it had to. A Running one costs one status read."""
        ...

    def cloud_assistant_online(
        self, instance_ids: Sequence[str], *, priority: Priority = ...
    ) -> dict[str, bool]: ...

    def eips_of_eni(
        self, eni_id: str, *, priority: Priority = ..., trace: CallTrace | None = ...
    ) -> list[EipInfo]: ...


class InstanceTypes(Protocol):
    """What an instance type allows; readiness asks it (it is not on `CloudPort`)."""

    def describe_instance_types(
        self, instance_types: Sequence[str], *, priority: Priority = ...
    ) -> dict[str, InstanceTypeLimits]: ...


class Provisioning(Protocol):
    """The calls `failover provision` needs to make the ENI match the config (never a move)."""

    def describe_eips(
        self, *, allocation_ids: Sequence[str] = ..., ips: Sequence[str] = ...,
        priority: Priority = ..., trace: CallTrace | None = ...,
    ) -> list[EipInfo]: ...

    def assign_private_ips(
        self, eni_id: str, ips: Sequence[str], client_token: str, *, timeout_s: float = ...,
        trace: CallTrace | None = ...,
    ) -> tuple[str, ...]:
        """Adds secondary IPs; a retry with the same `client_token` assigns nothing twice."""
        ...

    def associate_eip(
        self, allocation_id: str, eni_id: str, *, private_ip: str | None = ..., mode: str = ...,
        client_token: str, timeout_s: float = ..., trace: CallTrace | None = ...,
    ) -> EipInfo:
        """Associates and waits for InUse; already associated with `eni_id` = done."""
        ...

    def tag_instance(
        self, instance_id: str, key: str, value: str, *, timeout_s: float = ...,
        trace: CallTrace | None = ...,
    ) -> None:
        """Sets one tag on an instance (overwrites)."""
        ...


class GuestStager(Protocol):
    """Renders the pre-staged guest configuration of one ENI (`failover.guest.prestage`)."""

    def stage(self, family: str, network: GuestNetwork, *, persist: bool,
              notify: tuple[str, ...] = ()) -> StagedGuest: ...


class ResourceTags(Protocol):
    """Tags of the resources a RAM policy's `acs:ResourceTag/...` conditions read."""

    def resource_tags(self, kind: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """`kind`: eni | instance | eip; ids the cloud does not know are absent."""
        ...


class ApiShare(Protocol):
    """What the account's per-action API limit is divided by (the cloud's budget)."""

    def set_replicas(self, n: int) -> None:
        """`n` live replicas share the account's limit from now on."""
        ...


class Leadership(Protocol):
    def is_leader(self) -> bool: ...

    def fence(self) -> FencingToken:
        """The token for the next mutation; raises `NotLeader` when we may not act."""
        ...

    def leader_id(self) -> str | None: ...

    def controllers(self) -> list[str]:
        """Ids of the live replicas (leader included)."""
        ...


class JournalReader(Protocol):
    """The reads the status document needs (a status may answer them from one batched read)."""

    def history(self, group: str | None = None, limit: int = 100) -> list[FailoverRecord]: ...

    def unfinished(self) -> list[FailoverRecord]: ...

    def group_state(self, group: str) -> GroupState: ...


class Journal(Protocol):
    """Write-ahead failover records and per-group state, all epoch-checked."""

    def begin(self, record: FailoverRecord, token: FencingToken) -> None: ...

    def update(self, record: FailoverRecord, token: FencingToken) -> None: ...

    def get(self, failover_id: str) -> FailoverRecord | None: ...

    def history(self, group: str | None = None, limit: int = 100) -> list[FailoverRecord]:
        """Newest first."""
        ...

    def unfinished(self) -> list[FailoverRecord]: ...

    def group_state(self, group: str) -> GroupState: ...

    def set_group_state(self, state: GroupState, token: FencingToken) -> None: ...

    def ack(self, group: str) -> bool:
        """Operator clears a flapping block; True if a block was cleared."""
        ...


class Observations(Protocol):
    def publish(self, observation: Observation) -> None:
        """Write this replica's verdict; a no-op when it did not change."""
        ...

    def snapshot(self) -> Mapping[str, Mapping[str, Mapping[str, Observation]]]:
        """group -> instance -> controller id -> latest observation (live replicas only)."""
        ...


class Requests(Protocol):
    def submit(self, request: DrillRequest) -> None: ...

    def pending(self) -> list[DrillRequest]:
        """Unexpired, unclaimed requests, oldest first."""
        ...

    def claim(self, request_id: str, token: FencingToken) -> bool:
        """Exactly once across leaders: True only for the first claimer."""
        ...

    def set_result(self, request_id: str, failover_id: str | None, message: str) -> None: ...

    def unanswered(self) -> list[DrillRequest]:
        """Claimed requests with no result, oldest first."""
        ...

    def settle(self, request_id: str, failover_id: str | None, message: str) -> bool:
        """Writes a result only where none is; True if this call wrote it."""
        ...


class RequestDesk(Protocol):
    """The operator's side of drill requests: `failover drill` submits one and waits."""

    def submit(self, request: DrillRequest) -> None: ...

    def wait_for_result(self, request_id: str, timeout: float) -> RequestStatus:
        """Blocks until the leader answers, the request is gone, or `timeout` passes."""
        ...


class GuestConfigurator(Protocol):
    """Brings the ENI up inside a standby's OS, and down in a returning holder."""

    def configure(
        self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
        trace: CallTrace | None = ...,
    ) -> CommandResult: ...

    def release(
        self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
        trace: CallTrace | None = ...,
    ) -> CommandResult: ...


class Verifier(Protocol):
    """Runs a group's checks against a new holder, `{ip}` bound to each service IP."""

    def verify(
        self, group: str, instance_id: str, ips: Sequence[str], *, timeout_s: float
    ) -> VerifyOutcome: ...


VerdictSink = Callable[[Observation], None]
