"""Folding a round into states and verdicts; the arithmetic of missed rounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from failover.config import GroupConfig
from failover.health.evaluate import (
    apply_results,
    effective_jitter,
    grid_start,
    member_health,
    missed_rounds,
)
from failover.health.hysteresis import CheckState
from failover.model import ProbeOutcome

G = GroupConfig.model_validate({
    "name": "db", "network_interface": "eni-1", "members": ["i-a", "i-b"],
    "checks": [{"type": "tcp", "port": 5432}, {"type": "ecs_status"}],
    "health": {"fall": 2, "rise": 1},
})


def test_no_evidence_leaves_the_state_alone() -> None:
    key = ("db", "i-a", "1:ecs_status")
    states = {key: CheckState(up=True, successes=1)}
    assert apply_results(states, [(key, None)], {"db": (2, 1)}) == states


def test_members_decided_from_all_their_checks() -> None:
    ok, bad = ProbeOutcome(True), ProbeOutcome(False, "refused")
    results = [
        (("db", "i-a", "0:tcp:5432"), ok), (("db", "i-a", "1:ecs_status"), ok),
        (("db", "i-b", "0:tcp:5432"), bad), (("db", "i-b", "1:ecs_status"), ok),
    ]
    states = apply_results({}, results, {"db": (2, 1)})
    states = apply_results(states, results, {"db": (2, 1)})
    verdicts = {v.instance: v for v in member_health([G], states)}
    assert verdicts["i-a"].up is True
    assert verdicts["i-b"].up is False
    assert verdicts["i-b"].reason == "0:tcp:5432: refused"


def test_a_member_never_probed_is_unknown() -> None:
    assert {v.up for v in member_health([G], {})} == {None}


def test_missed_rounds_examples() -> None:
    assert missed_rounds(1.0, 1.0) == 0
    assert missed_rounds(2.0, 1.0) == 1
    assert missed_rounds(5.0, 1.0) == 4
    assert missed_rounds(1.39, 1.0) == 0
    assert missed_rounds(0.62, 1.0) == 0
    assert missed_rounds(0.0, 1.0) == 0
    assert effective_jitter(1.0, 3.0) == 0.4
    assert effective_jitter(1.0, 0.1) == 0.1


@given(
    st.floats(min_value=0.05, max_value=60),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=500),
)
def test_missed_rounds_recovers_the_count_despite_jitter(
    interval: float, jitter_share: float, u1: float, u2: float, skipped: int
) -> None:
    jitter = effective_jitter(interval, interval * jitter_share)
    # Fire k is at k * interval + U(0, jitter): two fires skipped+1 slots apart.
    gap = (skipped + 1) * interval + jitter * (u2 - u1)
    assert missed_rounds(gap, interval) == skipped


@given(st.floats(1e9, 2e9), st.floats(1.0, 2e3), st.sampled_from([0.2, 0.5, 1.0, 5.0]),
       st.floats(0.0, 0.99))
def test_replicas_started_apart_fire_on_the_same_grid(now: float, later: float, interval: float,
                                                      phase_share: float) -> None:
    phase = phase_share * interval
    a, b = grid_start(now, interval, phase), grid_start(now + later, interval, phase)
    assert now + 0.01 <= a < now + 0.01 + interval + 1e-6  # the next slot, never a past one
    slots = (b - a) / interval
    assert abs(slots - round(slots)) < 1e-6  # the later replica's fires coincide with the first's
    assert abs(((a - phase) / interval) - round((a - phase) / interval)) < 1e-6
