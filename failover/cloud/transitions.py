"""Each cloud move as data: a frozen state and pure transitions to what it does next.

A move (detach, attach, stop, start, run a script, or a plain ENI read) answers three events:
`seen(read, now)` after a look, `sent(outcome, now)` after its own call, and `expired()` at
its deadline. Each transition returns the new state and a decision: `Issue` the move's call,
`Look` at a time, `Done`, or `Fail`. No I/O, no clock, no sleeps here: the scheduler
(`scheduler`) looks, sends and keeps time, and the tests walk the transitions as tables.

Attach and detach carry no ClientToken, so they are made idempotent by deciding from the state
just read (`moves`): a move cut short (a crash, a new leader, a timeout) is resumed by running
it again. Their timeout is the cloud's time to act: it restarts when our first call is
accepted, after what may be a long wait for an API token (a zone outage), as do the dense polls
meant for the step's likely end.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Self

from failover.cloud import convert, errors
from failover.cloud.moves import Next, NextMove, attach_next, detach_next, stop_next
from failover.cloud.sdk import ApiError
from failover.cloud.waiting import PollPlan, PollPlans, poll_next
from failover.model import (
    CloudError,
    CloudTimeout,
    CommandResult,
    DetachStalled,
    EniState,
    EniStatus,
    ErrorKind,
    Priority,
)

FAILOVER = Priority.FAILOVER
INSTANCE_STATE_CODE = "InvalidOperation.InvalidEcsState"
DETACH_REFUSED = "DetachRefused"
ATTACH_RETRIES = 1  # attaches re-sent within one wait after the cloud failed (or lost) one
# A look whose answer would come after the deadline is not worth a call.
_MIN_LEFT_S = 0.05


class Target(enum.Enum):
    """What a look reads: the scheduler batches looks of one target into shared calls."""

    ENI = "eni"  # DescribeNetworkInterfaces, up to 100 ids a call
    STATUS = "status"  # DescribeInstanceStatus, up to 50
    AGENT = "agent"  # DescribeCloudAssistantStatus, up to 50
    INVOCATION = "invocation"  # DescribeInvocationResults / DescribeInvocations, one each


@dataclass(frozen=True)
class Look:
    at: float  # monotonic
    target: Target


@dataclass(frozen=True)
class Issue:
    at: float  # monotonic: not before (a retry's back-off)


@dataclass(frozen=True)
class Done:
    value: Any


@dataclass(frozen=True)
class Fail:
    error: Exception  # a CloudError, or what the fencing guard raised (NotLeader)


Decision = Look | Issue | Done | Fail


@dataclass(frozen=True)
class Sent:
    """What became of the move's call: accepted (`error` None, the answer's `body`) or not;
    `retry_in`: the back-off a retryable error asks for (jittered by the sender)."""

    error: ApiError | None = None
    retry_in: float = 0.0
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    """A look at an instance: its status, None when the cloud does not know it."""

    value: str | None


@dataclass(frozen=True)
class Agent:
    online: bool


@dataclass(frozen=True)
class Invocation:
    result: CommandResult | None
    sent_at: float  # when the look went out (after its budget slot)


Read = EniState | Status | Agent | Invocation


class Move(Protocol):
    """A move's state and its transitions (each dataclass below is one)."""

    @property
    def action(self) -> str: ...

    @property
    def priority(self) -> Priority: ...

    @property
    def deadline(self) -> float: ...

    def params(self) -> dict[str, Any]: ...

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]: ...

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]: ...

    def expired(self) -> CloudError: ...


@dataclass(frozen=True)
class Clocked:
    """What every wait keeps: when it began (t0), its timeout, its polls and its back-off from
    calls refused for the resource's state (the n-th refusal in a row holds the next call back
    min(n x step, cap) seconds, so a refusal that lasts costs one call per step)."""

    timeout_s: float
    t0: float
    plan: PollPlan
    plans: PollPlans
    polls: int = 0
    grow: float = -1.0  # -1: the plan's first interval
    refusals: int = 0
    hold_until: float = -math.inf  # seconds into the wait
    last_error: ApiError | None = None

    @property
    def deadline(self) -> float:
        return self.t0 + self.timeout_s

    def look(self, now: float, target: Target, until: float | None = None) -> tuple[Self, Look]:
        """The next look by the poll plan; never past `until` (seconds into the wait)."""
        elapsed = now - self.t0
        grow = self.plan.first_s if self.grow < 0 else self.grow
        interval, grow = poll_next(self.plan, self.timeout_s, self.polls, grow, elapsed)
        if until is not None and elapsed < until:
            interval = min(interval, until - elapsed + 0.001)
        interval = max(0.0, min(interval, self.deadline - now))
        return replace(self, polls=self.polls + 1, grow=grow), Look(now + interval, target)

    def ready(self, now: float) -> bool:
        return now - self.t0 >= self.hold_until

    def refused(self, now: float) -> Self:
        n = self.refusals + 1
        hold = min(self.plans.conflict_cap_s, self.plans.conflict_step_s * n)
        return replace(self, refusals=n, hold_until=now - self.t0 + hold)

    def restarted(self, now: float) -> Self:
        """Accepted: the timeout and the dense polls count from now; refusals are forgotten."""
        return replace(self, t0=now, polls=0, grow=-1.0, refusals=0, hold_until=-math.inf)

    def after_error(self, outcome: Sent, now: float) -> tuple[Self, float] | Fail:
        """A refused call: fatal ends the move; else remembered, and a retryable one delays
        the next look by its back-off."""
        error = outcome.error
        assert error is not None
        if error.kind is ErrorKind.FATAL:
            return Fail(error)
        delay = min(outcome.retry_in, max(0.0, self.deadline - now))
        return replace(self, last_error=error), now + (delay if error.kind is ErrorKind.RETRYABLE else 0.0)


def timeout(action: str, what: str, timeout_s: float, last: EniState | None,
            last_error: CloudError | None) -> CloudTimeout:
    seen = ""
    if last is not None:
        seen = f" (last seen {last.status.value}" + (f" on {last.instance_id})" if last.instance_id else ")")
    why = f"; last error: {last_error}" if last_error is not None else ""
    return CloudTimeout(f"{what} after {timeout_s:g} s{seen}{why}", kind=ErrorKind.RETRYABLE,
                        code=errors.TIMEOUT, action=action)


def _failed(move: NextMove, action: str) -> Fail:
    return Fail(ApiError(move.message, kind=move.kind, code=move.code, action=action))


# ---------------------------------------------------------------------- read


@dataclass(frozen=True)
class EniRead(Clocked):
    """A plain read of one ENI, riding the next shared round."""

    eni_id: str = ""
    priority: Priority = Priority.ROUTINE
    action: str = "DescribeNetworkInterfaces"

    def params(self) -> dict[str, Any]:
        return {}

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        return self, Done(read)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        raise AssertionError("a read sends nothing of its own")

    def expired(self) -> CloudError:
        return self.last_error or CloudTimeout(
            f"{self.action}: no time left to call the API (deadline of {self.timeout_s:g} s)",
            kind=ErrorKind.RETRYABLE, code=errors.TIMEOUT, action=self.action)


# -------------------------------------------------------------------- detach


@dataclass(frozen=True)
class Detach(Clocked):
    """Detach and wait for Available. A detach stuck in Detaching is re-sent once after
    `reissue_at` s (the documented first remedy for a hung guest), counted from when the detach
    in flight was accepted: a call that queued for its token is not re-sent at once. Still
    Detaching at the end is DetachStalled; a detach refused because the holder runs and its
    type releases an ENI only while Stopped is DetachStalled at once (code DetachRefused)."""

    eni_id: str = ""
    instance_id: str = ""
    reissue_at: float = 0.0
    reissued: bool = False
    accepted_at: float | None = None  # s into the wait: the detach in flight
    sent_at: float | None = None  # our last accepted call: reads may lag it until lag_s
    last: EniState | None = None
    asking: bool = False  # a refusal is being explained: the next read is the holder's status
    priority: Priority = FAILOVER
    action: str = "DetachNetworkInterface"

    def params(self) -> dict[str, Any]:
        return {"NetworkInterfaceId": self.eni_id, "InstanceId": self.instance_id}

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
            return replace(self.refused(now), asking=False)._next(now)
        assert isinstance(read, EniState)
        s = replace(self, last=read)
        move = detach_next(read, self.instance_id)
        if move.next is Next.DONE:
            return s, Done(read)
        if move.next is Next.FAIL:
            return s, _failed(move, self.action)
        elapsed = now - s.t0
        if read.status is EniStatus.DETACHING and s.accepted_at is None:
            s = replace(s, accepted_at=elapsed)  # somebody else's detach: it counts from now
        stuck = (read.status is EniStatus.DETACHING and s.accepted_at is not None
                 and elapsed - s.accepted_at >= s.reissue_at)
        # Still InUse after our call: lag, until lag_s has passed; then the call was lost.
        lost = move.next is Next.ISSUE and (s.sent_at is None or elapsed - s.sent_at >= s.plans.lag_s)
        if (lost or (stuck and not s.reissued)) and s.ready(now):
            return replace(s, reissued=s.reissued or stuck), Issue(now)
        return s._next(now)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            s = self if self.sent_at is not None else self.restarted(now)
            elapsed = now - s.t0
            return replace(s, accepted_at=elapsed, sent_at=elapsed)._next(now)
        after = self.after_error(outcome, now)
        if isinstance(after, Fail):
            return self, after
        s, at = after
        if outcome.error.kind is ErrorKind.CONFLICT:
            if outcome.error.code == INSTANCE_STATE_CODE:
                return replace(s, asking=True), Look(now, Target.STATUS)
            s = s.refused(now)
        return s._next(at)

    def _next(self, now: float) -> tuple[Self, Decision]:
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


# -------------------------------------------------------------------- attach


@dataclass(frozen=True)
class Attach(Clocked):
    """Attach and wait for InUse on `instance_id`; already there = done. Judged failed only on
    evidence describe lag cannot give (`moves.attach_next`); the documented remedy for a failed
    or lost attach, another attach, is tried here, but only `ATTACH_RETRIES` times."""

    eni_id: str = ""
    instance_id: str = ""
    issued: bool = False
    seen_attaching: bool = False
    accepted: int = 0  # attach calls the cloud took
    sent_at: float | None = None
    last: EniState | None = None
    asking: bool = False
    priority: Priority = FAILOVER
    action: str = "AttachNetworkInterface"

    def params(self) -> dict[str, Any]:
        return {"NetworkInterfaceId": self.eni_id, "InstanceId": self.instance_id}

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
            return replace(self.refused(now), asking=False).look(now, Target.ENI)
        assert isinstance(read, EniState)
        s = replace(self, last=read)
        if (s.issued and read.status is EniStatus.ATTACHING
                and read.instance_id in (s.instance_id, None)):
            s = replace(s, seen_attaching=True)
        elapsed = now - s.t0
        lag_over = s.sent_at is not None and elapsed - s.sent_at >= s.plans.lag_s
        move = attach_next(read, s.instance_id, issued=s.issued, seen_attaching=s.seen_attaching,
                           lag_over=lag_over)
        if move.next is Next.DONE:
            return s, Done(read)
        again = move.code == errors.ATTACH_FAILED or (move.next is Next.ISSUE and s.issued)
        if again and s.accepted > ATTACH_RETRIES:
            return s, Fail(ApiError(
                f"attach of ENI {s.eni_id} to {s.instance_id} failed {s.accepted} times: the ENI "
                "went back to Available", kind=ErrorKind.RETRYABLE, code=errors.ATTACH_FAILED,
                action=s.action))
        if move.next is Next.FAIL and move.code != errors.ATTACH_FAILED:
            return s, _failed(move, s.action)
        if (move.next is Next.ISSUE or move.code == errors.ATTACH_FAILED) and s.ready(now):
            return s, Issue(now)
        return s.look(now, Target.ENI)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            s = self if self.sent_at is not None else self.restarted(now)
            return replace(s, issued=True, seen_attaching=False, sent_at=now - s.t0,
                           accepted=s.accepted + 1).look(now, Target.ENI)
        after = self.after_error(outcome, now)
        if isinstance(after, Fail):
            return self, after
        s, at = after
        if outcome.error.kind is ErrorKind.CONFLICT:
            if outcome.error.code == INSTANCE_STATE_CODE:
                return replace(s, asking=True), Look(now, Target.STATUS)
            s = s.refused(now)
        return s.look(at, Target.ENI)

    def expired(self) -> CloudError:
        return timeout(self.action, f"ENI {self.eni_id} not InUse on {self.instance_id}",
                       self.timeout_s, self.last, self.last_error)


# ---------------------------------------------------------------------- stop


@dataclass(frozen=True)
class Stop(Clocked):
    """Force-stop (the power button, no guest shutdown) and wait for Stopped; re-sent once if
    still not Stopped half the timeout after the first call."""

    instance_id: str = ""
    issued_at: float | None = None
    reissued: bool = False
    status: str | None = None
    priority: Priority = FAILOVER
    action: str = "StopInstance"

    def params(self) -> dict[str, Any]:
        return {"InstanceId": self.instance_id, "ForceStop": True, "StoppedMode": "KeepCharging"}

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        assert isinstance(read, Status)
        s = replace(self, status=read.value)
        move = stop_next(read.value, s.instance_id)
        if move.next is Next.DONE:
            return s, Done(None)
        if move.next is Next.FAIL:
            return s, _failed(move, s.action)
        elapsed = now - s.t0
        late = s.issued_at is not None and elapsed - s.issued_at >= s.timeout_s / 2
        if move.next is Next.ISSUE and (s.issued_at is None or (late and not s.reissued)) and s.ready(now):
            return replace(s, reissued=s.issued_at is not None), Issue(now)
        return s.look(now, Target.STATUS)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            return replace(self, issued_at=now - self.t0).look(now, Target.STATUS)
        after = self.after_error(outcome, now)
        if isinstance(after, Fail):
            return self, after
        s, at = after
        if outcome.error.kind is ErrorKind.CONFLICT:
            s = s.refused(now)
        return s.look(at, Target.STATUS)

    def expired(self) -> CloudError:
        return timeout(self.action, f"instance {self.instance_id} not Stopped (last status "
                       f"{self.status or 'unknown'})", self.timeout_s, None, self.last_error)


# --------------------------------------------------------------------- start


@dataclass(frozen=True)
class Start(Clocked):
    """Start a Stopped instance (a cold standby) and wait until it runs with Cloud Assistant
    online; done with True when it had to, False at once for a Running one."""

    instance_id: str = ""
    started: bool = False
    status: str | None = None
    priority: Priority = FAILOVER
    action: str = "StartInstance"

    def params(self) -> dict[str, Any]:
        return {"InstanceId": self.instance_id}

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        if isinstance(read, Agent):
            return (self, Done(True)) if read.online else self.look(now, Target.STATUS)
        assert isinstance(read, Status)
        s = replace(self, status=read.value)
        if read.value == "Running":
            return (s, Done(False)) if not s.started else (s, Look(now, Target.AGENT))
        if read.value == "Stopped" and not s.started and s.ready(now):
            return s, Issue(now)
        if read.value is None:
            return s, Fail(ApiError(f"instance {s.instance_id} not found", kind=ErrorKind.FATAL,
                                    code=errors.NOT_FOUND, action=s.action))
        return s.look(now, Target.STATUS)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            return replace(self, started=True).look(now, Target.STATUS)
        after = self.after_error(outcome, now)
        if isinstance(after, Fail):
            return self, after
        s, at = after
        if outcome.error.kind is ErrorKind.CONFLICT:
            s = s.refused(now)
        return s.look(at, Target.STATUS)

    def expired(self) -> CloudError:
        what = "Cloud Assistant not online" if self.status == "Running" else f"last status {self.status}"
        why = f"; last error: {self.last_error}" if self.last_error is not None else ""
        return CloudTimeout(f"instance {self.instance_id} not Running with Cloud Assistant online "
                            f"after {self.timeout_s:g} s ({what}){why}", kind=ErrorKind.RETRYABLE,
                            code=errors.TIMEOUT, action=self.action)


# ------------------------------------------------------------------- command


@dataclass(frozen=True)
class Command(Clocked):
    """RunCommand (its ClientToken makes every retry the same command: it runs at most once),
    then looks at the invocation until it ends. `aim`: where recent runs were seen done, for
    the first look when looks are scarce (`scheduler.RunTimes`)."""

    instance_id: str = ""
    command: Mapping[str, Any] = field(default_factory=dict)
    aim: float | None = None
    invoke_id: str = ""
    accepted_at: float = 0.0  # monotonic
    result: CommandResult | None = None
    priority: Priority = FAILOVER
    action: str = "RunCommand"

    def params(self) -> dict[str, Any]:
        return dict(self.command)

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        assert isinstance(read, Invocation)
        s = replace(self, result=read.result or self.result)
        if s.result is not None and s.result.status in convert.TERMINAL_INVOCATION:
            return s, Done(s.result)
        return s.look(now, Target.INVOCATION)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        error = outcome.error
        if error is not None:
            if error.kind is not ErrorKind.RETRYABLE or outcome.retry_in + _MIN_LEFT_S > self.deadline - now:
                return self, Fail(error)  # waiting would pass the deadline: the last real error
            return replace(self, last_error=error), Issue(now + outcome.retry_in)
        invoke_id = str(outcome.body.get("InvokeId") or "")
        if not invoke_id:
            return self, Fail(ApiError(f"{self.action}: the answer carried no InvokeId",
                                       kind=ErrorKind.RETRYABLE, code=errors.BAD_RESPONSE,
                                       action=self.action,
                                       request_id=str(outcome.body.get("RequestId") or "") or None))
        s = replace(self, invoke_id=invoke_id, accepted_at=now, aim=None)
        if self.aim is None:
            return s.look(now, Target.INVOCATION)
        return s, Look(min(now + min(self.aim, self.plan.dense_until_s), self.deadline), Target.INVOCATION)

    def expired(self) -> CloudError:
        if not self.invoke_id:
            return self.last_error or timeout(self.action, f"RunCommand on {self.instance_id} not "
                                              "accepted", self.timeout_s, None, None)
        return CloudTimeout(
            f"command {self.invoke_id} on {self.instance_id} still "
            f"{self.result.status if self.result else 'Pending'} after {self.timeout_s:g} s",
            kind=ErrorKind.RETRYABLE, code=errors.TIMEOUT, action=self.action)
