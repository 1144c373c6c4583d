"""Each cloud move as data: a frozen state and pure transitions to what it does next.

A move (detach, attach, stop, start, run a script, or a plain ENI read) answers three events:
`seen(read, now)` after a look, `sent(outcome, now)` after its own call, and `expired()` at
its deadline. Each transition returns the new state and a decision: `Issue` the move's call,
`Look` at a time, `Done`, or `Fail`. No I/O, no clock, no sleeps: the scheduler looks, sends
and keeps time; tests walk the transitions as tables. Here: what every move shares, a plain ENI
read, stop, start and command (detach and attach: `moves`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

from failover.cloud import convert, errors
from failover.cloud.sdk import ApiError
from failover.cloud.waiting import MIN_CALL_S, PollPlan, PollPlans, no_time_left, poll_next
from failover.model import CloudError, CloudTimeout, CommandResult, EniState, EniStatus, ErrorKind, Priority

FAILOVER = Priority.FAILOVER
# A call refused for the instance's state: while it runs, a type that takes or releases an ENI
# only while Stopped refuses for as long as it runs (the move asks the status to tell).
INSTANCE_STATE_CODE = "InvalidOperation.InvalidEcsState"


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
    polled: ClassVar[Target] = Target.STATUS  # what the move's polls look at
    asks: ClassVar[bool] = False  # a refusal for the instance's state is explained first

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

    def call_at(self, at: float) -> Decision:
        """The move's own call at `at` (one with a condition looks first: `Command`)."""
        return Issue(at)

    def poll(self, now: float) -> tuple[Self, Decision]:
        """The next look by the plan (a move may wake earlier: `Detach`)."""
        return self.look(now, self.polled)

    def refusal(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        """Our call refused: fatal ends the move; else remembered. A refusal for the instance's
        state is explained by its status first (`asks`: it may never pass while the instance
        runs); another state refusal holds the next call back; a retryable one delays the next
        look by its back-off."""
        error = outcome.error
        assert error is not None
        if error.kind is ErrorKind.FATAL:
            return self, Fail(error)
        s = replace(self, last_error=error)
        if error.kind is not ErrorKind.CONFLICT:
            return s.poll(now + min(outcome.retry_in, max(0.0, self.deadline - now)))
        if self.asks and error.code == INSTANCE_STATE_CODE:
            return s, Look(now, Target.STATUS)
        return s.refused(now).poll(now)


def not_found(action: str, what: str) -> ApiError:
    return ApiError(f"{what} not found", kind=ErrorKind.FATAL, code=errors.NOT_FOUND, action=action)


def timeout(action: str, what: str, timeout_s: float, last: EniState | None,
            last_error: CloudError | None) -> CloudTimeout:
    seen = ""
    if last is not None:
        seen = f" (last seen {last.status.value}" + (f" on {last.instance_id})" if last.instance_id else ")")
    why = f"; last error: {last_error}" if last_error is not None else ""
    return CloudTimeout(f"{what} after {timeout_s:g} s{seen}{why}", kind=ErrorKind.RETRYABLE,
                        code=errors.TIMEOUT, action=action)


@dataclass(frozen=True)
class EniRead(Clocked):
    """A plain read of one ENI, riding the next shared round."""

    eni_id: str = ""
    priority: Priority = Priority.ROUTINE
    action: str = "DescribeNetworkInterfaces"
    # One of a read of many ENIs (the leader's look at every group): a round takes the moves'
    # own looks first, so a failover's look never queues behind a thousand-ENI sweep.
    sweep: bool = False

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        return self, Done(read)

    def expired(self) -> CloudError:
        # A read makes no call of its own: a failed round's error is the scheduler's to give.
        return no_time_left(self.action, self.timeout_s)


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
        if read.value is None:
            return s, Fail(not_found(s.action, f"instance {s.instance_id}"))
        if read.value == "Stopped":
            return s, Done(None)
        elapsed = now - s.t0
        late = s.issued_at is not None and elapsed - s.issued_at >= s.timeout_s / 2
        due = s.issued_at is None or (late and not s.reissued)
        if read.value != "Stopping" and due and s.ready(now):
            return replace(s, reissued=s.issued_at is not None), Issue(now)
        return s.poll(now)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            return replace(self, issued_at=now - self.t0).poll(now)
        return self.refusal(outcome, now)

    def expired(self) -> CloudError:
        return timeout(self.action, f"instance {self.instance_id} not Stopped (last status "
                       f"{self.status or 'unknown'})", self.timeout_s, None, self.last_error)


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
            return (self, Done(True)) if read.online else self.poll(now)
        assert isinstance(read, Status)
        s = replace(self, status=read.value)
        if read.value == "Running":
            return (s, Done(False)) if not s.started else (s, Look(now, Target.AGENT))
        if read.value == "Stopped" and not s.started and s.ready(now):
            return s, Issue(now)
        if read.value is None:
            return s, Fail(not_found(s.action, f"instance {s.instance_id}"))
        return s.poll(now)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        if outcome.error is None:
            return replace(self, started=True).poll(now)
        return self.refusal(outcome, now)

    def expired(self) -> CloudError:
        what = "Cloud Assistant not online" if self.status == "Running" else f"last status {self.status}"
        why = f"; last error: {self.last_error}" if self.last_error is not None else ""
        return CloudTimeout(f"instance {self.instance_id} not Running with Cloud Assistant online "
                            f"after {self.timeout_s:g} s ({what}){why}", kind=ErrorKind.RETRYABLE,
                            code=errors.TIMEOUT, action=self.action)


@dataclass(frozen=True)
class Command(Clocked):
    """RunCommand (its ClientToken makes every retry the same command: it runs at most once),
    then looks at the invocation until it ends. `aim`: where recent runs were seen done, for
    the first look when looks are scarce (`scheduler.RunTimes`).

    `eni_id` (a release): each call is booked only right after a look shows that ENI InUse on
    another instance, and sent in the same turn (no slot: another look first). Left open: the
    hand-off and fencing check (milliseconds) and the script's run; to be here by then the ENI
    needs a detach and an attach (seconds each in ECS). RunCommand takes no condition, so no
    read closes it; a holder stripped anyway fails its serving checks and is configured again."""

    instance_id: str = ""
    command: Mapping[str, Any] = field(default_factory=dict)
    aim: float | None = None
    eni_id: str = ""
    eni: EniState | None = None  # the ENI as its last look saw it
    polled: ClassVar[Target] = Target.INVOCATION
    invoke_id: str = ""
    accepted_at: float = 0.0  # monotonic
    result: CommandResult | None = None
    priority: Priority = FAILOVER
    action: str = "RunCommand"

    def params(self) -> dict[str, Any]:
        return dict(self.command)

    def call_at(self, at: float) -> Decision:
        return Look(at, Target.ENI) if self.eni_id else Issue(at)

    def seen(self, read: Read, now: float) -> tuple[Self, Decision]:
        if isinstance(read, EniState):  # a release's look before its call
            s = replace(self, eni=read)
            if read.instance_id == s.instance_id:  # back on it: never strip its addresses
                return s, Fail(CloudError(f"{s.instance_id} holds ENI {s.eni_id} ({read.status.value})"
                                          f": {s.action} not sent", kind=ErrorKind.CONFLICT,
                                          code=errors.WRONG_HOLDER, action=s.action))
            # Mid-move (Available, Attaching, Detaching...): sent once it has landed elsewhere.
            return (s, Issue(now)) if read.status is EniStatus.IN_USE else s.look(now, Target.ENI)
        assert isinstance(read, Invocation)
        s = replace(self, result=read.result or self.result)
        if s.result is not None and s.result.status in convert.TERMINAL_INVOCATION:
            return s, Done(s.result)
        return s.poll(now)

    def sent(self, outcome: Sent, now: float) -> tuple[Self, Decision]:
        error = outcome.error
        if error is not None:
            if error.kind is not ErrorKind.RETRYABLE or outcome.retry_in + MIN_CALL_S > self.deadline - now:
                return self, Fail(error)  # waiting would pass the deadline: the last real error
            return replace(self, last_error=error), self.call_at(now + outcome.retry_in)
        invoke_id = str(outcome.body.get("InvokeId") or "")
        if not invoke_id:
            return self, Fail(ApiError(f"{self.action}: the answer carried no InvokeId",
                                       kind=ErrorKind.RETRYABLE, code=errors.BAD_RESPONSE,
                                       action=self.action,
                                       request_id=str(outcome.body.get("RequestId") or "") or None))
        s = replace(self, invoke_id=invoke_id, accepted_at=now, aim=None)
        if self.aim is None:
            return s.poll(now)
        return s, Look(min(now + min(self.aim, self.plan.dense_until_s), self.deadline), Target.INVOCATION)

    def expired(self) -> CloudError:
        if not self.invoke_id:
            return self.last_error or timeout(self.action, f"RunCommand on {self.instance_id} not "
                                              "accepted", self.timeout_s, self.eni, None)
        return CloudTimeout(
            f"command {self.invoke_id} on {self.instance_id} still "
            f"{self.result.status if self.result else 'Pending'} after {self.timeout_s:g} s",
            kind=ErrorKind.RETRYABLE, code=errors.TIMEOUT, action=self.action)
