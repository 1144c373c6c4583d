"""The lazy clock: plans of due steps applied in time order, events stamped with the due time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from failover.sim.state import State
from failover.sim.world_file import load_world
from harness.clock import FakeClock
from harness.sim import small_world


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def state(clock: FakeClock) -> Iterator[State]:
    st = State(load_world(small_world(timing={"attach_s": 2, "detach_s": 3})), clock=clock)
    yield st
    st.close()


def test_steps_apply_only_when_due_and_events_carry_the_due_time(state: State, clock: FakeClock) -> None:
    eni = state.world.enis["eni-svc"]
    state.set_status("enis", eni, "Detaching", clock.t)
    state.schedule("enis", eni, [{"status": "Available", "due": clock.t + 3, "effect": "detached"}])
    clock.t += 2.9
    state.advance()
    assert (eni.status, eni.instance) == ("Detaching", "i-primary")  # a tuple: mypy keeps instance optional
    clock.t += 10  # looked at late: the event still says when it happened
    state.advance()
    assert (eni.status, eni.instance) == ("Available", None)
    assert [(e["to"], e["t"]) for e in state.events] == [("Detaching", 1000.0), ("Available", 1003.0)]


def test_blocked_step_waits_for_unblock_and_after_is_relative(state: State, clock: FakeClock) -> None:
    inst = state.world.instances["i-standby"]
    state.set_status("instances", inst, "Stopping", clock.t)
    state.schedule(
        "instances",
        inst,
        [{"status": "Starting", "due": None}, {"status": "Running", "due": None, "after": 5}],
    )
    clock.t += 100
    state.advance()
    assert inst.status == "Stopping"
    state.unblock("instances", inst, clock.t)
    state.advance()
    assert inst.status == "Starting"
    clock.t += 5
    state.advance()
    assert inst.status == "Running"
    assert [e["t"] for e in state.events][-2:] == [1100.0, 1105.0]


def test_deadline_turns_a_waiting_step_into_its_else(state: State, clock: FakeClock) -> None:
    inst = state.world.instances["i-standby"]
    state.schedule(
        "instances", inst, [{"status": "Done", "due": None, "deadline": clock.t + 1, "else": "Timeout"}]
    )
    clock.t += 1
    state.advance()
    assert inst.status == "Timeout" and inst.plan == []


def test_interleaved_resources_apply_in_time_order(state: State, clock: FakeClock) -> None:
    a, b = state.world.enis["eni-svc"], state.world.eips["eip-a"]
    state.schedule("eips", b, [{"status": "Later", "due": clock.t + 2}])
    state.schedule("enis", a, [{"status": "Sooner", "due": clock.t + 1}])
    clock.t += 5
    state.advance()
    assert [e["to"] for e in state.events] == ["Sooner", "Later"]


def test_persist_and_restore_round_trip(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.json"
    st = State(load_world(small_world()), clock=clock, state_file=path)
    st.world.enis["eni-svc"].secondary_ips.append("192.168.1.77")
    st.schedule("enis", st.world.enis["eni-svc"], [{"status": "X", "due": clock.t + 1}])
    st.persist()
    st.close()
    back = State.restore(path, clock=clock)
    assert back.world.enis["eni-svc"].secondary_ips == ["192.168.1.51", "192.168.1.77"]
    clock.t += 1
    back.advance()
    assert back.world.enis["eni-svc"].status == "X"
    back.close()
