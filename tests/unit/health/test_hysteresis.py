"""Rise/fall hysteresis: HAProxy's consecutive-result semantics, as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover.health.hysteresis import UNKNOWN, CheckState, after_probe, member_reason, member_up

results = st.lists(st.booleans(), max_size=60)
thresholds = st.integers(min_value=1, max_value=6)


def run(seq: list[bool], fall: int, rise: int, start: CheckState = UNKNOWN) -> list[CheckState]:
    states = [start]
    for ok in seq:
        states.append(after_probe(states[-1], ok, fall, rise, "" if ok else "refused"))
    return states


@given(results, thresholds, thresholds)
def test_no_flip_down_before_fall_consecutive_failures(seq: list[bool], fall: int, rise: int) -> None:
    states = run(seq, fall, rise)
    for i in range(1, len(states)):
        if states[i].up is False and states[i - 1].up is not False:
            window = seq[max(0, i - fall) : i]
            assert len(window) == fall and not any(window), (seq[:i], fall)


@given(results, thresholds, thresholds)
def test_no_flip_up_before_rise_consecutive_successes(seq: list[bool], fall: int, rise: int) -> None:
    states = run(seq, fall, rise)
    for i in range(1, len(states)):
        if states[i].up is True and states[i - 1].up is not True:
            window = seq[max(0, i - rise) : i]
            assert len(window) == rise and all(window), (seq[:i], rise)


@given(results, thresholds, thresholds)
def test_streaks_always_decide(seq: list[bool], fall: int, rise: int) -> None:
    """After `fall` failures in a row a check is down, after `rise` successes up."""
    states = run(seq, fall, rise)
    for i in range(1, len(states)):
        if i >= fall and not any(seq[i - fall : i]):
            assert states[i].up is False
        if i >= rise and all(seq[i - rise : i]):
            assert states[i].up is True


@given(results, thresholds, thresholds, st.sampled_from([True, False]))
def test_a_decided_state_never_returns_to_unknown(seq: list[bool], fall: int, rise: int, up: bool) -> None:
    assert all(s.up is not None for s in run(seq, fall, rise, CheckState(up=up)))


def test_starts_unknown_until_a_streak() -> None:
    states = run([True, False, True, False, True], fall=3, rise=2)
    assert [s.up for s in states] == [None] * 6
    assert run([True, True], fall=3, rise=2)[-1].up is True
    assert run([False, False], fall=3, rise=2)[-1].up is None
    assert run([False, False, False], fall=3, rise=2)[-1].up is False


def test_a_success_resets_the_failure_streak() -> None:
    states = run([False, False, True, False, False], fall=3, rise=2, start=CheckState(up=True))
    assert all(s.up is True for s in states)
    down = run([False, False, True, False, False, False], fall=3, rise=2, start=CheckState(up=True))
    assert down[-1].up is False
    assert down[-1].reason == "refused"


def test_reason_kept_while_down_and_cleared_by_success() -> None:
    s = after_probe(CheckState(up=True), False, 1, 2, "timeout")
    assert (s.up, s.reason) == (False, "timeout")
    s = after_probe(s, True, 1, 2)
    assert (s.up, s.reason) == (False, "")


def test_thresholds_below_one_are_rejected() -> None:
    with pytest.raises(ValueError, match="fall"):
        after_probe(UNKNOWN, True, 0, 1)
    with pytest.raises(ValueError, match="rise"):
        after_probe(UNKNOWN, True, 1, 0)


@given(st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=6))
def test_member_is_up_only_when_all_checks_are_up(ups: list[bool | None]) -> None:
    verdict = member_up(CheckState(up=u) for u in ups)
    if False in ups:
        assert verdict is False
    elif None in ups:
        assert verdict is None
    else:
        assert verdict is True


def test_member_reason_names_the_down_checks() -> None:
    checks = [
        ("0:tcp:80", CheckState(up=True)),
        ("1:http", CheckState(up=False, failures=3, reason="status 500")),
        ("2:command", CheckState(up=False, failures=3, reason="exit 1")),
    ]
    assert member_reason(checks) == "1:http: status 500; 2:command: exit 1"


@given(st.lists(st.booleans(), max_size=20), thresholds, thresholds)
def test_one_definitive_failure_takes_any_state_down(seq: list[bool], fall: int, rise: int) -> None:
    before = run(seq, fall, rise)[-1]
    after = after_probe(before, False, fall, rise, "stopping", definitive=True)
    assert after.up is False and after.failures == fall and after.reason == "stopping"
    back = run([True] * rise, fall, rise, after)
    assert all(s.up is False for s in back[:-1]) and back[-1].up is True
