"""quorum_verdict: majority / all / a number over live replicas' votes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover.quorum import QuorumSpec, quorum_verdict, votes_needed


@pytest.mark.parametrize(("votes", "live", "quorum", "expected"), [
    ({"a": False, "b": False, "c": True}, 3, "majority", False),
    ({"a": True, "b": True, "c": False}, 3, "majority", True),
    ({"a": True, "b": False}, 3, "majority", None),  # c has not voted: no side has 2
    ({"a": False, "b": False, "c": True}, 3, "all", None),
    ({"a": False, "b": False, "c": False}, 3, "all", False),
    ({"a": False}, 1, "majority", False),  # a lone replica decides alone
    ({"a": False, "b": True}, 2, "majority", None),  # two replicas must agree
    ({"a": False, "b": True}, 3, 1, False),  # both sides qualify: down wins
    ({"a": True}, 3, 2, None),
    ({"a": False, "b": False}, 2, 3, None),  # an absolute number is not capped by live
    ({}, 3, "majority", None),
    ({"a": True}, 0, "majority", None),
])
def test_verdicts(votes: dict[str, bool], live: int, quorum: QuorumSpec, expected: bool | None) -> None:
    assert quorum_verdict(votes, live, quorum) is expected


@pytest.mark.parametrize("bad", [0, -1, "most", True, 1.5])
def test_bad_quorum_names_the_argument(bad: object) -> None:
    with pytest.raises(ValueError, match="quorum"):
        votes_needed(3, bad)  # type: ignore[arg-type]  # wrong on purpose: the check under test


def test_negative_live_is_refused() -> None:
    with pytest.raises(ValueError, match="live"):
        votes_needed(-1, "majority")


@given(st.dictionaries(st.sampled_from("abcde"), st.booleans()), st.integers(1, 5))
def test_majority_never_reaches_both_verdicts(votes: dict[str, bool], live: int) -> None:
    verdict = quorum_verdict(votes, max(live, len(votes)), "majority")
    ups = sum(votes.values())
    downs = len(votes) - ups
    if verdict is True:
        assert ups > downs
    if verdict is False:
        assert downs > ups


@given(st.integers(min_value=2, max_value=7))
def test_a_lone_replica_voting_down_causes_no_failover(live: int) -> None:
    votes = {f"ctl-{i}": True for i in range(1, live)} | {"ctl-0": False}
    assert quorum_verdict(votes, live, "majority") is not False
    assert quorum_verdict({"ctl-0": False}, live, "majority") is not False


def test_an_integer_quorum_is_a_floor() -> None:
    # One surviving replica cannot reach `quorum: 2` alone, either way.
    assert quorum_verdict({"a": False}, 1, 2) is None
    assert quorum_verdict({"a": False, "b": False}, 3, 2) is False


def test_a_configured_electorate_survives_a_partition() -> None:
    from failover.quorum import electorate
    # Three replicas deployed; a partition leaves one in touch with ZooKeeper.
    assert electorate(1, 3) == 3
    assert quorum_verdict({"a": False}, electorate(1, 3), "majority") is None  # one view never decides
    assert quorum_verdict({"a": False}, electorate(1, None), "majority") is False  # the weaker rule
    assert electorate(4, 3) == 4  # a rolling upgrade's extra replica is counted too
    assert electorate(0, None) == 1


def test_a_vote_counts_a_few_intervals() -> None:
    from failover.quorum import VOTE_ROUNDS, vote_max_age
    assert vote_max_age(1.0) == VOTE_ROUNDS * 1.0 + 3.0
    assert vote_max_age(10.0) > vote_max_age(1.0)
