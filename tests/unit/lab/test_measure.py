"""The realistic part's breakdown of a failover, including one whose detach stalled."""

from __future__ import annotations

from typing import Any

from failover.lab.measure import Event, breakdown


def ev(t: float, to: str, kind: str = "enis") -> Event:
    return {"t": t, "kind": kind, "id": "eni-svc", "to": to}


def step(name: str, start: float, duration: float) -> dict[str, Any]:
    return {"name": name, "started_at": start, "duration_s": duration}


def test_an_escalated_detach_is_timed_from_the_first_call_to_available() -> None:
    # detach stalls; the journal keeps one detach entry, the run after the force-stop
    events = [ev(101.0, "Detaching"), ev(131.0, "Available"), ev(131.5, "Attaching"), ev(136.5, "InUse")]
    record = {"started_at": 100.9, "steps": [step("fence", 130.0, 1.0), step("detach", 131.1, 0.3),
                                              step("attach", 131.45, 5.2), step("guest", 136.7, 0.4),
                                              step("verify", 137.1, 0.1)]}
    b = breakdown(record, events, "eni-svc", 98.0)
    assert round(b["detach_s"], 3) == 30.0 and round(b["detach_polling_lag_s"], 3) == 0.4
    assert round(b["attach_s"], 3) == 5.0 and round(b["rto_s"], 3) == 39.2


def test_a_plain_failover() -> None:
    events = [ev(10.1, "Detaching"), ev(13.1, "Available"), ev(13.3, "Attaching"), ev(18.3, "InUse")]
    record = {"started_at": 10.0, "steps": [step("detach", 10.0, 3.2), step("attach", 13.25, 5.1),
                                             step("guest", 18.4, 1.0), step("verify", 19.4, 0.1)]}
    b = breakdown(record, events, "eni-svc", 7.0)
    assert round(b["detach_s"], 3) == 3.0 and round(b["detach_call_s"], 3) == 0.1
    assert round(b["attach_s"], 3) == 5.0 and round(b["detection_s"], 3) == 3.0
