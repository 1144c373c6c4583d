"""The product moves real traffic: a crashed primary, two controllers, and the client served by
the standby afterwards; then the lab leaves nothing behind (checked by the `lab` fixture)."""

from __future__ import annotations

import time

import pytest

from failover.lab import analysis, bench
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]


def test_a_crashed_primary_fails_over_and_the_client_is_served_by_the_standby(lab: Lab) -> None:
    lab.up()
    side = FailoverSide(lab)
    assert side.wait_ready(60.0) == "i-primary"
    client = bench.Client(lab, side.address, lab.dir / "client.jsonl")
    try:
        deadline = time.monotonic() + 10
        while sum(a.answer == "i-primary" for a in client.answers()) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        injected = time.time()
        side.inject("crash", "i-primary")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if sum(a.answer == "i-standby" for a in client.answers()) >= 15:
                break
            time.sleep(0.05)
    finally:
        answers = client.stop()
    o = analysis.outage(answers, "i-primary", "i-standby", injected)
    assert o.rto_s is not None, f"the standby never answered: {analysis.served_by(answers, injected)}"
    assert o.stayed
    assert lab.holder() == "i-standby"
    history = lab.cli_json("history")
    assert isinstance(history, list)
    done = [e for e in history if e.get("to") == "i-standby" and e.get("trigger") == "auto"]
    assert done and done[-1]["result"] == "completed"
    assert [s["name"] for s in done[-1]["steps"]][:4] == ["detach", "attach", "guest", "verify"]
