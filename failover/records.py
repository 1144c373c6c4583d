"""What the coordination layer keeps in ZooKeeper, as plain immutable data: the leader's
fencing token, replicas' verdicts, the journal's failover records, operators' drill
requests and each group's state between failovers. Each record says how it is written
(`to_dict`) and read back (`from_dict`); the codec and the status document use these.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from failover.model import STEP_ORDER, Result, StepName, StepStatus, Trigger


@dataclass(frozen=True)
class FencingToken:
    """Proof of leadership for one step: the epoch this leader holds."""

    controller_id: str
    epoch: int


SERVING_PREFIX = "serving@"
# A member's verdict reason when it said it is going down (health/notice.py): the failover's
# reason carries it to the journal.
GOING_DOWN = "going down (the member's signed stop notice)"
NOTICE_KEY_TAG = "failover:notice-key"  # an instance's stop-notice public key (provision writes it)
NOTICE_KEY_LINE = "failover-notice-key: "  # how the stage script prints it (guest/prestage.py)


def serving_key(holder: str) -> str:
    """The pseudo member under which replicas vote whether `holder` serves through the group's
    service IPs (one per holder, so a vote about a former holder never counts for the next)."""
    return f"{SERVING_PREFIX}{holder}"


@dataclass(frozen=True)
class Observation:
    controller_id: str
    group: str
    instance: str
    up: bool
    at: float
    reason: str = ""


@dataclass(frozen=True)
class StepRecord:
    name: StepName
    started_at: float
    duration_s: float | None = None
    request_ids: tuple[str, ...] = ()
    error: str | None = None
    status: StepStatus = StepStatus.RUNNING
    # How the step got there, when there is a choice: the guest step's "prestaged" or
    # "runcommand" (guest.prestage). Absent from the JSON when None (older readers ignore it).
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name.value,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "request_ids": list(self.request_ids),
            "error": self.error,
            "status": self.status.value,
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepRecord:
        return cls(
            name=StepName(d["name"]),
            started_at=float(d["started_at"]),
            duration_s=None if d.get("duration_s") is None else float(d["duration_s"]),
            request_ids=tuple(d.get("request_ids") or ()),
            error=d.get("error"),
            status=StepStatus(d.get("status", "running")),
            detail=None if d.get("detail") is None else str(d["detail"]),
        )


@dataclass(frozen=True)
class FailoverRecord:
    """One failover (or drill) as the journal keeps it. `from`/`to` in JSON."""

    id: str
    group: str
    from_instance: str | None
    to_instance: str
    trigger: Trigger
    reason: str
    started_at: float
    epoch: int
    result: Result = Result.RUNNING
    finished_at: float | None = None
    steps: tuple[StepRecord, ...] = ()
    request_id: str | None = None  # the drill request it serves
    error: str | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    @property
    def finished(self) -> bool:
        return self.result is not Result.RUNNING

    def step(self, name: StepName) -> StepRecord | None:
        for s in self.steps:
            if s.name is name:
                return s
        return None

    def with_step(self, step: StepRecord) -> FailoverRecord:
        others = tuple(s for s in self.steps if s.name is not step.name)
        ordered = sorted((*others, step), key=lambda s: STEP_ORDER.index(s.name))
        return replace(self, steps=tuple(ordered))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group": self.group,
            "from": self.from_instance,
            "to": self.to_instance,
            "trigger": self.trigger.value,
            "reason": self.reason,
            "result": self.result.value,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "epoch": self.epoch,
            "request_id": self.request_id,
            "error": self.error,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FailoverRecord:
        return cls(
            id=str(d["id"]),
            group=str(d["group"]),
            from_instance=d.get("from"),
            to_instance=str(d["to"]),
            trigger=Trigger(d["trigger"]),
            reason=str(d.get("reason", "")),
            started_at=float(d["started_at"]),
            epoch=int(d["epoch"]),
            result=Result(d.get("result", "running")),
            finished_at=None if d.get("finished_at") is None else float(d["finished_at"]),
            steps=tuple(StepRecord.from_dict(s) for s in d.get("steps") or ()),
            request_id=d.get("request_id"),
            error=d.get("error"),
        )


@dataclass(frozen=True)
class DrillRequest:
    """An operator's switchover request, written by the CLI, run once by the leader."""

    id: str
    group: str
    to_instance: str | None
    created_at: float
    expires_at: float
    requested_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group": self.group,
            "to": self.to_instance,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "requested_by": self.requested_by,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DrillRequest:
        return cls(
            id=str(d["id"]),
            group=str(d["group"]),
            to_instance=d.get("to"),
            created_at=float(d["created_at"]),
            expires_at=float(d["expires_at"]),
            requested_by=str(d.get("requested_by", "")),
        )


@dataclass(frozen=True)
class RequestStatus:
    """What the CLI sees of its request."""

    exists: bool
    claimed_by: str | None = None
    failover_id: str | None = None
    message: str | None = None

    @property
    def answered(self) -> bool:
        return self.message is not None


@dataclass(frozen=True)
class GroupState:
    """What the leader remembers of a group between failovers (anti-flapping)."""

    group: str
    holder: str | None = None
    cooldown_until: float = 0.0
    recent_failovers: tuple[float, ...] = ()  # start times, for the flap window
    blocked: bool = False
    blocked_reason: str = ""
    # Former holders whose OS still carries the ENI's addresses and rules: the
    # reverse guest script runs on each once it is back, then it is a standby.
    pending_release: tuple[str, ...] = ()
    # The holder whose guest step and verify last succeeded (None: none has since the ENI last
    # moved). The group is served only while the cloud shows the ENI InUse on this member.
    configured: str | None = None
    # When (wall clock) that guest step and verify last succeeded: serving votes taken before
    # it speak of the holder before it was configured (engine/view.py counts them apart).
    configured_at: float = 0.0
    # Failed attach, guest or verify attempts per target, remembered for a while: the engine
    # backs off before trying it again and tries the next standby after a few.
    target_failures: tuple[TargetFailure, ...] = ()
    # The last finished failover, without its steps: what /status shows, read with the state
    # instead of the journal (a status must not read every retained record).
    last_failover: FailoverRecord | None = None

    def failures_of(self, instance: str) -> TargetFailure | None:
        for f in self.target_failures:
            if f.instance == instance:
                return f
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "holder": self.holder,
            "configured": self.configured,
            "configured_at": self.configured_at,
            "target_failures": [f.to_dict() for f in self.target_failures],
            "cooldown_until": self.cooldown_until,
            "recent_failovers": list(self.recent_failovers),
            "blocked": self.blocked,
            "blocked_reason": self.blocked_reason,
            "pending_release": list(self.pending_release),
            "last_failover": None if self.last_failover is None else self.last_failover.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupState:
        return cls(
            group=str(d["group"]),
            holder=d.get("holder"),
            cooldown_until=float(d.get("cooldown_until", 0.0)),
            recent_failovers=tuple(float(x) for x in d.get("recent_failovers") or ()),
            blocked=bool(d.get("blocked", False)),
            blocked_reason=str(d.get("blocked_reason", "")),
            pending_release=tuple(str(x) for x in d.get("pending_release") or ()),
            # A state written before this field existed was left by a completed failover.
            configured=d["configured"] if "configured" in d else d.get("holder"),
            configured_at=float(d.get("configured_at") or 0.0),
            target_failures=tuple(TargetFailure.from_dict(f) for f in d.get("target_failures") or ()),
            last_failover=(FailoverRecord.from_dict(d["last_failover"]) if d.get("last_failover")
                           else None),
        )


@dataclass(frozen=True)
class TargetFailure:
    """Failed moves onto one member: how many in a row, the last one's time and error."""

    instance: str
    count: int
    last_at: float
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "count": self.count, "last_at": self.last_at,
                "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetFailure:
        return cls(str(d["instance"]), int(d["count"]), float(d["last_at"]), str(d.get("error", "")))
