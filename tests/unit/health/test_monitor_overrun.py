"""A probe round that overruns its deadline keeps the probes that finished, never counts the
others as failures, and each vote carries its own member's evidence time: one slow member no
longer holds back (or rides on) its neighbours' votes. The round runner and the clock are
faked; no loop, no sockets."""

from __future__ import annotations

from collections.abc import Sequence

from failover.config import GroupConfig
from failover.health.monitor import HealthMonitor
from failover.health.plan import ProbeSpec
from failover.health.probes import ProbeResult, StatusFetcher
from failover.model import ProbeOutcome
from failover.quorum import vote_max_age
from failover.records import Observation
from harness.clock import FakeClock


def _group(fall: int = 1, rise: int = 1, **extra: object) -> GroupConfig:
    return GroupConfig.model_validate({
        "name": "a", "network_interface": "eni-a", "members": ["i-1", "i-2"],
        "checks": [{"type": "tcp", "port": 80}], "health": {"fall": fall, "rise": rise},
        **extra,
    })


class Rounds:
    """The round runner: `finish` says which members' probes finish, and how."""

    def __init__(self) -> None:
        self.finish: dict[str, bool] = {}  # instance -> ok; absent: never finishes
        self.overrun = False

    def __call__(self, specs: Sequence[ProbeSpec], fetch: StatusFetcher | None,
                 finished: list[ProbeResult], deadline_s: float) -> list[ProbeResult]:
        for s in specs:
            if s.instance in self.finish:
                finished.append(ProbeResult(s, ProbeOutcome(self.finish[s.instance]), 0.0))
        if self.overrun:
            raise TimeoutError("overran")
        return list(finished)


def _monitor(g: GroupConfig, rounds: Rounds, clock: FakeClock,
             seen: list[Observation]) -> tuple[HealthMonitor, str]:
    m = HealthMonitor([g], controller_id="c", addresses=lambda: {"i-1": "10.0.0.1", "i-2": "10.0.0.2"},
                      sink=seen.append, clock=clock, run_probes=rounds)
    (job,) = m.job_ids
    return m, job


def _last(seen: list[Observation], instance: str) -> Observation:
    return [o for o in seen if o.instance == instance][-1]


def test_an_overrun_round_keeps_its_finished_probes_and_fails_none_it_did_not_run() -> None:
    rounds, clock, seen = Rounds(), FakeClock(1_800_000_000.0), list[Observation]()
    m, job = _monitor(_group(fall=1), rounds, clock, seen)
    rounds.finish = {"i-1": True, "i-2": True}
    m.run_round(job)
    assert m.member_up("a", "i-1") is True and m.member_up("a", "i-2") is True
    rounds.overrun = True
    rounds.finish = {"i-1": False}  # i-1's probe finished (down); i-2's never did
    m.run_round(job)
    assert m.member_up("a", "i-1") is False  # kept, though the round was abandoned
    assert m.member_up("a", "i-2") is True  # fall=1, yet not counted as a failure
    assert m.rounds_missed == 1


def test_each_vote_carries_its_own_members_evidence_time() -> None:
    rounds, clock, seen = Rounds(), FakeClock(1_800_000_000.0), list[Observation]()
    m, job = _monitor(_group(), rounds, clock, seen)
    rounds.finish = {"i-1": True, "i-2": True}
    m.run_round(job)
    t0 = clock.t
    assert _last(seen, "i-1").at == t0 and _last(seen, "i-2").at == t0
    rounds.overrun = True
    rounds.finish = {"i-1": True}  # i-2 starved of its probe, round after round
    for _ in range(5):
        clock.t += 1.0
        m.run_round(job)
        assert _last(seen, "i-1").at == clock.t  # the neighbour's fresh evidence counts
        assert _last(seen, "i-2").at == t0  # the slow member's vote ages
    rounds.overrun = False
    rounds.finish = {"i-1": True, "i-2": True}
    clock.t += 1.0
    m.run_round(job)
    assert _last(seen, "i-2").at == clock.t


def test_a_down_vote_is_as_new_as_its_newest_down_check() -> None:
    g = _group(checks=[{"type": "tcp", "port": 80}, {"type": "tcp", "port": 81}])
    clock, seen = FakeClock(1_800_000_000.0), list[Observation]()

    def runner(specs: Sequence[ProbeSpec], fetch: StatusFetcher | None,
               finished: list[ProbeResult], deadline_s: float) -> list[ProbeResult]:
        # i-1: port 80 always down; port 81 answers only in the first round
        for s in specs:
            if s.instance == "i-2" or s.key.endswith(":80") or first[0]:
                ok = s.instance == "i-2" or s.key.endswith(":81")
                finished.append(ProbeResult(s, ProbeOutcome(ok), 0.0))
        first[0] = False
        return list(finished)

    first = [True]
    m = HealthMonitor([g], controller_id="c", addresses=lambda: {"i-1": "10.0.0.1", "i-2": "10.0.0.2"},
                      sink=seen.append, clock=clock, run_probes=runner)
    (job,) = m.job_ids
    m.run_round(job)
    for _ in range(3):
        clock.t += 1.0
        m.run_round(job)
    down = _last(seen, "i-1")
    assert down.up is False and down.at == clock.t  # its down check is fresh: the vote is
    assert _last(seen, "i-2").at == clock.t


def test_a_throttled_status_check_does_not_age_out_a_member_its_tcp_probe_still_sees() -> None:
    """tcp + ecs_status: the cloud stops answering the status calls (no evidence, as in a
    zone outage) while the tcp probe keeps finishing. The member's "up" keeps counting: it
    must stay a failover target exactly when the cloud is throttled."""
    g = _group(checks=[{"type": "tcp", "port": 80}, {"type": "ecs_status"}])
    clock, seen = FakeClock(1_800_000_000.0), list[Observation]()
    cloud_answers = [True]

    def runner(specs: Sequence[ProbeSpec], fetch: StatusFetcher | None,
               finished: list[ProbeResult], deadline_s: float) -> list[ProbeResult]:
        for s in specs:
            ecs = s.kind == "ecs_status"
            finished.append(ProbeResult(s, ProbeOutcome(True) if not ecs or cloud_answers[0] else None,
                                        0.0))
        return list(finished)

    m = HealthMonitor([g], controller_id="c", addresses=lambda: {"i-1": "10.0.0.1", "i-2": "10.0.0.2"},
                      sink=seen.append, clock=clock, run_probes=runner)
    probes, status = sorted(m.job_ids, key=lambda j: j.endswith(":ecs"))
    m.run_round(probes)
    m.run_round(status)
    assert _last(seen, "i-2").up is True
    cloud_answers[0] = False
    for _ in range(5):
        clock.t += 1.0
        m.run_round(status)
        m.run_round(probes)
        assert _last(seen, "i-2").at == clock.t


def test_status_shows_a_member_undecided_once_its_evidence_is_older_than_a_vote_counts() -> None:
    rounds, clock, seen = Rounds(), FakeClock(1_800_000_000.0), list[Observation]()
    g = _group()
    m, job = _monitor(g, rounds, clock, seen)
    rounds.finish = {"i-1": True, "i-2": True}
    m.run_round(job)
    rounds.overrun = True
    rounds.finish = {"i-1": True}  # i-2 starved of its probe from here on
    max_age = vote_max_age(g.health.interval_s)
    clock.t += max_age
    m.run_round(job)
    assert m.verdicts()["a"]["i-2"].up is True  # exactly as old as a vote may be: still shown
    clock.t += 1.0
    m.run_round(job)
    shown = m.verdicts()["a"]
    assert shown["i-1"].up is True  # probed every round
    assert shown["i-2"].up is None and "no evidence for" in shown["i-2"].reason
    assert m.member_up("a", "i-2") is True  # the hysteresis keeps its state; only the showing ages
