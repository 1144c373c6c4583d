"""Fault rules and the QPS window, with an explicit clock."""

from __future__ import annotations

import pytest

from failover.sim.faults import Faults, FaultSpecError, parse_rule


def test_count_rules_fire_exactly_n_times_on_their_action() -> None:
    f = Faults()
    f.add(parse_rule({"action": "A", "code": "X", "status": 503, "count": 2}))
    assert f.judge("B", 0).error is None
    assert [f.judge("A", 0).error is not None for _ in range(3)] == [True, True, False]


def test_probability_is_seeded_and_bounded() -> None:
    fires = []
    for _ in range(2):
        f = Faults(seed=3)
        f.add(parse_rule({"code": "X", "probability": 0.5}))
        fires.append([f.judge("A", 0).error is not None for _ in range(50)])
    assert fires[0] == fires[1] and 5 < sum(fires[0]) < 45


def test_qps_window_and_retry_after() -> None:
    f = Faults()
    f.set_qps("A", 2)
    assert f.judge("A", 10.0).error is None and f.judge("A", 10.2).error is None
    err = f.judge("A", 10.5).error
    assert err is not None and err.code == "Throttling.User" and err.retry_after_ms == 501
    assert f.judge("A", 11.01).error is None  # the first call left the window


def test_a_limit_for_every_action_counts_each_action_on_its_own() -> None:
    f = Faults()
    f.set_qps("*", 2)
    f.set_qps("B", 3)  # an action's own limit wins over `*`
    assert all(f.judge(a, 10.0).error is None for a in ("A", "A", "C", "C", "B", "B", "B"))
    assert f.judge("A", 10.1).error is not None and f.judge("B", 10.1).error is not None
    assert f.judge("D", 10.1).error is None
    f.set_qps("*", None)
    assert f.judge("A", 10.2).error is None and f.judge("B", 10.2).error is not None


def test_delay_and_drop_without_error() -> None:
    f = Faults()
    f.add(parse_rule({"action": "A", "drop_connection": True, "delay_s": 0.5, "count": 1}))
    f.set_latency("A", 0.25)
    v = f.judge("A", 0)
    assert (v.drop, v.error, v.delay_s) == (True, None, 0.75)


@pytest.mark.parametrize(
    "spec",
    [
        {"status": 200, "code": "X"},
        {"probability": 2, "code": "X"},
        {"nope": 1},
        {"count": 0, "code": "X"},
        {},
        "text",
    ],
)
def test_bad_rules_are_refused(spec: object) -> None:
    with pytest.raises(FaultSpecError):
        parse_rule(spec)
