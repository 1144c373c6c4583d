"""Detach and attach as data (`transitions`): each decides from the ENI just read.

Attach and detach carry no ClientToken, so they are made idempotent here: a move cut short (a
crash, a new leader, a timeout) is resumed by running it again ("already attached to the
target" is done, "already detaching" is a wait). Never act on a status we cannot read. Their
timeout is the cloud's time to act: it restarts when our first call is accepted, after what may
be a long wait for an API token (a zone outage), as do the dense polls meant for the step's end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

from failover.cloud import errors
from failover.cloud.sdk import ApiError
from failover.cloud.transitions import (
    FAILOVER,
    Clocked,
    Decision,
    Done,
    Fail,
    Issue,
    Read,
    Sent,
    Status,
    Target,
    timeout,
)
from failover.model import CloudError, DetachStalled, EniState, EniStatus, ErrorKind, Priority

DETACH_REFUSED = "DetachRefused"
ATTACH_RETRIES = 1  # attaches re-sent within one wait after the cloud failed (or lost) one


@dataclass(frozen=True)
class EniMove(Clocked):
    """What a detach and an attach share: the ENI, the instance, our last accepted call."""

    eni_id: str = ""
    instance_id: str = ""
    sent_at: float | None = None  # s into the wait: our last accepted call (reads may lag it)
    last: EniState | None = None
    priority: Priority = FAILOVER
    action: str = ""
    polled: ClassVar[Target] = Target.ENI
    asks: ClassVar[bool] = True

    def params(self) -> dict[str, Any]:
        return {"NetworkInterfaceId": self.eni_id, "InstanceId": self.instance_id}

    def accepted_now(self, now: float) -> Self:
        """The first accepted call restarts the timeout (`Clocked.restarted`)."""
        s = self if self.sent_at is not None else self.restarted(now)
        return replace(s, sent_at=now - s.t0)

    def unusable(self, read: EniState) -> Fail | None:
        """Being deleted, or held by another instance: nothing this move may do."""
        status, holder = read.status, read.instance_id
        if status is EniStatus.DELETING:
            return Fail(ApiError(f"ENI {read.eni_id} is being deleted", kind=ErrorKind.FATAL,
                                 code=errors.NOT_FOUND, action=self.action))
        if status not in (EniStatus.IN_USE, EniStatus.ATTACHING) or holder in (None, self.instance_id):
            return None
        fatal = isinstance(self, Attach)
        return Fail(ApiError(
            f"ENI {self.eni_id} is {'attached' if fatal or status is EniStatus.IN_USE else 'attaching'} "
            f"to {holder}, not {self.instance_id}; "
            + ("detach it first" if fatal else "refusing to detach it from another holder"),
            kind=ErrorKind.FATAL if fatal else ErrorKind.CONFLICT, code=errors.WRONG_HOLDER,
            action=self.action))


@dataclass(frozen=True)
class Detach(EniMove):
    """Detach and wait for Available. A detach stuck in Detaching is re-sent once after
    `reissue_at` s (the documented first remedy for a hung guest), counted from when the detach
    in flight was accepted: a call that queued for its token is not re-sent at once. Still
    Detaching at the end is DetachStalled; a detach refused because the holder runs and its
    type releases an ENI only while Stopped is DetachStalled at once (code DetachRefused)."""

    reissue_at: float = 0.0
    reissued: bool = False
    accepted_at: float | None = None  # s into the wait: the detach in flight
    action: str = "DetachNetworkInterface"

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        if isinstance(read, Status):
            assert self.last_error is not None
            if read.value == "Running":
                return self, Fail(DetachStalled(
                    f"ENI {self.eni_id} cannot be detached from {self.instance_id} while it runs: "
                    "its instance type releases an ENI only while Stopped (the cloud refused: "
                    f"{self.last_error.code}); fence it (force stop) and detach again",
                    kind=ErrorKind.CONFLICT, code=DETACH_REFUSED, action=self.action,
                    request_id=self.last_error.request_id))
            return self.refused(now).poll(now)
        assert isinstance(read, EniState)
        s = replace(self, last=read)
        status = read.status
        if status is EniStatus.AVAILABLE:
            return s, Done(read)
        if (fail := s.unusable(read)) is not None:
            return s, fail
        elapsed = now - s.t0
        if read.status is EniStatus.DETACHING and s.accepted_at is None:
            s = replace(s, accepted_at=elapsed)  # somebody else's detach: it counts from now
        stuck = (read.status is EniStatus.DETACHING and s.accepted_at is not None
                 and elapsed - s.accepted_at >= s.reissue_at)
        # Still InUse after our call: lag, until lag_s has passed; then the call was lost.
        # (Attaching to it: let the attach land, then detach it.)
        lost = status is EniStatus.IN_USE and (s.sent_at is None or elapsed - s.sent_at >= s.plans.lag_s)
        if (lost or (stuck and not s.reissued)) and s.ready(now):
            return replace(s, reissued=s.reissued or stuck), Issue(now)
        return s.poll(now)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            s = self.accepted_now(now)
            return replace(s, accepted_at=s.sent_at).poll(now)
        return self.refusal(outcome, now)

    def poll(self, now: float) -> tuple[Self, Decision]:
        # Wake up on time for the re-issue: a stuck detach is re-sent when the policy says.
        due = None if self.reissued or self.accepted_at is None else self.accepted_at + self.reissue_at
        return self.look(now, Target.ENI, due)

    def expired(self) -> CloudError:
        if self.last is not None and self.last.status is EniStatus.DETACHING:
            return DetachStalled(
                f"ENI {self.eni_id} still Detaching from {self.instance_id} after {self.timeout_s:g} s"
                f"{' (detach re-sent once)' if self.reissued else ''}: the instance is likely hung; "
                "fence it (force stop) and detach again",
                kind=ErrorKind.CONFLICT, code="DetachStalled", action=self.action)
        return timeout(self.action, f"ENI {self.eni_id} not Available", self.timeout_s, self.last,
                       self.last_error)


@dataclass(frozen=True)
class Attach(EniMove):
    """Attach and wait for InUse on `instance_id`; already there = done. Judged failed only on
    evidence describe lag cannot give; the documented remedy for a failed
    or lost attach, another attach, is tried here, but only `ATTACH_RETRIES` times. The cloud
    may leave InstanceId empty while Attaching: after our call that is taken as ours (a wrong
    holder shows when it turns InUse)."""

    seen_attaching: bool = False
    accepted: int = 0  # attach calls the cloud took
    action: str = "AttachNetworkInterface"

    @property
    def issued(self) -> bool:
        return self.sent_at is not None

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        if isinstance(read, Status):
            error = self.last_error
            assert error is not None
            if read.value == "Running":
                return self, Fail(ApiError(
                    f"cannot attach to {self.instance_id} while it runs: its instance type takes "
                    "an ENI only while Stopped; keep it Stopped as a cold standby "
                    f"(policy.stop_to_attach_types) [{error.code}, RequestId {error.request_id}]",
                    kind=ErrorKind.FATAL, code=error.code, action=error.action,
                    request_id=error.request_id, status=error.status))
            return self.refused(now).poll(now)
        assert isinstance(read, EniState)
        s = replace(self, last=read)
        status, holder = read.status, read.instance_id
        if s.issued and status is EniStatus.ATTACHING and holder in (s.instance_id, None):
            s = replace(s, seen_attaching=True)
        if status is EniStatus.IN_USE and holder == s.instance_id:
            return s, Done(read)
        if (fail := s.unusable(read)) is not None:
            return s, fail
        if status is not EniStatus.AVAILABLE:
            return s.poll(now)  # attaching, detaching, unknown: read again
        # Describes may lag an accepted call (the ENI still shows Available): Available after
        # our call is a failed attach only once it was seen Attaching since, evidence lag cannot
        # produce. With no sign of our call past the lag allowance it was lost. Either way the
        # documented remedy is another attach, here and now rather than a new failover.
        failed = s.issued and s.seen_attaching
        lag_over = s.sent_at is not None and now - s.t0 - s.sent_at >= s.plans.lag_s
        if s.issued and (failed or lag_over) and s.accepted > ATTACH_RETRIES:
            return s, Fail(ApiError(
                f"attach of ENI {s.eni_id} to {s.instance_id} failed {s.accepted} times: the ENI "
                "went back to Available", kind=ErrorKind.RETRYABLE, code=errors.ATTACH_FAILED,
                action=s.action))
        if (failed or not s.issued or lag_over) and s.ready(now):
            return s, Issue(now)
        return s.poll(now)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            return replace(self.accepted_now(now), seen_attaching=False,
                           accepted=self.accepted + 1).poll(now)
        return self.refusal(outcome, now)

    def expired(self) -> CloudError:
        return timeout(self.action, f"ENI {self.eni_id} not InUse on {self.instance_id}",
                       self.timeout_s, self.last, self.last_error)
