"""The lease: a leader acts only while ZooKeeper's last confirmation is recent and its grace is over."""

from __future__ import annotations

from failover.coordination.lease import Lease, LeaseTimes
from harness.clock import FakeClock


def test_times_follow_the_session_timeout() -> None:
    t = LeaseTimes.for_session(6.0)
    assert t.lease_s == 2.0  # a third: kazoo's own ping cadence
    assert abs(t.probe_every_s - 2.0 / 3) < 1e-9  # three renewals per lease
    assert t.grace_s == 6.0


def test_a_lease_runs_out_without_confirmations() -> None:
    clock = FakeClock(100.0)
    lease = Lease(LeaseTimes.for_session(6.0), clock)
    assert lease.refusal() == "no confirmed lease"
    lease.begin(clock.t, grace=False)
    assert lease.refusal() is None
    clock.t += 1.99
    assert lease.refusal() is None
    clock.t += 0.02
    refusal = lease.refusal()
    assert refusal is not None and refusal.startswith("lease expired")


def test_confirmations_count_from_when_the_probe_was_sent() -> None:
    clock = FakeClock(100.0)
    lease = Lease(LeaseTimes.for_session(6.0), clock)
    term = lease.begin(clock.t, grace=False)
    sent = clock.t + 1.5
    clock.t += 3.0  # the reply came late: the lease runs from the send, not the reply
    lease.confirm(term, sent)
    assert lease.refusal() is None
    clock.t += 0.6  # 2.1 s after the send
    assert lease.refusal() is not None
    lease.confirm(term, sent - 1.0)  # an older confirmation never moves it back
    assert lease.refusal() is not None


def test_a_paused_process_wakes_up_refusing() -> None:
    clock = FakeClock(100.0)
    lease = Lease(LeaseTimes.for_session(2.0), clock)
    term = lease.begin(clock.t, grace=False)
    lease.confirm(term, clock.t + 0.2)
    clock.t += 5.2  # SIGSTOP for 5 s: nothing renewed meanwhile
    assert lease.refusal() is not None


def test_a_confirmation_of_an_earlier_office_is_void() -> None:
    clock = FakeClock(100.0)
    lease = Lease(LeaseTimes.for_session(6.0), clock)
    old = lease.begin(clock.t, grace=False)
    lease.end()
    assert lease.refusal() == "no confirmed lease"
    lease.confirm(old, clock.t)  # a probe of the old office answered after it ended
    assert lease.refusal() == "no confirmed lease"


def test_the_takeover_grace_holds_a_new_leader_back() -> None:
    clock = FakeClock(100.0)
    lease = Lease(LeaseTimes.for_session(3.0), clock)
    term = lease.begin(clock.t, grace=True)
    for _ in range(29):  # renewed all along, still waiting
        clock.t += 0.1
        lease.confirm(term, clock.t)
        refusal = lease.refusal()
        assert refusal is not None and refusal.startswith("takeover grace")
    clock.t += 0.11
    lease.confirm(term, clock.t)
    assert lease.refusal() is None
    assert lease.grace_left() == 0.0
