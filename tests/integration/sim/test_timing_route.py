"""`POST /_sim/timing`: a running world moves from instant to cloud-like timing (the lab bench's
realistic part) and refuses a bad profile without touching the one in force."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.sim import SimControlError, SimServer
from harness.waiting import wait_for
from tests.integration.sim.util import attach, detach, eni_status


def test_a_new_profile_applies_to_the_next_transition(sim: SimServer, ecs: Any) -> None:
    detach(ecs, "eni-svc", "i-primary")
    assert eni_status(ecs, "eni-svc")[0] == "Available"  # the world's instant timing
    assert sim.control.timing(profile="fixed", attach_s=0.4)["profile"] == "fixed"
    began = time.monotonic()
    attach(ecs, "eni-svc", "i-standby")
    assert eni_status(ecs, "eni-svc")[0] == "Attaching"
    wait_for(lambda: eni_status(ecs, "eni-svc") == ("InUse", "i-standby"), timeout=5.0)
    assert time.monotonic() - began >= 0.4


def test_the_realistic_profile_draws_seeded_durations(sim: SimServer, ecs: Any) -> None:
    sim.control.timing(profile="realistic", seed=3, time_scale=0.02, describe_lag_s=0,
                       stuck_detach_share=0)
    detach(ecs, "eni-svc", "i-primary")
    assert eni_status(ecs, "eni-svc")[0] == "Detaching"
    wait_for(lambda: eni_status(ecs, "eni-svc")[0] == "Available", timeout=10.0)
    moves = [e for e in sim.control.events() if e.get("id") == "eni-svc" and e.get("to") in ("Detaching", "Available")]
    assert moves[-1]["t"] > moves[-2]["t"]  # a drawn, non-zero duration


def test_a_bad_profile_names_the_key_and_changes_nothing(sim: SimServer, ecs: Any) -> None:
    with pytest.raises(SimControlError) as info:
        sim.control.timing(profile="realistic", attach={"median_s": -1})
    assert info.value.status == 400 and "timing.attach" in info.value.body
    with pytest.raises(SimControlError) as info:
        sim.control.timing(profile="warp")
    assert "timing.profile" in info.value.body
    detach(ecs, "eni-svc", "i-primary")
    assert eni_status(ecs, "eni-svc")[0] == "Available"  # still the world's instant timing
