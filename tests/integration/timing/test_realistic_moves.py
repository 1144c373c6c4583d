"""The realistic profile through the real SDK and adapter: seeded durations, stuck detaches
re-issued on time then reported stalled, failed attaches, throttling, polling lag."""

from __future__ import annotations

import threading
import time

import pytest

from failover.cloud import errors
from failover.cloud.budget import ApiBudget
from failover.cloud.sdk import ApiError
from failover.cloud.waiting import PollPlans
from failover.lab.measure import calls, transition_time
from failover.model import CallTrace, DetachStalled, EniStatus, ErrorKind, NotLeader, Priority
from failover.ports import SystemClock
from failover.sim.realistic import realistic
from harness.cloud import new_cloud, realistic_world, sim_with
from harness.sim import SimServer, small_world

pytestmark = pytest.mark.timeout(60)
FAST = {"time_scale": 0.02, "seed": 3}  # attach ~0.1 s, detach ~0.08 s median


def durations(sim: SimServer, eni: str) -> list[tuple[str, float]]:
    """(new status, seconds since the previous transition) for each transition of `eni`."""
    evs = [e for e in sim.control.events() if e["kind"] == "enis" and e["id"] == eni]
    return [(b["to"], b["t"] - a["t"]) for a, b in zip([evs[0], *evs], evs, strict=False)]


def test_transition_times_are_the_seeded_draws() -> None:
    profile = realistic({"profile": "realistic", **FAST}, seed=7)
    want = [("Available", profile.draw_nth("detach", "eni-svc", 0).duration_s),
            ("InUse", profile.draw_nth("attach", "eni-svc", 0).duration_s)]
    runs = []
    for _ in range(2):  # two emulators from the same world: the same times
        with sim_with(FAST) as sim:
            cloud = new_cloud(sim)
            cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
            cloud.attach_eni("eni-svc", "i-standby", timeout_s=10)
            got = durations(sim, "eni-svc")
        assert [s for s, _ in got] == ["Detaching", "Available", "Attaching", "InUse"]
        runs.append([got[1], got[3]])
    for run in runs:
        assert [s for s, _ in run] == [s for s, _ in want]
        assert [d for _, d in run] == pytest.approx([d for _, d in want], abs=1e-6)
    assert runs[0] != [("Available", 0.0), ("InUse", 0.0)]


@pytest.mark.parametrize("cause", ["hung", "drawn"])
def test_stuck_detach_is_reissued_after_the_delay_then_stalls(cause: str) -> None:
    """A hung guest, or a detach the profile made stick: re-sent once, then DetachStalled."""
    timing = {**FAST, "stuck_detach_share": 1.0 if cause == "drawn" else 0.0}
    with sim_with(timing) as sim:
        if cause == "hung":
            sim.control.hang("i-primary")
        cloud = new_cloud(sim)
        trace = CallTrace()
        t0 = time.time()
        with pytest.raises(DetachStalled) as exc:
            cloud.detach_eni("eni-svc", "i-primary", timeout_s=2.0, reissue_after_s=0.7, trace=trace)
        stalled_at = time.time()
        assert exc.value.kind is ErrorKind.CONFLICT and "re-sent once" in str(exc.value)
        sent = calls(sim.control.events(), "eni-svc", "DetachNetworkInterface")
        assert [e["reissue"] for e in sent] == [False, True]
        assert sent[1]["t"] - t0 >= 0.7  # not before the configured delay
        # ... and the stall at the timeout (a read needs 50 ms: with less left the wait ends)
        assert sent[1]["t"] < stalled_at and stalled_at - t0 >= 2.0 - 0.05
        assert [c.action for c in trace.calls].count("DetachNetworkInterface") == 2
        assert sim.control.eni("eni-svc")["status"] == "Detaching"
        # The escalation the policy asks for next: the force stop releases the ENI.
        cloud.force_stop("i-primary", timeout_s=10)
        assert cloud.detach_eni("eni-svc", "i-primary", timeout_s=10).status is EniStatus.AVAILABLE


def test_drawn_attach_failure_falls_back_to_available() -> None:
    with sim_with({**FAST, "attach_failure_share": 1.0}) as sim:
        cloud = new_cloud(sim)
        cloud.detach_eni("eni-svc", "i-primary", timeout_s=10)
        with pytest.raises(ApiError) as exc:
            cloud.attach_eni("eni-svc", "i-standby", timeout_s=10)
        assert (exc.value.kind, exc.value.code) == (ErrorKind.RETRYABLE, errors.ATTACH_FAILED)
        back = [e for e in sim.control.events() if e["id"] == "eni-svc" and e.get("error")]
        # the first failed attach is re-sent in the same wait; the second one ends it
        assert [(e["from"], e["to"]) for e in back] == [("Attaching", "Available")] * 2


def test_world_qps_throttles_and_the_adapter_still_finishes() -> None:
    timing = {"detach_s": 1.0, "qps": {"DescribeNetworkInterfaces": 2}}  # polls faster than 2/s
    with sim_with(timing) as sim:
        cloud = new_cloud(sim)
        trace = CallTrace()
        state = cloud.detach_eni("eni-svc", "i-primary", timeout_s=15, trace=trace)
        assert state.status is EniStatus.AVAILABLE
        codes = [c.code for c in trace.calls if c.action == "DescribeNetworkInterfaces"]
        assert "Throttling.User" in codes and codes[-1] == "OK"


def test_polling_lag_is_measured_from_the_emulators_event_time() -> None:
    """The adapter never reports a step before the emulator made it, and stays in its bound."""
    scale = 0.05
    plans = PollPlans().scaled(scale)
    with SimServer.from_world(realistic_world(time_scale=scale, seed=11)) as sim:
        cloud = new_cloud(sim, polls=plans, rate_per_s=400.0)
        for _ in range(3):
            for eni_from, eni_to in (("i-primary", "i-standby"), ("i-standby", "i-primary")):
                trace = CallTrace()
                cloud.detach_eni("eni-svc", eni_from, timeout_s=30 * scale * 4, trace=trace)
                noticed = time.time()
                done = transition_time(sim.control.events(), "eni-svc", "Available",
                                       after=noticed - 30)
                describes = [c for c in trace.calls if c.action == "DescribeNetworkInterfaces"]
                assert done is not None and noticed >= done
                assert len(describes) <= plans.detach.max_polls + 1
                cloud.attach_eni("eni-svc", eni_to, timeout_s=30 * scale * 4)


def test_the_reissue_delay_counts_from_the_accepted_call_not_from_a_wait_for_its_token() -> None:
    """A zone outage queues detaches for their tokens for seconds: a detach that has just been
    accepted is not stuck, and re-sending it would take a token another group needs."""
    with SimServer.from_world(small_world(timing={"detach_s": 0.4})) as sim:
        budget = ApiBudget(1.0, 1, 0.3, clock=SystemClock())  # one detach a second
        cloud = new_cloud(sim, budget=budget)
        budget.acquire("DetachNetworkInterface", Priority.FAILOVER, max_wait_s=1.0)  # spent
        t0, trace = time.time(), CallTrace()
        state = cloud.detach_eni("eni-svc", "i-primary", timeout_s=10, reissue_after_s=0.5,
                                 trace=trace)
        assert state.status is EniStatus.AVAILABLE
        sent = calls(sim.control.events(), "eni-svc", "DetachNetworkInterface")
        assert sent[0]["t"] - t0 >= 0.8  # it did wait for its token ...
        # ... and was not sent again for it (a second call, refused or not, took a token).
        assert [c.action for c in trace.calls].count("DetachNetworkInterface") == 1


def test_the_timeout_is_the_clouds_time_and_runs_from_the_accepted_call() -> None:
    """A detach that queued ~1 s for its token still gets its whole 2 s for the cloud."""
    with SimServer.from_world(small_world(timing={"detach_s": 1.6})) as sim:
        budget = ApiBudget(4.0, 1, 0.3, clock=SystemClock())
        cloud = new_cloud(sim, budget=budget)
        # Four other failovers booked the next detach tokens: ours goes out ~1 s from now.
        others = [threading.Thread(target=budget.acquire, args=("DetachNetworkInterface",),
                                   kwargs={"priority": Priority.FAILOVER, "max_wait_s": 5.0})
                  for _ in range(4)]
        for t in others:
            t.start()
        booked = time.monotonic() + 5
        while budget.available("DetachNetworkInterface") > -2.5 and time.monotonic() < booked:
            time.sleep(0.005)  # all four bookings are in before ours
        t0, trace = time.time(), CallTrace()
        state = cloud.detach_eni("eni-svc", "i-primary", timeout_s=2.0, reissue_after_s=1.9,
                                 trace=trace)
        assert state.status is EniStatus.AVAILABLE
        (sent,) = calls(sim.control.events(), "eni-svc", "DetachNetworkInterface")
        assert sent["t"] - t0 >= 0.8  # it queued for its token ...
        assert time.time() - t0 > 2.0  # ... and still had the cloud's whole 2 s after it
        for t in others:
            t.join(5)


def test_a_leader_deposed_while_a_detach_hangs_does_not_re_send_it() -> None:
    """The fencing check runs before every mutating call, not only when a step starts."""
    with sim_with(FAST) as sim:
        sim.control.hang("i-primary")
        cloud = new_cloud(sim)
        sent_before = len(calls(sim.control.events(), "eni-svc", "DetachNetworkInterface"))

        def fence() -> None:
            # Deposed once the first detach is out (a session lost during the wait).
            if len(calls(sim.control.events(), "eni-svc", "DetachNetworkInterface")) > sent_before:
                raise NotLeader("session lost")

        with pytest.raises(NotLeader):
            cloud.detach_eni("eni-svc", "i-primary", timeout_s=3.0, reissue_after_s=0.5,
                             trace=CallTrace(guard=fence))
        sent = calls(sim.control.events(), "eni-svc", "DetachNetworkInterface")
        assert [e["reissue"] for e in sent[sent_before:]] == [False]  # the re-send never went
