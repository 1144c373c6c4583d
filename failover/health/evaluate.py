"""A round's results folded into hysteresis state and member verdicts (pure).

Also the arithmetic of late rounds, kept here so it is tested without a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from failover.config import GroupConfig
from failover.health.hysteresis import UNKNOWN, CheckState, after_probe, member_reason, member_up
from failover.health.plan import check_label
from failover.model import ProbeOutcome

StateKey = tuple[str, str, str]  # (group, instance, check key)


@dataclass(frozen=True)
class MemberHealth:
    group: str
    instance: str
    up: bool | None  # None: not decided yet (too few results in a row)
    reason: str  # why it is down: "0:tcp:80: refused; ..."
    checks: tuple[tuple[str, CheckState], ...]


def check_keys(group: GroupConfig) -> list[str]:
    return [f"{i}:{check_label(c)}" for i, c in enumerate(group.checks)]


def going_down_results(groups: Sequence[GroupConfig], instance: str,
                       reason: str) -> list[tuple[StateKey, ProbeOutcome]]:
    """A member's own word that it is going down, as a definitive failure of each of its checks
    in every group it belongs to (the cloud's Stopping is taken the same way)."""
    return [((g.name, instance, k), ProbeOutcome(False, reason, definitive=True))
            for g in groups if instance in g.members for k in check_keys(g)]


def held_down(outcome: ProbeOutcome | None, held: bool, reason: str) -> ProbeOutcome | None:
    """A probe result for a member whose stop notice still holds: its service may answer a
    moment longer while it drains, which must not bring it back up."""
    if not held or outcome is None or not outcome.ok:
        return outcome
    return ProbeOutcome(False, reason, outcome.duration_s, definitive=True)


def apply_results(
    states: Mapping[StateKey, CheckState],
    results: Iterable[tuple[StateKey, ProbeOutcome | None]],
    thresholds: Mapping[str, tuple[int, int]],
) -> dict[StateKey, CheckState]:
    """New states after a round. `thresholds`: group -> (fall, rise).

    A result of None (no evidence) leaves the state as it was.
    """
    out = dict(states)
    for key, outcome in results:
        if outcome is None:
            continue
        fall, rise = thresholds[key[0]]
        out[key] = after_probe(out.get(key, UNKNOWN), outcome.ok, fall, rise, outcome.reason,
                               outcome.definitive)
    return out


def member_health(
    groups: Sequence[GroupConfig], states: Mapping[StateKey, CheckState],
    keys_of: Mapping[str, Sequence[str]] | None = None,
) -> list[MemberHealth]:
    """`keys_of`: each group's `check_keys`, when the caller keeps them (a round per second)."""
    out: list[MemberHealth] = []
    for g in groups:
        keys = keys_of[g.name] if keys_of is not None else check_keys(g)
        for m in g.members:
            checks = tuple((k, states.get((g.name, m, k), UNKNOWN)) for k in keys)
            up = member_up(s for _, s in checks)
            out.append(MemberHealth(g.name, m, up, member_reason(checks), checks))
    return out


def effective_jitter(interval_s: float, jitter_s: float) -> float:
    """Jitter is capped below half the interval so a skipped round stays recognisable."""
    return max(0.0, min(jitter_s, 0.4 * interval_s))


def missed_rounds(gap_s: float, interval_s: float) -> int:
    """Rounds skipped between two rounds whose fires were `gap_s` apart.

    Fire k is at start + k * interval + a jitter below 0.4 * interval, so a
    gap of n intervals means n - 1 fires were skipped.
    """
    if gap_s <= 0:
        return 0
    return max(0, math.floor(gap_s / interval_s + 0.5) - 1)


def grid_start(now_s: float, interval_s: float, phase_s: float = 0.0, lead_s: float = 0.01) -> float:
    """The first fire at or after `now_s + lead_s` on the wall-clock grid `k * interval + phase`.

    Every replica probes on the same grid (their clocks are NTP-synced), so a failure is seen
    by all of them in the same round: a quorum of n agrees one round after the first failure
    is seen, not up to an interval later, as with each replica's own random phase.
    """
    k = math.ceil((now_s + lead_s - phase_s) / interval_s)
    return k * interval_s + phase_s


def evidence_time(v: MemberHealth, check_at: Mapping[StateKey, float], now: float) -> float:
    """When a replica last had evidence about the member behind `v` (`check_at`: each check's
    last outcome): for an "up", its newest check outcome; for a "down", its newest down
    check's. Not the oldest check's: a cloud whose status calls are throttled (a zone outage)
    would then age out every standby's "up" on a fresh tcp probe and block the failovers the
    outage needs. A member no check of which finishes stops counting."""
    checks = [c for c, s in v.checks if v.up is not False or s.up is False]
    return max((check_at[k] for c in checks if (k := (v.group, v.instance, c)) in check_at), default=now)


def aged(v: MemberHealth, at: float, now: float, max_age_s: float) -> MemberHealth:
    """`v`, or `v` undecided when its evidence (from `at`) is older than `max_age_s`."""
    age = now - at
    if v.up is None or age <= max_age_s:
        return v
    return replace(v, up=None, reason=f"no evidence for {age:.0f} s (last: {v.reason or 'up'})")
