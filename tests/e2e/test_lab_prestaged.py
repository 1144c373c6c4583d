"""Pre-staged guest configuration in the lab: `failover provision` stages both members through
the emulator's RunCommand (the stage script runs in each instance's namespace, installing under
that instance's own directory); with the standby's Cloud Assistant agent offline, a crash of the
primary fails over and the standby's staged trigger, started by the lab's hot-plug hook after
the configured hot-plug delay, brings the ENI up in its namespace: real traffic is served."""

from __future__ import annotations

import time

import pytest

from failover.lab import analysis, bench
from failover.lab.hooks import GUESTS_DIR, STAGE_DIR
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide

pytestmark = [pytest.mark.lab, pytest.mark.timeout(150)]


def test_a_failover_with_the_agent_offline_is_served_by_the_staged_trigger(lab: Lab) -> None:
    lab.up()
    lab.restart_controllers(guest={"prestage": True, "prestage_wait_s": 3})
    timing = {**(lab.sim("state").get("timing") or {}), "hotplug_s": 0.3}
    assert lab.sim("timing", timing).get("ok") is True
    side = FailoverSide(lab)
    assert side.wait_ready(60.0) == "i-primary"
    staged = lab.failover_cli("provision", "--yes", timeout_s=120)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    key = lab.spec.eni.mac.replace(":", "")
    for m in ("i-primary", "i-standby"):
        assert (lab.dir / GUESTS_DIR / m / STAGE_DIR / f"eni-{key}" / "trigger.sh").exists()
    assert lab.sim("cloud_assistant/i-standby", {"online": False}).get("ok") is True
    client = bench.Client(lab, side.address, lab.dir / "client.jsonl")
    try:
        deadline = time.monotonic() + 10
        while sum(a.answer == "i-primary" for a in client.answers()) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        injected = time.time()
        side.inject("crash", "i-primary")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(a.answer == "i-standby" for a in client.answers()) >= 15:
                break
            time.sleep(0.05)
    finally:
        answers = client.stop()
    o = analysis.outage(answers, "i-primary", "i-standby", injected)
    assert o.rto_s is not None, f"the standby never answered: {analysis.served_by(answers, injected)}"
    assert lab.holder() == "i-standby"
    history = lab.cli_json("history")
    assert isinstance(history, list)
    done = [e for e in history if e.get("to") == "i-standby" and e.get("trigger") == "auto"]
    assert done and done[-1]["result"] == "completed", done
    guest = next(s for s in done[-1]["steps"] if s["name"] == "guest")
    assert guest["detail"] == "prestaged"
    events = lab.sim("events?since=0").get("events") or []
    assert [e["to"] for e in events if e.get("kind") == "guest" and e.get("id") == "i-standby"
            and e.get("to", "").startswith("Hotplug")] == ["HotplugConfigured"]
