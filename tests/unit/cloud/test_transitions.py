"""Each move's transitions as tables: (state, what happened, now) -> the next decision.

No clock, no sleeps, no threads: the scheduler is not involved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from failover.cloud import errors
from failover.cloud.moves import DETACH_REFUSED, Attach, Detach
from failover.cloud.sdk import ApiError
from failover.cloud.transitions import (
    INSTANCE_STATE_CODE,
    Agent,
    Command,
    Done,
    Fail,
    Invocation,
    Issue,
    Look,
    Sent,
    Start,
    Status,
    Stop,
    Target,
)
from failover.cloud.waiting import PollPlan, PollPlans
from failover.model import CloudError, CommandResult, DetachStalled, EniState, EniStatus, ErrorKind

PLAN = PollPlan(first_s=0.2, dense_s=0.2, dense_until_s=100.0)
PLANS = PollPlans(attach=PLAN, detach=PLAN, stop=PLAN, command=PLAN, start=PLAN, lag_s=3.0,
                  conflict_step_s=1.0, conflict_cap_s=3.0)
ENI = EniState("eni-a", EniStatus.IN_USE, "i-a", "m", "10.0.0.5", ("10.0.0.5",), "vsw", "vpc", "z")


def eni(status: EniStatus, holder: str | None) -> EniState:
    return replace(ENI, status=status, instance_id=holder)


def detach(**kw: Any) -> Detach:
    return Detach(30.0, 0.0, PLAN, PLANS, eni_id="eni-a", instance_id="i-a", reissue_at=15.0, **kw)


def attach(**kw: Any) -> Attach:
    return Attach(30.0, 0.0, PLAN, PLANS, eni_id="eni-a", instance_id="i-b", **kw)


def refusal(code: str, kind: ErrorKind = ErrorKind.CONFLICT) -> Sent:
    return Sent(ApiError("refused", kind=kind, code=code, action="X", request_id="rid"), retry_in=0.5)


ACCEPTED = Sent()


def kind(decision: object) -> str:
    return type(decision).__name__


# ---------------------------------------------------------------------- detach

@pytest.mark.parametrize(("state", "read", "now", "want"), [
    (detach(), eni(EniStatus.AVAILABLE, None), 0.0, "Done"),
    (detach(), eni(EniStatus.IN_USE, "i-a"), 0.0, "Issue"),
    (detach(), eni(EniStatus.DETACHING, "i-a"), 0.0, "Look"),  # somebody's detach: wait
    (detach(), eni(EniStatus.UNKNOWN, "i-a"), 0.0, "Look"),  # never act on what we cannot read
    (detach(), eni(EniStatus.IN_USE, "i-x"), 0.0, "Fail"),  # another holder: refuse
    (detach(), eni(EniStatus.DELETING, "i-a"), 0.0, "Fail"),
    (detach(), eni(EniStatus.ATTACHING, "i-a"), 0.0, "Look"),  # let the attach land first
    (detach(), eni(EniStatus.ATTACHING, None), 0.0, "Look"),
    (detach(sent_at=0.0), eni(EniStatus.IN_USE, "i-a"), 1.0, "Look"),  # describe lag
    (detach(sent_at=0.0), eni(EniStatus.IN_USE, "i-a"), 3.0, "Issue"),  # lost: send again
    (detach(accepted_at=0.0, sent_at=0.0), eni(EniStatus.DETACHING, "i-a"), 14.0, "Look"),
    (detach(accepted_at=0.0, sent_at=0.0), eni(EniStatus.DETACHING, "i-a"), 15.0, "Issue"),  # stuck
    (detach(accepted_at=0.0, sent_at=0.0, reissued=True), eni(EniStatus.DETACHING, "i-a"), 20.0, "Look"),
    (detach(refusals=1, hold_until=5.0), eni(EniStatus.IN_USE, "i-a"), 4.0, "Look"),  # held back
    (detach(refusals=1, hold_until=5.0), eni(EniStatus.IN_USE, "i-a"), 5.0, "Issue"),
])
def test_detach_after_a_look(state: Detach, read: EniState, now: float, want: str) -> None:
    assert kind(state.seen(read, now)[1]) == want


def test_a_detach_re_sent_for_being_stuck_is_re_sent_once_and_the_look_comes_on_time() -> None:
    s, d = detach(accepted_at=0.0, sent_at=0.0).seen(eni(EniStatus.DETACHING, "i-a"), 15.0)
    assert isinstance(d, Issue) and s.reissued
    s, d = detach(accepted_at=0.0, sent_at=0.0).seen(eni(EniStatus.DETACHING, "i-a"), 14.95)
    assert isinstance(d, Look) and d.at <= 15.001  # woken for the re-issue, not a poll later


def test_the_timeout_restarts_when_the_first_detach_is_accepted() -> None:
    s, d = detach().sent(ACCEPTED, 12.0)  # 12 s queued for a token
    assert (s.t0, s.deadline, s.sent_at, s.accepted_at) == (12.0, 42.0, 0.0, 0.0)
    assert isinstance(d, Look) and d.at == pytest.approx(12.2)
    s2, _ = s.sent(ACCEPTED, 20.0)  # a re-send does not restart it
    assert s2.t0 == 12.0 and s2.sent_at == 8.0


@pytest.mark.parametrize(("outcome", "want"), [
    (refusal("Throttling", ErrorKind.RETRYABLE), "Look"),
    (refusal("Forbidden.RAM", ErrorKind.FATAL), "Fail"),
    (refusal("IncorrectInstanceStatus"), "Look"),
    (refusal(INSTANCE_STATE_CODE), "Look"),
])
def test_detach_after_a_refused_call(outcome: Sent, want: str) -> None:
    assert kind(detach().sent(outcome, 1.0)[1]) == want


def test_a_retryable_refusal_delays_the_next_look_by_its_back_off() -> None:
    _, d = detach().sent(refusal("Throttling", ErrorKind.RETRYABLE), 1.0)
    assert isinstance(d, Look) and d.at == pytest.approx(1.0 + 0.5 + 0.2)


def test_a_state_refusal_holds_the_next_detach_back_one_step_more_each_time() -> None:
    s, _ = detach().sent(refusal("IncorrectInstanceStatus"), 1.0)
    assert (s.refusals, s.hold_until) == (1, 2.0)
    s, _ = s.sent(refusal("IncorrectInstanceStatus"), 2.0)
    assert (s.refusals, s.hold_until) == (2, 4.0)
    s, _ = s.sent(ACCEPTED, 4.0)
    assert s.refusals == 0


def test_a_detach_refused_by_a_running_stop_to_attach_holder_stalls_at_once() -> None:
    s, d = detach().sent(refusal(INSTANCE_STATE_CODE), 1.0)
    assert d == Look(1.0, Target.STATUS) and s.last_error is not None
    _, end = s.seen(Status("Running"), 1.1)
    assert isinstance(end, Fail) and isinstance(end.error, DetachStalled)
    assert end.error.code == DETACH_REFUSED
    s2, d2 = s.seen(Status("Stopping"), 1.1)  # a transient state: backed off, then retried
    assert isinstance(d2, Look) and d2.target is Target.ENI and s2.refusals == 1


def test_a_detach_still_detaching_at_its_deadline_is_detach_stalled() -> None:
    s, _ = detach(accepted_at=0.0, sent_at=0.0, reissued=True).seen(eni(EniStatus.DETACHING, "i-a"), 29.0)
    error = s.expired()
    assert isinstance(error, DetachStalled) and "re-sent once" in str(error)
    assert detach().expired().code == errors.TIMEOUT


# ---------------------------------------------------------------------- attach

@pytest.mark.parametrize(("state", "read", "now", "want"), [
    (attach(), eni(EniStatus.IN_USE, "i-b"), 0.0, "Done"),
    (attach(), eni(EniStatus.AVAILABLE, None), 0.0, "Issue"),
    (attach(), eni(EniStatus.DETACHING, "i-a"), 0.0, "Look"),
    (attach(), eni(EniStatus.IN_USE, "i-a"), 0.0, "Fail"),  # held elsewhere: detach first
    (attach(), eni(EniStatus.ATTACHING, "i-b"), 0.0, "Look"),
    (attach(), eni(EniStatus.ATTACHING, None), 0.0, "Look"),  # ours or somebody's: InUse tells
    (attach(), eni(EniStatus.UNKNOWN, None), 0.0, "Look"),
    (attach(), eni(EniStatus.DELETING, None), 0.0, "Fail"),
    (attach(sent_at=0.0, accepted=1), eni(EniStatus.IN_USE, None), 1.0, "Look"),
    (attach(sent_at=0.0, accepted=1), eni(EniStatus.AVAILABLE, None), 1.0, "Look"),  # lag
    (attach(sent_at=0.0, accepted=1), eni(EniStatus.AVAILABLE, None), 3.0, "Issue"),  # lost
    (attach(sent_at=0.0, accepted=1, seen_attaching=True),
     eni(EniStatus.AVAILABLE, None), 1.0, "Issue"),  # failed: the one retry
    (attach(sent_at=0.0, accepted=2, seen_attaching=True),
     eni(EniStatus.AVAILABLE, None), 1.0, "Fail"),  # failed twice
    (attach(sent_at=0.0, accepted=1), eni(EniStatus.ATTACHING, None), 1.0, "Look"),
])
def test_attach_after_a_look(state: Attach, read: EniState, now: float, want: str) -> None:
    assert kind(state.seen(read, now)[1]) == want


def test_the_errors_name_both_holders_and_say_how_bad_they_are() -> None:
    _, other = detach().seen(eni(EniStatus.ATTACHING, "i-c"), 0.0)
    assert isinstance(other, Fail) and isinstance(other.error, ApiError)
    assert other.error.kind is ErrorKind.CONFLICT and "i-c" in str(other.error)
    _, elsewhere = attach().seen(eni(EniStatus.IN_USE, "i-a"), 0.0)
    assert isinstance(elsewhere, Fail) and isinstance(elsewhere.error, ApiError)
    assert elsewhere.error.kind is ErrorKind.FATAL
    assert "i-a" in str(elsewhere.error) and "i-b" in str(elsewhere.error)
    _, gone = detach().seen(eni(EniStatus.DELETING, None), 0.0)
    assert isinstance(gone, Fail) and isinstance(gone.error, ApiError)
    assert gone.error.kind is ErrorKind.FATAL


def test_an_attach_refused_by_a_running_stop_to_attach_target_is_fatal_for_it() -> None:
    s, d = attach().sent(refusal(INSTANCE_STATE_CODE), 1.0)
    assert d == Look(1.0, Target.STATUS)
    _, end = s.seen(Status("Running"), 1.1)
    assert isinstance(end, Fail) and isinstance(end.error, ApiError)
    assert end.error.kind is ErrorKind.FATAL and "stop_to_attach_types" in str(end.error)


def test_an_attach_seen_attaching_then_available_is_counted_as_failed() -> None:
    s, _ = attach().sent(ACCEPTED, 0.0)
    s, _ = s.seen(eni(EniStatus.ATTACHING, "i-b"), 0.5)
    assert s.seen_attaching and s.accepted == 1


# ------------------------------------------------------------------ stop, start

def stop(**kw: Any) -> Stop:
    return Stop(30.0, 0.0, PLAN, PLANS, instance_id="i-a", **kw)


@pytest.mark.parametrize(("state", "status", "now", "want"), [
    (stop(), "Stopped", 0.0, "Done"),
    (stop(), None, 0.0, "Fail"),
    (stop(), "Running", 0.0, "Issue"),
    (stop(), "Starting", 0.0, "Issue"),
    (stop(), "Stopping", 0.0, "Look"),
    (stop(issued_at=0.0), "Running", 14.0, "Look"),
    (stop(issued_at=0.0), "Running", 15.0, "Issue"),  # half the timeout: once more
    (stop(issued_at=0.0, reissued=True), "Running", 20.0, "Look"),
])
def test_stop_after_a_look(state: Stop, status: str | None, now: float, want: str) -> None:
    assert kind(state.seen(Status(status), now)[1]) == want


def start(**kw: Any) -> Start:
    return Start(60.0, 0.0, PLAN, PLANS, instance_id="i-b", **kw)


@pytest.mark.parametrize(("state", "read", "want"), [
    (start(), Status("Running"), Done(False)),  # nothing to do
    (start(), Status("Stopped"), Issue(1.0)),
    (start(started=True), Status("Stopped"), "Look"),  # ours is under way
    (start(started=True), Status("Running"), Look(1.0, Target.AGENT)),
    (start(started=True), Agent(True), Done(True)),
    (start(started=True), Agent(False), "Look"),
    (start(), Status(None), "Fail"),
])
def test_start_after_a_look(state: Start, read: Status | Agent, want: object) -> None:
    got = state.seen(read, 1.0)[1]
    assert (kind(got) if isinstance(want, str) else got) == want


# --------------------------------------------------------------------- command

def command(**kw: Any) -> Command:
    return Command(10.0, 0.0, PLAN, PLANS, instance_id="i-b", command={"ClientToken": "t"}, **kw)


def test_a_command_is_retried_with_the_same_token_until_its_deadline() -> None:
    s, d = command().sent(refusal("ServiceUnavailable", ErrorKind.RETRYABLE), 1.0)
    assert d == Issue(1.5) and s.params() == {"ClientToken": "t"}
    assert isinstance(command().sent(refusal("ServiceUnavailable", ErrorKind.RETRYABLE), 9.5)[1], Fail)
    assert isinstance(command().sent(refusal("InvalidInstance", ErrorKind.FATAL), 1.0)[1], Fail)


def test_a_command_without_an_invoke_id_fails_and_one_with_it_is_looked_at() -> None:
    assert isinstance(command().sent(Sent(body={}), 1.0)[1], Fail)
    s, d = command().sent(Sent(body={"InvokeId": "t-1"}), 1.0)
    assert s.invoke_id == "t-1" and d == Look(1.2, Target.INVOCATION)
    _, aimed = command(aim=0.6).sent(Sent(body={"InvokeId": "t-1"}), 1.0)
    assert aimed == Look(1.6, Target.INVOCATION)  # where recent runs were seen done


def test_a_command_is_done_when_its_invocation_ends() -> None:
    s, _ = command().sent(Sent(body={"InvokeId": "t-1"}), 1.0)
    running = CommandResult("t-1", "Running", None, "")
    finished = CommandResult("t-1", "Success", 0, "ok")
    assert isinstance(s.seen(Invocation(running, 1.2), 1.2)[1], Look)
    assert s.seen(Invocation(finished, 1.4), 1.4)[1] == Done(finished)
    assert "still Pending" in str(s.expired())


# A release (`eni_id`): its call is booked only right after a look shows the ENI InUse elsewhere.

def test_a_command_with_an_eni_looks_at_it_before_its_call() -> None:
    assert command().call_at(1.0) == Issue(1.0)
    assert command(eni_id="eni-a").call_at(1.0) == Look(1.0, Target.ENI)


@pytest.mark.parametrize(("read", "want"), [
    (eni(EniStatus.IN_USE, "i-a"), "Issue"),  # served from elsewhere: send now
    (eni(EniStatus.IN_USE, "i-b"), "Fail"),  # back on it: never strip its addresses
    (eni(EniStatus.ATTACHING, "i-b"), "Fail"),
    (eni(EniStatus.DETACHING, "i-b"), "Fail"),
    (eni(EniStatus.AVAILABLE, None), "Look"),  # a move under way could bring it here: wait
    (eni(EniStatus.ATTACHING, "i-a"), "Look"),
    (eni(EniStatus.DETACHING, "i-a"), "Look"),
    (eni(EniStatus.UNKNOWN, "i-a"), "Look"),
])
def test_a_release_after_its_look_at_the_eni(read: EniState, want: str) -> None:
    s, d = command(eni_id="eni-a").seen(read, 1.0)
    assert kind(d) == want and s.eni == read
    if isinstance(d, Issue):
        assert d == Issue(1.0)  # at once: the read is as fresh as it gets
    if isinstance(d, Look):
        assert d.target is Target.ENI and 1.0 < d.at <= 10.0
    if isinstance(d, Fail):
        assert isinstance(d.error, CloudError) and d.error.code == errors.WRONG_HOLDER
        assert "i-b holds ENI eni-a" in str(d.error)


def test_a_release_refused_for_now_looks_at_the_eni_again_before_it_retries() -> None:
    s, d = command(eni_id="eni-a").sent(refusal("ServiceUnavailable", ErrorKind.RETRYABLE), 1.0)
    assert d == Look(1.5, Target.ENI) and s.last_error is not None


def test_a_release_that_never_saw_the_eni_elsewhere_says_where_it_was() -> None:
    s, _ = command(eni_id="eni-a").seen(eni(EniStatus.DETACHING, "i-a"), 1.0)
    assert "not accepted after 10 s (last seen Detaching on i-a)" in str(s.expired())
