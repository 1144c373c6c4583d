"""What to do next in an attach, a detach or a stop, decided from the state just read.

Attach and detach carry no ClientToken, so they are made idempotent here: the
adapter reads the state, asks these pure functions, and acts only on ISSUE.
A move cut short (by a crash, a new leader, a timeout) is resumed simply by
running it again: "already attached to the target" is DONE, "already
detaching" is WAIT.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from failover.cloud import errors
from failover.model import EniState, EniStatus, ErrorKind


class Next(enum.Enum):
    DONE = "done"
    WAIT = "wait"
    ISSUE = "issue"
    FAIL = "fail"


@dataclass(frozen=True)
class NextMove:
    """What an attach, a detach or a stop does next (and, on FAIL, the error to raise)."""

    next: Next
    message: str = ""
    kind: ErrorKind = ErrorKind.FATAL
    code: str = ""


DONE = NextMove(Next.DONE)
WAIT = NextMove(Next.WAIT)
ISSUE = NextMove(Next.ISSUE)


def _deleting(state: EniState) -> NextMove:
    return NextMove(Next.FAIL, f"ENI {state.eni_id} is being deleted", ErrorKind.FATAL, errors.NOT_FOUND)


def attach_next(state: EniState, target: str, *, issued: bool, seen_attaching: bool,
                lag_over: bool = False) -> NextMove:
    """Next move of an attach of `state.eni_id` to `target`.

    Describes may lag an accepted call (the ENI still shows Available), so Available after
    our call is a failed attach only once the ENI was seen Attaching since: evidence lag
    cannot produce. Available with no sign of our call past the lag allowance (`lag_over`)
    is re-issued: if the call did land, the cloud refuses the second one (the ENI is busy)
    and the next read tells. The cloud may leave InstanceId empty while Attaching: after our
    call that is taken as ours (a wrong holder shows when it turns InUse).
    """
    holder = state.instance_id
    if state.status is EniStatus.DELETING:
        return _deleting(state)
    if state.status is EniStatus.UNKNOWN:
        return WAIT  # never act on a status we cannot read; the deadline ends the wait
    if state.status is EniStatus.ATTACHING and holder is None:
        return WAIT  # ours (issued) or somebody's: its InUse names the holder
    if state.status in (EniStatus.IN_USE, EniStatus.ATTACHING):
        if holder == target:
            return DONE if state.status is EniStatus.IN_USE else WAIT
        if holder is None:
            return WAIT  # InUse without a holder yet: read again
        return NextMove(
            Next.FAIL,
            f"ENI {state.eni_id} is attached to {holder}, not {target}; detach it first",
            ErrorKind.FATAL, errors.WRONG_HOLDER,
        )
    if state.status is EniStatus.DETACHING:
        return WAIT  # the previous holder is letting go; attach once it is Available
    if issued and seen_attaching:
        return NextMove(
            Next.FAIL,
            f"attach of ENI {state.eni_id} to {target} failed: the ENI went back to Available",
            ErrorKind.RETRYABLE, errors.ATTACH_FAILED,
        )
    return ISSUE if not issued or lag_over else WAIT


def detach_next(state: EniState, instance: str) -> NextMove:
    """Next move of a detach of `state.eni_id` from `instance`."""
    holder = state.instance_id
    if state.status is EniStatus.AVAILABLE:
        return DONE
    if state.status is EniStatus.DELETING:
        return _deleting(state)
    if state.status in (EniStatus.DETACHING, EniStatus.UNKNOWN):
        return WAIT
    if holder is not None and holder != instance:
        return NextMove(
            Next.FAIL,
            f"ENI {state.eni_id} is {'attached' if state.status is EniStatus.IN_USE else 'attaching'} "
            f"to {holder}, not {instance}; refusing to detach it from another holder",
            ErrorKind.CONFLICT, errors.WRONG_HOLDER,
        )
    if state.status is EniStatus.ATTACHING:
        return WAIT  # let the attach land, then detach it
    return ISSUE


def stop_next(status: str | None, instance_id: str) -> NextMove:
    """Next move of a forced stop, from DescribeInstanceStatus's answer."""
    if status is None:
        return NextMove(Next.FAIL, f"instance {instance_id} not found", ErrorKind.FATAL, errors.NOT_FOUND)
    if status == "Stopped":
        return DONE
    if status == "Stopping":
        return WAIT
    return ISSUE
