"""Domain types shared by every layer: plain, immutable data with no I/O.

Adapters translate their libraries' types into these; the engine, health and
the CLI speak only these.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field


class EniStatus(enum.StrEnum):
    AVAILABLE = "Available"
    ATTACHING = "Attaching"
    IN_USE = "InUse"
    DETACHING = "Detaching"
    DELETING = "Deleting"
    # A status this controller does not know (`Creating`, a missing field): an explicit state
    # of that ENI alone, so one odd ENI never fails the round that reads every other one.
    UNKNOWN = "Unknown"

    @classmethod
    def parse(cls, value: str) -> EniStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


# DescribeNetworkInterfaces answers at most this many ENI ids a call: a read of every group's
# ENI costs ceil(groups / ENIS_PER_CALL) calls (the cloud adapter's batches, the engine's pace).
ENIS_PER_CALL = 100


class Priority(enum.IntEnum):
    """Who spends the API budget: failover steps may dip into the reserve."""

    ROUTINE = 0
    FAILOVER = 1


class Trigger(enum.StrEnum):
    AUTO = "auto"
    DRILL = "drill"
    # The cloud shows the ENI on a member the journal did not: run the guest step and verify
    # there and make it the holder (a move made outside the controller, or a late attach).
    ADOPT = "adopt"


class Result(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"


class StepName(enum.StrEnum):
    FENCE = "fence"
    DETACH = "detach"
    ATTACH = "attach"
    GUEST = "guest"
    VERIFY = "verify"
    DONE = "done"


class StepStatus(enum.StrEnum):
    """How a failover step stands in the journal."""

    RUNNING = "running"  # written ahead, before the step acts
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to do: the cloud was already past it

    @property
    def finished_well(self) -> bool:
        """Done: a resumed failover never runs this step again."""
        return self in (StepStatus.OK, StepStatus.SKIPPED)


STEP_ORDER: tuple[StepName, ...] = (
    StepName.FENCE,
    StepName.DETACH,
    StepName.ATTACH,
    StepName.GUEST,
    StepName.VERIFY,
    StepName.DONE,
)


# --------------------------------------------------------------------- cloud


@dataclass(frozen=True)
class EniState:
    eni_id: str
    status: EniStatus
    instance_id: str | None
    mac: str
    primary_ip: str
    private_ips: tuple[str, ...]  # primary first, then secondaries
    vswitch_id: str
    vpc_id: str
    zone_id: str
    eni_type: str = "Secondary"


@dataclass(frozen=True)
class StagedGuest:
    """A pre-staged guest configuration for one ENI: its version and the script installing it."""

    version: str
    script: str


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    status: str  # Pending | Starting | Running | Stopping | Stopped
    primary_ip: str
    zone_id: str
    vpc_id: str
    vswitch_id: str
    instance_type: str
    eni_ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()  # (key, value), as DescribeInstances lists them

    def tag(self, key: str) -> str | None:
        return next((v for k, v in self.tags if k == key), None)


@dataclass(frozen=True)
class VSwitchInfo:
    vswitch_id: str
    vpc_id: str
    zone_id: str
    cidr: str


@dataclass(frozen=True)
class EipInfo:
    allocation_id: str
    ip: str
    status: str  # Associating | InUse | Unassociating | Available
    instance_id: str | None  # the ENI (or instance) it is associated with
    instance_type: str | None
    private_ip: str | None
    mode: str | None  # NAT | BINDED | MULTI_BINDED


@dataclass(frozen=True)
class InstanceTypeLimits:
    """What an instance type allows (DescribeInstanceTypes): ENIs incl. the primary; IPv4 per ENI."""

    instance_type: str
    max_enis: int
    ips_per_eni: int


class ScriptLanguage(enum.StrEnum):
    """What a guest script is written in (the cloud adapter picks the command type)."""

    SHELL = "shell"
    POWERSHELL = "powershell"


@dataclass(frozen=True)
class CommandResult:
    invoke_id: str
    status: str  # Success | Failed | Timeout | Error | Aborted | ...
    exit_code: int | None
    output: str

    @property
    def ok(self) -> bool:
        return self.status == "Success" and self.exit_code == 0


@dataclass(frozen=True)
class ApiCall:
    """One cloud API call, for the journal, history and metrics."""

    action: str
    code: str  # "OK" or the error code
    duration_s: float
    request_id: str | None


class CallTrace:
    """Collects the API calls one step makes (its RequestIds go to the journal).

    Not frozen on purpose: a step hands it to the adapter, which appends.
    `guard`, when given, runs right before each call that changes the cloud is sent (after
    any wait for an API token) and raises to stop it: the leader's fencing check, so a
    leader deposed in the middle of a step (a zone outage's token queue, a 15 s wait before
    re-sending a stuck detach) sends nothing more. It runs on the cloud adapter's sender, so it
    never reads the cloud itself (that read would wait on the scheduler it is running for).
    `not_holder_of`, an ENI: a script is sent only once the adapter's look at it, just before the
    call is booked, shows it InUse on another instance (a release: `transitions.Command`).
    """

    def __init__(self, guard: Callable[[], object] | None = None,
                 fence: Callable[[], object] | None = None, not_holder_of: str | None = None) -> None:
        self.calls: list[ApiCall] = []
        self.guard = guard
        self.not_holder_of = not_holder_of
        # The lease check alone (quick, no I/O): run again by the SDK's transport after the
        # request is signed, immediately before its bytes leave (cloud/sdk.py `last_check`).
        self.fence = fence
        self.detail: str | None = None  # what the step did, when it had a choice (journal)

    def check(self) -> None:
        if self.guard is not None:
            self.guard()

    def add(self, call: ApiCall) -> None:
        self.calls.append(call)

    @property
    def request_ids(self) -> tuple[str, ...]:
        return tuple(c.request_id for c in self.calls if c.request_id)


class ErrorKind(enum.StrEnum):
    RETRYABLE = "retryable"  # throttling, 5xx, timeouts: back off and retry
    CONFLICT = "conflict"  # a state conflict: re-read the state and decide
    FATAL = "fatal"  # not found, mismatch, limits, auth: stop and report


class CloudError(Exception):
    """A cloud failure in the product's terms; never carries a secret."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        code: str = "",
        action: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.action = action
        self.request_id = request_id

    @property
    def not_found(self) -> bool:
        """The cloud says the resource does not exist (a fact, not a failure to ask)."""
        return self.kind is ErrorKind.FATAL and (self.code == "NotFound" or self.code.endswith(".NotFound"))


class DetachStalled(CloudError):
    """The ENI stayed Detaching past the timeout: the holder is likely hung."""


class CloudTimeout(CloudError):
    """A wait for a cloud state ran past its deadline."""


class NotLeader(Exception):
    """This replica may not act: not the leader, or its session is not live."""


class StaleEpoch(NotLeader):
    """A write carried an epoch older than the current one: a new leader exists."""


class JournalCorrupt(Exception):
    """A journal znode could not be decoded; `failover journal inspect` shows it."""


@dataclass(frozen=True)
class GuestNetwork:
    """What a standby's OS needs to bring the ENI up."""

    mac: str
    ips: tuple[str, ...]  # primary private IP first
    cidr: str  # the vSwitch CIDR, e.g. 192.168.1.0/24
    gateway: str
    device: str | None = None  # None: find by MAC at runtime
    table: int = 1001  # policy routing table id


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    reason: str = ""  # "" when ok; "timeout", "refused", "status 500", ...
    duration_s: float = 0.0
    # The cloud itself says the instance is going or gone (Stopping, Stopped, released): no
    # streak of `fall` failures is needed to believe it.
    definitive: bool = False


@dataclass(frozen=True)
class VerifyOutcome:
    ok: bool
    detail: str = ""
    failures: tuple[str, ...] = field(default_factory=tuple)
