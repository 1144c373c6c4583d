"""The emulator's misbehaviour settings and stop-to-attach types, without a server."""

from __future__ import annotations

import pytest

from failover.config import STOP_TO_ATTACH_TYPES
from failover.sim.behaviour import REALISTIC, Behaviour, make_behaviour
from failover.sim.draws import TimingError
from failover.sim.world import STOP_TO_ATTACH_TYPES as SIM_TYPES
from failover.sim.world import stop_to_attach
from failover.sim.world_file import WorldError, load_world
from harness.sim import small_world


def test_fixed_has_none_realistic_has_all_and_each_can_be_turned_off() -> None:
    assert make_behaviour({}) == Behaviour()
    assert make_behaviour({"profile": "realistic"}) == REALISTIC
    assert REALISTIC.describe_lag_s > 0 and REALISTIC.hide_attaching_instance
    assert REALISTIC.crash_stall_share > 0
    off = make_behaviour({"profile": "realistic", "describe_lag_s": 0,
                          "hide_attaching_instance": False, "crash_stall_share": 0})
    assert off == Behaviour()


def test_the_lag_is_scaled_with_the_world() -> None:
    assert make_behaviour({"profile": "realistic", "time_scale": 0.1}).describe_lag_s == pytest.approx(0.1)
    assert make_behaviour({"describe_lag_s": 2, "time_scale": 0.5}).describe_lag_s == pytest.approx(1.0)


@pytest.mark.parametrize(("cfg", "path"), [
    ({"describe_lag_s": -1}, "timing.describe_lag_s"),
    ({"hide_attaching_instance": "yes"}, "timing.hide_attaching_instance"),
    ({"crash_stall_share": 1.5}, "timing.crash_stall_share"),
])
def test_bad_values_name_the_key(cfg: dict[str, object], path: str) -> None:
    with pytest.raises(TimingError) as info:
        make_behaviour(cfg)
    assert info.value.path == path
    with pytest.raises(WorldError) as world_info:  # and a world file with it is refused
        load_world(small_world(timing={"profile": "realistic", **cfg}))
    assert world_info.value.path == path


@pytest.mark.parametrize(("itype", "stop"), [
    ("ecs.e-c1m2.large", True), ("ecs.e4.small", True), ("ecs.t6-c1m1.large", True),
    ("ecs.t5-lc1m2.small", True), ("ecs.ebmg7.32xlarge", False), ("ecs.g7.large", False),
    ("ecs.t60.large", False),
])
def test_stop_to_attach_types_match_by_family(itype: str, stop: bool) -> None:
    assert stop_to_attach(itype, SIM_TYPES) is stop


def test_the_emulator_and_the_policy_default_name_the_same_families() -> None:
    """Two lists (the emulator imports nothing of the controller): they must not drift."""
    assert set(SIM_TYPES) == set(STOP_TO_ATTACH_TYPES)


def test_world_keys_are_checked() -> None:
    with pytest.raises(WorldError) as info:
        load_world(small_world(stop_to_attach_types=["t6"]))
    assert info.value.path == "stop_to_attach_types"
    bad = small_world()
    bad["network_interfaces"][0]["shown_status"] = 5
    with pytest.raises(WorldError) as info:
        load_world(bad)
    assert info.value.path == "network_interfaces[0].shown_status"
