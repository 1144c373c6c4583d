"""The write side of the cloud port: detach, attach, force-stop, run a script.

Each is a loop of read state -> decide (`moves`) -> act -> poll, bounded by
its own timeout. Attach, detach and stop carry no ClientToken, so they are
issued once per decision and a retryable failure leads to a re-read, never a
blind re-send (the first call may have gone through). RunCommand carries a
ClientToken, so it is retried with the same token and runs at most once.
"""

from __future__ import annotations

import base64
import math
import uuid
from typing import Any

from failover.cloud import convert, errors
from failover.cloud.moves import Next, NextMove, attach_next, detach_next, stop_next
from failover.cloud.refusals import StateRefusals, out_of_time
from failover.cloud.sdk import ApiError
from failover.cloud.waiting import (
    ConflictBackoff,
    Deadline,
    PollPlan,
    PollPlans,
    PollSchedule,
    RunTimes,
)
from failover.model import (
    CallTrace,
    CloudError,
    CloudTimeout,
    CommandResult,
    DetachStalled,
    EniState,
    EniStatus,
    ErrorKind,
    Priority,
    ScriptLanguage,
)

SCRIPT_MAX_B64 = 24 * 1024  # Cloud Assistant's limit on the Base64-encoded content
COMMAND_TYPES = {ScriptLanguage.SHELL: "RunShellScript",
                 ScriptLanguage.POWERSHELL: "RunPowerShellScript"}
FAILOVER = Priority.FAILOVER
# Both carry a run's status, exit code and output; the first is preferred while both are free.
INVOCATION_READS = ("DescribeInvocationResults", "DescribeInvocations")
INVOCATION_PARAMS: dict[str, dict[str, Any]] = {
    "DescribeInvocationResults": {"ContentEncoding": "PlainText"},
    "DescribeInvocations": {"ContentEncoding": "PlainText", "IncludeOutput": True},
}
ATTACH_RETRIES = 1  # attaches re-sent within one wait after the cloud failed (or lost) one


def _failed(move: NextMove, action: str) -> ApiError:
    return ApiError(move.message, kind=move.kind, code=move.code, action=action)


class CloudMoves(StateRefusals):
    # How each kind of wait polls (EcsCloud takes others, e.g. scaled for a faster emulator).
    _polls: PollPlans = PollPlans()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._run_times = RunTimes()

    def _schedule(self, plan: PollPlan, deadline: Deadline) -> PollSchedule:
        return PollSchedule(plan, deadline.total_s)

    def _accepted(self, timeout_s: float, plan: PollPlan) -> tuple[Deadline, PollSchedule]:
        """A fresh deadline and poll schedule from the moment the cloud accepted our call.

        In a zone outage a call may queue for its API token for many seconds (the token wait
        itself is bounded by the first deadline): counted from the wait's start, that queue
        would eat the cloud's share of the timeout and the dense polls meant for the step's
        likely end.
        """
        deadline = Deadline.after(self._clock, timeout_s)
        return deadline, self._schedule(plan, deadline)

    def _issue(self, action: str, params: dict[str, Any], deadline: Deadline,
               trace: CallTrace | None, after: ApiError | None) -> ApiError | None:
        """One attempt of a mutation; the error to remember if it may be re-read and retried.
        `after`: the last attempt's error (a refusal for flow control hands on its slot)."""
        try:
            self._caller.once(action, params, priority=FAILOVER, deadline=deadline, trace=trace,
                              mutation=True, after=after)
        except ApiError as e:
            if e.kind is ErrorKind.FATAL:
                raise
            if e.kind is ErrorKind.RETRYABLE:
                self._clock.sleep(deadline.bounded(self._caller.backoff(e, 0)))
            return e
        return None

    def _poll(self, deadline: Deadline, schedule: PollSchedule) -> None:
        """Sleeps until the next look."""
        self._clock.sleep(self._next_look(deadline, schedule))

    @staticmethod
    def _next_look(deadline: Deadline, schedule: PollSchedule, until: float | None = None) -> float:
        """Seconds to the next look; never past `until` (seconds into the wait) if given.

        ENI waits hand it to their next read (which a shared round may answer sooner);
        the others sleep it.
        """
        elapsed = deadline.elapsed()
        interval = schedule.next(elapsed)
        if until is not None and elapsed < until:
            interval = min(interval, until - elapsed + 0.001)
        return deadline.bounded(interval)

    def _read_eni(self, eni_id: str, deadline: Deadline, trace: CallTrace | None,
                  due_in: float = 0.0) -> EniState | None:
        """The ENI, or None when a retryable error outlived the deadline."""
        try:
            return self._eni(eni_id, FAILOVER, deadline, trace, due_in)
        except CloudError as e:
            if out_of_time(e, deadline):
                return None
            raise

    # ---------------------------------------------------------------- detach

    def detach_eni(self, eni_id: str, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None, reissue_after_s: float | None = None) -> EniState:
        """Detach and wait for Available; a detach still Detaching at the end is DetachStalled.

        A detach stuck in Detaching is re-sent once after `reissue_after_s`
        (default half the timeout): the documented first remedy for a hung guest.
        The timeout is the cloud's time to detach: it restarts when our call is accepted
        (`_accepted`), after what may be a long wait for an API token. A detach refused
        because the holder runs and its type releases an ENI only while Stopped is
        DetachStalled at once (code DetachRefused): the same remedy, a force stop, applies.
        """
        action = "DetachNetworkInterface"
        deadline = Deadline.after(self._clock, timeout_s)
        reissue_at = timeout_s / 2 if reissue_after_s is None else reissue_after_s
        params = {"NetworkInterfaceId": eni_id, "InstanceId": instance_id}
        schedule = self._schedule(self._polls.detach, deadline)
        backoff = ConflictBackoff(self._polls.conflict_step_s, self._polls.conflict_cap_s)
        reissued = False
        # When the detach in flight was accepted (s into the wait): the re-issue delay counts
        # from there, not from the wait's start, or a call that queued for its token (a zone
        # outage) is re-sent at once and takes a token another group's first detach needed.
        accepted_at: float | None = None
        sent_at: float | None = None  # our last accepted call: reads may lag it until lag_s
        last: EniState | None = None
        last_error: ApiError | None = None
        due_in = 0.0
        while not deadline.expired:
            state = self._read_eni(eni_id, deadline, trace, due_in)
            if state is None:
                break
            last = state
            move = detach_next(state, instance_id)
            if move.next is Next.DONE:
                return state
            if move.next is Next.FAIL:
                raise _failed(move, action)
            elapsed = deadline.elapsed()
            if state.status is EniStatus.DETACHING and accepted_at is None:
                accepted_at = elapsed  # somebody else's detach: it counts from now
            stuck = (state.status is EniStatus.DETACHING and accepted_at is not None
                     and elapsed - accepted_at >= reissue_at)
            # Still InUse after our call: lag, until lag_s has passed; then the call was lost.
            lost = move.next is Next.ISSUE and (sent_at is None or elapsed - sent_at >= self._polls.lag_s)
            if (lost or (stuck and not reissued)) and backoff.ready(elapsed):
                reissued = reissued or stuck
                error = self._issue(action, params, deadline, trace, last_error)
                last_error = error or last_error
                if error is None:
                    if sent_at is None:
                        deadline, schedule = self._accepted(timeout_s, self._polls.detach)
                    accepted_at = sent_at = deadline.elapsed()
                    backoff.accepted()
                elif error.kind is ErrorKind.CONFLICT:
                    self._refused_detach(error, eni_id, instance_id, deadline, trace)
                    backoff.refused(deadline.elapsed())
            # Wake up on time for the re-issue: a stuck detach is re-sent when the policy says.
            due = None if reissued or accepted_at is None else accepted_at + reissue_at
            due_in = self._next_look(deadline, schedule, due)
        if last is not None and last.status is EniStatus.DETACHING:
            raise DetachStalled(
                f"ENI {eni_id} still Detaching from {instance_id} after {timeout_s:g} s"
                f"{' (detach re-sent once)' if reissued else ''}: the instance is likely hung; "
                "fence it (force stop) and detach again",
                kind=ErrorKind.CONFLICT, code="DetachStalled", action=action,
            )
        raise self._timeout(action, f"ENI {eni_id} not Available", timeout_s, last, last_error)

    # ---------------------------------------------------------------- attach

    def attach_eni(self, eni_id: str, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None, known: EniState | None = None) -> EniState:
        """Attach and wait for InUse on `instance_id`; already there = done. The timeout
        restarts when the call is accepted, as for a detach.

        `known` (the caller's read of a moment ago) stands in for the first read; if it is
        stale the call fails and the next read tells the truth. The attach is judged failed
        only on evidence describe lag cannot give (`moves.attach_next`).
        """
        action = "AttachNetworkInterface"
        deadline = Deadline.after(self._clock, timeout_s)
        params = {"NetworkInterfaceId": eni_id, "InstanceId": instance_id}
        schedule = self._schedule(self._polls.attach, deadline)
        backoff = ConflictBackoff(self._polls.conflict_step_s, self._polls.conflict_cap_s)
        issued = seen_attaching = False
        accepted = 0  # attach calls the cloud took
        sent_at: float | None = None
        last: EniState | None = None
        last_error: ApiError | None = None
        due_in = 0.0
        while not deadline.expired:
            state, known = known or self._read_eni(eni_id, deadline, trace, due_in), None
            if state is None:
                break
            last = state
            if (issued and state.status is EniStatus.ATTACHING
                    and state.instance_id in (instance_id, None)):
                seen_attaching = True
            elapsed = deadline.elapsed()
            lag_over = sent_at is not None and elapsed - sent_at >= self._polls.lag_s
            move = attach_next(state, instance_id, issued=issued, seen_attaching=seen_attaching,
                               lag_over=lag_over)
            if move.next is Next.DONE:
                return state
            # The cloud gave up on our attach (seen Attaching, now Available), or shows no sign
            # of it past the lag allowance: the documented remedy is another attach, here and
            # now rather than a whole new failover; but only so many.
            again = move.code == errors.ATTACH_FAILED or (move.next is Next.ISSUE and issued)
            if again and accepted > ATTACH_RETRIES:
                raise ApiError(f"attach of ENI {eni_id} to {instance_id} failed {accepted} times: "
                               "the ENI went back to Available", kind=ErrorKind.RETRYABLE,
                               code=errors.ATTACH_FAILED, action=action)
            if move.code == errors.ATTACH_FAILED:
                move = NextMove(Next.ISSUE)
            if move.next is Next.FAIL:
                raise _failed(move, action)
            if move.next is Next.ISSUE and backoff.ready(elapsed):
                try:
                    error = self._issue(action, params, deadline, trace, last_error)
                except ApiError as e:
                    raise self._placement_error(e, state, instance_id, deadline) from None
                last_error = error or last_error
                if error is None:
                    if sent_at is None:
                        deadline, schedule = self._accepted(timeout_s, self._polls.attach)
                    issued, seen_attaching, sent_at = True, False, deadline.elapsed()
                    accepted += 1
                    backoff.accepted()
                elif error.kind is ErrorKind.CONFLICT:
                    self._refused_attach(error, instance_id, deadline, trace)
                    backoff.refused(deadline.elapsed())
            due_in = self._next_look(deadline, schedule)
        raise self._timeout(action, f"ENI {eni_id} not InUse on {instance_id}", timeout_s, last,
                            last_error)

    # ------------------------------------------------------------------ stop

    def force_stop(self, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None) -> None:
        """Force-stop (the power button, no guest shutdown) and wait for Stopped."""
        action = "StopInstance"
        deadline = Deadline.after(self._clock, timeout_s)
        params = {"InstanceId": instance_id, "ForceStop": True, "StoppedMode": "KeepCharging"}
        schedule = self._schedule(self._polls.stop, deadline)
        backoff = ConflictBackoff(self._polls.conflict_step_s, self._polls.conflict_cap_s)
        issued_at: float | None = None
        reissued = False
        status: str | None = None
        last_error: ApiError | None = None
        while not deadline.expired:
            try:
                status = self._statuses([instance_id], FAILOVER, deadline, trace).get(instance_id)
            except CloudError as e:
                if out_of_time(e, deadline):
                    break
                raise
            move = stop_next(status, instance_id)
            if move.next is Next.DONE:
                return
            if move.next is Next.FAIL:
                raise _failed(move, action)
            late = issued_at is not None and deadline.elapsed() - issued_at >= timeout_s / 2
            due = issued_at is None or (late and not reissued)
            if move.next is Next.ISSUE and due and backoff.ready(deadline.elapsed()):
                reissued = issued_at is not None
                error = self._issue(action, params, deadline, trace, last_error)
                issued_at = deadline.elapsed() if error is None else issued_at
                last_error = error or last_error
                if error is not None and error.kind is ErrorKind.CONFLICT:
                    backoff.refused(deadline.elapsed())
            self._poll(deadline, schedule)
        raise self._timeout(action, f"instance {instance_id} not Stopped (last status "
                            f"{status or 'unknown'})", timeout_s, None, last_error)

    # ---------------------------------------------------------------- script

    def run_script(self, instance_id: str, script: str, *, timeout_s: float,
                   trace: CallTrace | None = None,
                   language: ScriptLanguage = ScriptLanguage.SHELL,
                   priority: Priority = FAILOVER) -> CommandResult:
        """Run a script through Cloud Assistant; its exit code and output.

        `priority` ROUTINE (a release of a former holder): the command and its looks wait
        for budget no failover is using.
        """
        action = "RunCommand"
        content = base64.b64encode(script.encode("utf-8")).decode("ascii")
        if len(content) > SCRIPT_MAX_B64:
            raise ApiError(
                f"script for {instance_id} is {len(content)} bytes Base64-encoded; Cloud Assistant "
                f"accepts at most {SCRIPT_MAX_B64}",
                kind=ErrorKind.FATAL, code=errors.SCRIPT_TOO_LARGE, action=action,
            )
        deadline = Deadline.after(self._clock, timeout_s)
        params = {
            "InstanceId": [instance_id], "Type": COMMAND_TYPES[language], "CommandContent": content,
            "ContentEncoding": "Base64", "Timeout": max(1, math.ceil(timeout_s)),
            "Name": "failover-guest", "KeepCommand": False,
            # The same token on every retry: the command runs at most once.
            "ClientToken": uuid.uuid4().hex,
        }
        reply = self._caller.retrying(action, params, priority=priority, deadline=deadline,
                                      trace=trace, mutation=True)
        invoke_id = str(reply.body.get("InvokeId") or "")
        if not invoke_id:
            raise ApiError(f"{action}: the answer carried no InvokeId", kind=ErrorKind.RETRYABLE,
                           code=errors.BAD_RESPONSE, action=action, request_id=reply.request_id)
        with self._run_times.waiting() as waits:
            return self._await_invocation(invoke_id, instance_id, deadline, trace, priority, waits)

    def _await_invocation(self, invoke_id: str, instance_id: str, deadline: Deadline,
                          trace: CallTrace | None, priority: Priority, waits: int) -> CommandResult:
        params = {"InvokeId": invoke_id, "InstanceId": instance_id}
        plan = self._polls.command
        schedule = self._schedule(plan, deadline)
        accepted = self._clock.monotonic()
        aim = self._run_times.aim(accepted, waits=waits, looks_per_s=1.0 / plan.dense_s,
                                  capacity_per_s=len(INVOCATION_READS) * self._caller.rate_per_s)
        result: CommandResult | None = None
        while not deadline.expired:
            if aim is None:
                self._poll(deadline, schedule)
            else:  # the first look where recent runs were seen done (`RunTimes`)
                ahead = min(aim, plan.dense_until_s) - (self._clock.monotonic() - accepted)
                self._clock.sleep(deadline.bounded(ahead))
                aim = None
            # The gateway throttles the two describes on their own: in a mass failover the
            # looks of a hundred commands get twice the slots, so the looks of the first
            # runs (before any was seen done) do not push every later look a window back.
            action = self._caller.quickest(INVOCATION_READS)
            try:
                reply = self._caller.retrying(action, {**params, **INVOCATION_PARAMS[action]},
                                              priority=priority, deadline=deadline, trace=trace)
            except CloudError as e:
                if out_of_time(e, deadline):
                    break
                raise
            result = convert.invocation_result(reply.body, invoke_id, instance_id) or result
            if result is not None and result.status in convert.TERMINAL_INVOCATION:
                # Seen when the look went out, not when its budget slot came: a look that
                # queued says nothing about how long the run took.
                sent = reply.sent_at if reply.sent_at is not None else self._clock.monotonic()
                if priority is FAILOVER:  # routine looks wait for spare budget: not a run time
                    self._run_times.record(sent, sent - accepted)
                return result
        raise CloudTimeout(
            f"command {invoke_id} on {instance_id} still "
            f"{result.status if result else 'Pending'} after {deadline.total_s:g} s",
            kind=ErrorKind.RETRYABLE, code=errors.TIMEOUT, action="RunCommand",
        )

    # --------------------------------------------------------------- helpers

    @staticmethod
    def _timeout(action: str, what: str, timeout_s: float, last: EniState | None,
                 last_error: ApiError | None) -> CloudTimeout:
        seen = ""
        if last is not None:
            seen = f" (last seen {last.status.value}" + (
                f" on {last.instance_id})" if last.instance_id else ")")
        why = f"; last error: {last_error}" if last_error is not None else ""
        return CloudTimeout(f"{what} after {timeout_s:g} s{seen}{why}", kind=ErrorKind.RETRYABLE,
                            code=errors.TIMEOUT, action=action)

