"""Rise/fall hysteresis per (group, member, check): pure state and transitions.

HAProxy's documented semantics: `fall` consecutive failures take a check
down, `rise` consecutive successes bring it back up; any result of the other
kind resets the streak. A check starts *unknown* and stays so until it has
seen `rise` successes or `fall` failures in a row (or one definitive failure): a controller that has just
started has no evidence either way, and an unknown primary is never a reason
to fail over (the quorum counts no vote for it). A member is up when all its
checks are up, down as soon as one is down, unknown otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckState:
    up: bool | None = None  # None: not yet decided
    successes: int = 0  # current streak of successes
    failures: int = 0  # current streak of failures
    reason: str = ""  # the last failure's reason ("" after a success)


UNKNOWN = CheckState()


def after_probe(state: CheckState, ok: bool, fall: int, rise: int, reason: str = "",
         definitive: bool = False) -> CheckState:
    """The state after one probe result. Streaks are capped so they stay small. A definitive
    failure (the cloud reports the instance stopping) counts as a whole streak: keepalived's
    priority-0 advert on a graceful stop, by other means."""
    if fall < 1 or rise < 1:
        raise ValueError(f"fall and rise must be at least 1 (got fall={fall}, rise={rise})")
    if ok:
        successes = min(state.successes + 1, rise)
        up = True if successes >= rise else state.up
        after = (up, successes, 0, "")
    else:
        failures = fall if definitive else min(state.failures + 1, fall)
        up = False if failures >= fall else state.up
        after = (up, 0, failures, reason or "failed")
    if after == (state.up, state.successes, state.failures, state.reason):
        return state  # steady: the same state, not a new one for every probe of every round
    return CheckState(*after)


def member_up(states: Iterable[CheckState]) -> bool | None:
    """All checks up: up. Any check down: down. Otherwise unknown."""
    verdict: bool | None = True
    for s in states:
        if s.up is False:
            return False
        if s.up is None:
            verdict = None
    return verdict


def member_reason(states: Iterable[tuple[str, CheckState]]) -> str:
    """Why a member is down: the down checks with their last failure, in order."""
    return "; ".join(f"{key}: {s.reason}" for key, s in states if s.up is False)
