"""The partial-failure trials' judge on hand-made data: the guest model over emulator events and
the figures of an episode (when served again, how long status lied). Pure, no processes."""

from __future__ import annotations

from harness.episode import Sample, StatusSample, judge_samples
from harness.partial import GuestModel

MAC = "00:16:3e:01:00:00"
STATE = {"enis": [{"id": "eni-svc", "mac": MAC.upper(), "status": "InUse", "instance": "i-a"}]}


def ev(seq: int, **kw: object) -> dict[str, object]:
    return {"seq": seq, "t": float(seq), **kw}


def script(kind: str) -> str:
    return f"#!/bin/sh\n# failover guest {kind}: ENI {MAC}, 1 IPs, table 1001\nMAC='{MAC}'\n"


def test_the_first_holder_is_configured_and_a_move_needs_a_guest_step() -> None:
    m = GuestModel(STATE, ["eni-svc"])
    assert (m.enis["eni-svc"].on, m.enis["eni-svc"].configured) == ("i-a", True)
    m.feed([ev(1, kind="enis", id="eni-svc", **{"from": "InUse", "to": "Detaching"}),
            ev(2, kind="enis", id="eni-svc", **{"from": "Detaching", "to": "Available"}),
            ev(3, kind="enis", id="eni-svc", instance="i-b", **{"from": "Available", "to": "Attaching"}),
            ev(4, kind="enis", id="eni-svc", **{"from": "Attaching", "to": "InUse"})])
    assert (m.enis["eni-svc"].on, m.enis["eni-svc"].configured) == ("i-b", False)
    m.feed([ev(5, kind="invocations", id="t-1", to="Created", instances=["i-b"], script=script("configure")),
            ev(6, kind="records", id="t-1/i-b", **{"from": "Running", "to": "Failed"})])
    assert m.enis["eni-svc"].configured is False  # a failed guest step serves nothing
    m.feed([ev(7, kind="invocations", id="t-2", to="Created", instances=["i-b"], script=script("configure")),
            ev(8, kind="records", id="t-2/i-b", **{"from": "Running", "to": "Success"})])
    assert m.enis["eni-svc"].configured is True
    m.feed([ev(9, kind="invocations", id="t-3", to="Created", instances=["i-b"], script=script("release")),
            ev(10, kind="records", id="t-3/i-b", **{"from": "Running", "to": "Success"})])
    assert m.enis["eni-svc"].configured is False  # a release on the real holder takes the service down
    assert m.since == 10


def test_a_release_on_a_former_holder_changes_nothing() -> None:
    m = GuestModel(STATE, ["eni-svc"])
    m.feed([ev(1, kind="invocations", id="t-1", to="Created", instances=["i-b"], script=script("release")),
            ev(2, kind="records", id="t-1/i-b", **{"from": "Running", "to": "Success"})])
    assert m.enis["eni-svc"].configured is True


def cloud(pattern: str, t0: float = 100.0) -> list[Sample]:
    """One cloud sample per 0.1 s: S = served, . = not."""
    return [Sample(t0 + i / 10, {"web": c == "S"}, {"web": None}) for i, c in enumerate(pattern)]


def status(states: str, t0: float = 100.0) -> list[StatusSample]:
    """One /status answer per 0.1 s, each taking 0.05 s: h = healthy, f = failing_over."""
    names = {"h": "healthy", "f": "failing_over"}
    return [StatusSample(t0 + i / 10, t0 + i / 10 + 0.05, {"web": names[c]}) for i, c in enumerate(states)]


def test_served_again_and_an_honest_status() -> None:
    ep = judge_samples(cloud("SS....SSSS"), status("hhffffhhhh"), [], "web", 100.15, window=0.5)
    assert ep.served_after_s is not None and abs(ep.served_after_s - 0.45) < 1e-6
    assert abs(ep.unserved_s - 0.4) < 1e-6 and ep.lying_s == 0 and ep.lying_beyond_s == 0
    assert ep.states == ["failing_over", "healthy"]
    assert ep.timeline[0] == "+0.05 s unserved (ENI InUse on None)"


def test_healthy_while_unserved_counts_beyond_one_window() -> None:
    c = cloud("S.........")
    ep = judge_samples(c, status("hhhhhhhhhh"), [StatusSample(100.2, 100.9, {"web": "healthy"})], "web", 100.05,
                       window=0.25)
    assert ep.served_after_s is None
    assert abs(ep.lying_s - 0.8) < 1e-6  # the answers asked at 100.1 .. 100.8 (the last has no end)
    assert abs(ep.lying_beyond_s - 0.5) < 1e-6  # those asked at 100.4 .. 100.8: unserved from 100.1
    assert ep.cli_lies == 0  # served until 100.1, within a window before the call began
    late = judge_samples(c, [], [StatusSample(100.45, 100.9, {"web": "healthy"})], "web", 100.05, window=0.25)
    assert late.cli_lies == 1 and late.cli_samples == 1


def test_a_document_speaks_for_its_as_of_not_for_when_it_was_read() -> None:
    c = cloud("SSS.......")
    # Read at 100.6 (nothing served since 100.3), but built at 100.15 while the group was served.
    built_then = [StatusSample(100.6, 100.65, {"web": "healthy"}, as_of=100.15),
                  StatusSample(100.7, 100.75, {"web": "failing_over"})]
    assert judge_samples(c, built_then, [], "web", 100.0, window=0.1).lying_s == 0
    # The same answer built after the service went away is a lie.
    built_late = [StatusSample(100.6, 100.65, {"web": "healthy"}, as_of=100.5),
                  StatusSample(100.7, 100.75, {"web": "failing_over"})]
    ep = judge_samples(c, built_late, [], "web", 100.0, window=0.1)
    assert ep.lying_s > 0 and ep.lying_beyond_s > 0


def test_a_cached_answer_is_judged_at_its_as_of_and_its_age_is_reported() -> None:
    # Unserved from +0.2 s for 1.8 s; each /status answer is a document built 1.2 s earlier.
    answers = [StatusSample(100.0 + i / 10, 100.0 + i / 10 + 0.05, {"web": "healthy"},
                            as_of=100.0 + i / 10 - 1.2) for i in range(14)]
    ep = judge_samples(cloud("SS" + "." * 18), answers, [], "web", 100.1, window=0.5)
    assert ep.lying_beyond_s == 0.0  # each document was true when it was built
    assert abs(ep.status_age_max_s - 1.25) < 1e-6
    # Judged when asked, the answers asked from +0.6 s on (nothing served since 0.5 s before
    # them) are beyond it: six answers, 0.1 s apart.
    assert abs(ep.beyond_at_answer_s - 0.6) < 1e-6
