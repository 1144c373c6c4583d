"""Rounds that overrun their deadline (issue 23b), in fake time with a fake round runner.

The runner stands in for the probe loop (our own seam, `RoundRunner`): it says which probes
finished before the deadline, and raises TimeoutError for an abandoned round, as
`ProbeLoop.run` does. The checks are never really probed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from failover import quorum
from failover.config import GroupConfig
from failover.health.evaluate import forget_stale, oldest_evidence
from failover.health.hysteresis import CheckState
from failover.health.monitor import HealthMonitor
from failover.health.plan import ProbeSpec
from failover.health.probes import ProbeResult, StatusFetcher, unfinished_as_unprobed
from failover.model import ProbeOutcome
from failover.records import Observation
from harness.clock import FakeClock

# Which members' probes finish this round, and how; abandoned: the round overran.
Round = tuple[dict[str, bool], bool]


class FakeRunner:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.next: Round = ({}, False)

    def __call__(self, specs: Sequence[ProbeSpec], fetch: StatusFetcher | None, deadline_s: float,
                 finished: list[ProbeResult]) -> list[ProbeResult]:
        outcomes, abandoned = self.next
        for s in specs:
            if s.instance in outcomes:
                ok = outcomes[s.instance]
                finished.append(ProbeResult(s, ProbeOutcome(ok, "" if ok else "refused"), self.clock()))
        if abandoned:
            raise TimeoutError("probe round did not finish")
        return list(finished)


def make(fall: int = 2, rise: int = 2, addresses: dict[str, str] | None = None,
         gone: set[str] | None = None) -> tuple[HealthMonitor, FakeRunner, FakeClock,
                                                list[Observation], Callable[[Round], None]]:
    g = GroupConfig.model_validate({
        "name": "a", "network_interface": "eni-a", "members": ["i-1", "i-2"],
        "checks": [{"type": "tcp", "port": 80}],
        "health": {"fall": fall, "rise": rise, "interval_s": 1},
    })
    clock = FakeClock()
    runner = FakeRunner(clock)
    seen: list[Observation] = []
    where = {"i-1": "10.0.0.1", "i-2": "10.0.0.2"} if addresses is None else addresses
    m = HealthMonitor([g], controller_id="c", addresses=lambda: where, sink=seen.append,
                      clock=clock, run_probes=runner, missing=lambda: gone or set())
    (job,) = m.job_ids

    def round_(r: Round) -> None:
        runner.next = r
        m.run_round(job)
        clock.t += 1.0  # the group's interval

    return m, runner, clock, seen, round_


BOTH_UP = ({"i-1": True, "i-2": True}, False)
MAX_AGE = quorum.vote_max_age(1.0)  # 6 s at a 1 s interval


def test_an_abandoned_round_keeps_the_probes_that_finished() -> None:
    m, _, _, _, round_ = make(fall=2, rise=2)
    round_(BOTH_UP)
    round_(BOTH_UP)
    assert m.member_up("a", "i-1") is True
    round_(({"i-1": False}, True))  # overran: i-1's failure finished, i-2's probe did not
    round_(({"i-1": False}, True))
    assert m.member_up("a", "i-1") is False  # two recorded failures: fall
    assert m.member_up("a", "i-2") is True  # not probed twice is not two failures
    assert m.rounds_missed == 2


def test_unfinished_probes_never_count_as_failures() -> None:
    m, _, _, seen, round_ = make(fall=1, rise=1)
    round_(BOTH_UP)
    for _ in range(int(MAX_AGE) + 3):
        round_(({}, True))
    assert [o.up for o in seen if o.up is False] == []  # no down vote on no evidence
    assert m.member_up("a", "i-1") is None  # and no up vote either, after the bound


def test_when_rounds_keep_overrunning_the_vote_time_stops_and_the_members_go_unknown() -> None:
    m, _, clock, seen, round_ = make()
    round_(BOTH_UP)
    round_(BOTH_UP)
    last_evidence = clock.t - 1.0
    assert {o.at for o in seen[-2:]} == {last_evidence}
    published = len(seen)
    for _ in range(int(MAX_AGE) - 1):
        round_(({}, True))
    # Within the bound the old verdicts stand, and the round time they carry does not advance.
    assert m.member_up("a", "i-1") is True
    assert {o.at for o in seen[published:]} == {last_evidence}
    round_(({}, True))
    round_(({}, True))
    assert m.member_up("a", "i-1") is None and m.member_up("a", "i-2") is None
    shown = m.verdicts()["a"]["i-1"]
    assert shown.up is None and shown.reason.startswith("no probe result for")
    late = len(seen)
    round_(({}, True))
    assert seen[late:] == []  # this replica no longer votes on them


def test_a_member_left_unprobed_holds_its_groups_vote_time_back() -> None:
    """i-1's probes finish every round, i-2's never: i-1 stays up, i-2 ages to unknown, and
    every vote on the group carries i-2's last evidence time, so the leader's timed votes stop
    counting this replica on the group instead of counting i-2's stale "up"."""
    m, _, clock, seen, round_ = make()
    round_(BOTH_UP)
    round_(BOTH_UP)
    i2_last = clock.t - 1.0
    mark = len(seen)
    for _ in range(int(MAX_AGE) + 2):
        round_(({"i-1": True}, True))
    assert m.member_up("a", "i-1") is True
    assert m.member_up("a", "i-2") is None
    assert {o.at for o in seen[mark:]} == {i2_last}
    assert {o.instance for o in seen[-1:]} == {"i-1"}


def test_a_gone_members_failures_do_not_freshen_its_neighbours_stale_votes() -> None:
    """A member DescribeInstances no longer lists fails every round without a probe; before,
    that advanced the group's round time and carried i-1's stale "up" along with it."""
    addresses = {"i-1": "10.0.0.1", "i-2": "10.0.0.2"}
    gone: set[str] = set()
    m, _, clock, seen, round_ = make(fall=2, rise=2, addresses=addresses, gone=gone)
    round_(BOTH_UP)
    round_(BOTH_UP)
    i1_last = clock.t - 1.0
    del addresses["i-2"]
    gone.add("i-2")
    mark = len(seen)
    for _ in range(3):
        round_(({}, True))
    assert m.member_up("a", "i-2") is False  # its failures are evidence
    assert {o.at for o in seen[mark:] if o.instance == "i-1"} == {i1_last}


def test_a_member_back_from_stale_must_rise_again() -> None:
    m, _, _, _, round_ = make(fall=2, rise=2)
    round_(BOTH_UP)
    round_(BOTH_UP)
    for _ in range(int(MAX_AGE) + 2):
        round_(({}, True))
    round_(BOTH_UP)
    assert m.member_up("a", "i-1") is None  # one success of rise=2: not yet
    round_(BOTH_UP)
    assert m.member_up("a", "i-1") is True


def test_the_pure_parts() -> None:
    from failover.health.plan import TcpTarget

    s1 = ProbeSpec("a", "i-1", "0:tcp:80", "tcp", 1.0, TcpTarget("10.0.0.1", 80))
    s2 = ProbeSpec("a", "i-2", "0:tcp:80", "tcp", 1.0, TcpTarget("10.0.0.2", 80))
    done = ProbeResult(s1, ProbeOutcome(True), 5.0)
    assert unfinished_as_unprobed([s1, s2], [done], 9.0) == [done, ProbeResult(s2, None, 9.0)]
    k1, k2 = ("a", "i-1", "0:tcp:80"), ("a", "i-2", "0:tcp:80")
    assert oldest_evidence([k1, k2], {k1: 10.0, k2: 4.0}) == 4.0
    assert oldest_evidence([k1], {}) is None
    up = CheckState(up=True, successes=2)
    assert forget_stale({k1: up, k2: up}, {k1: 10.0, k2: 4.0}, [k1, k2], 11.0, 6.0) == {k1: up}
