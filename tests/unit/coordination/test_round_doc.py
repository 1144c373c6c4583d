"""The round-times document: a group's time for every reader, lagging members listed apart."""

from __future__ import annotations

from typing import Any

from failover.coordination.rounds import MEMBERS, RoundTimes, _lags


def _doc(notes: list[tuple[str, float, str]]) -> dict[str, object]:
    rt = RoundTimes(coord=None)  # type: ignore[arg-type]  # no I/O in note/_doc
    for group, at, instance in notes:
        rt.note(group, at, instance)
    return rt._doc()


def test_members_in_step_with_their_group_are_not_listed() -> None:
    doc = _doc([("web", 100.0, "i-a"), ("web", 100.0, "i-b"), ("db", 99.5, "i-c")])
    assert doc == {"web": 100.0, "db": 99.5}  # what an older reader reads, unchanged


def test_a_lagging_member_is_listed_with_its_own_time_and_its_lag_read_back() -> None:
    doc = _doc([("web", 100.0, "i-a"), ("web", 100.0, "i-b"), ("web", 104.0, "i-a")])
    assert doc["web"] == 104.0
    assert doc[MEMBERS] == {"web": {"i-b": 100.0}}
    assert _lags(doc) == {("web", "i-b"): 4.0}


def test_garbage_in_the_members_part_is_ignored() -> None:
    bad: dict[str, Any] = {"web": 10.0, MEMBERS: {"web": {"i-a": "x"}, "db": {"i-b": 1.0}}}
    assert _lags(bad) == {}  # no number, or no group time to lag behind
    assert _lags({"web": 10.0, MEMBERS: []}) == {}
