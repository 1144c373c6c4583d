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
class Step:
    next: Next
    message: str = ""
    kind: ErrorKind = ErrorKind.FATAL
    code: str = ""


DONE = Step(Next.DONE)
WAIT = Step(Next.WAIT)
ISSUE = Step(Next.ISSUE)


def _deleting(state: EniState) -> Step:
    return Step(Next.FAIL, f"ENI {state.eni_id} is being deleted", ErrorKind.FATAL, errors.NOT_FOUND)


def attach_step(state: EniState, target: str, *, issued: bool, seen_attaching: bool,
                available_after_issue: int) -> Step:
    """Next move of an attach of `state.eni_id` to `target`.

    `available_after_issue` counts the reads showing Available since our call:
    one may just be the cloud not showing the call yet; two, or one after the
    ENI was seen Attaching, mean the attach failed and fell back.
    """
    holder = state.instance_id
    if state.status is EniStatus.DELETING:
        return _deleting(state)
    if state.status is EniStatus.UNKNOWN:
        return WAIT  # never act on a status we cannot read; the deadline ends the wait
    if state.status in (EniStatus.IN_USE, EniStatus.ATTACHING):
        if holder == target:
            return DONE if state.status is EniStatus.IN_USE else WAIT
        return Step(
            Next.FAIL,
            f"ENI {state.eni_id} is attached to {holder or 'another instance'}, not {target}; "
            "detach it first",
            ErrorKind.FATAL, errors.WRONG_HOLDER,
        )
    if state.status is EniStatus.DETACHING:
        return WAIT  # the previous holder is letting go; attach once it is Available
    if issued and (seen_attaching or available_after_issue >= 2):
        return Step(
            Next.FAIL,
            f"attach of ENI {state.eni_id} to {target} failed: the ENI went back to Available",
            ErrorKind.RETRYABLE, errors.ATTACH_FAILED,
        )
    return WAIT if issued else ISSUE


def detach_step(state: EniState, instance: str) -> Step:
    """Next move of a detach of `state.eni_id` from `instance`."""
    holder = state.instance_id
    if state.status is EniStatus.AVAILABLE:
        return DONE
    if state.status is EniStatus.DELETING:
        return _deleting(state)
    if state.status in (EniStatus.DETACHING, EniStatus.UNKNOWN):
        return WAIT
    if holder is not None and holder != instance:
        return Step(
            Next.FAIL,
            f"ENI {state.eni_id} is {'attached' if state.status is EniStatus.IN_USE else 'attaching'} "
            f"to {holder}, not {instance}; refusing to detach it from another holder",
            ErrorKind.CONFLICT, errors.WRONG_HOLDER,
        )
    if state.status is EniStatus.ATTACHING:
        return WAIT  # let the attach land, then detach it
    return ISSUE


def stop_step(status: str | None, instance_id: str) -> Step:
    """Next move of a forced stop, from DescribeInstanceStatus's answer."""
    if status is None:
        return Step(Next.FAIL, f"instance {instance_id} not found", ErrorKind.FATAL, errors.NOT_FOUND)
    if status == "Stopped":
        return DONE
    if status == "Stopping":
        return WAIT
    return ISSUE
