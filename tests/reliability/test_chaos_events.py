"""The trials' judge: reading moves, mutations and holderless gaps out of the emulator's event log."""

from __future__ import annotations

import pytest

from failover.guest.script import render_release, render_runtime
from failover.model import GuestNetwork
from harness.chaos_events import (
    eni_moves,
    holderless_gaps,
    invocations_by_instance,
    is_mutation,
    mutations_after,
    script_kind,
)


def ev(t: float, kind: str, rid: str, old: str | None, new: str, **kw: object) -> dict[str, object]:
    return {"seq": int(t * 10), "t": t, "kind": kind, "id": rid, "from": old, "to": new, **kw}


MOVE = [
    ev(1.0, "enis", "eni-1", "InUse", "Detaching", instance="i-a"),
    ev(1.5, "enis", "eni-1", "Detaching", "Available"),
    ev(2.0, "enis", "eni-1", "Available", "Attaching", instance="i-b"),
    ev(2.5, "enis", "eni-1", "Attaching", "InUse"),
    ev(2.6, "invocations", "t-1", None, "Created", instances=["i-b"], script="# --- configure: x"),
    ev(3.0, "enis", "eni-2", "InUse", "Detaching", instance="i-a"),
]


def test_one_move_is_one_detach_one_attach_and_its_gap() -> None:
    moves = eni_moves(MOVE, "eni-1")
    assert moves.moved_once and moves.attached_to == ("i-b",)
    assert holderless_gaps(MOVE, "eni-1") == [1.5]
    assert holderless_gaps(MOVE, "eni-2") == []  # still without a holder: no finished gap


def test_a_second_attach_is_not_a_single_move() -> None:
    again = [*MOVE, ev(4.0, "enis", "eni-1", "InUse", "Detaching", instance="i-b"),
             ev(4.2, "enis", "eni-1", "Detaching", "Available"),
             ev(4.4, "enis", "eni-1", "Available", "Attaching", instance="i-a"),
             ev(4.9, "enis", "eni-1", "Attaching", "InUse")]
    moves = eni_moves(again, "eni-1")
    assert not moves.moved_once and moves.attached_to == ("i-b", "i-a")
    assert holderless_gaps(again, "eni-1") == pytest.approx([1.5, 0.9])


def test_only_caller_started_transitions_count_as_mutations() -> None:
    assert [e["to"] for e in MOVE if is_mutation(e)] == ["Detaching", "Attaching", "Created", "Detaching"]
    assert [e["t"] for e in mutations_after(MOVE, 2.5)] == [2.6, 3.0]


def test_invocations_are_counted_per_instance_and_script_kind() -> None:
    assert invocations_by_instance(MOVE)["i-b"] == 1
    assert invocations_by_instance(MOVE, "release")["i-b"] == 0


def test_script_kind_reads_the_generated_header() -> None:
    made = ev(1.0, "invocations", "t-2", None, "Created", instances=["i-c"],
              script="#!/bin/sh\n# failover guest configure: ENI 00:16:3e:00:00:01, 1 IPs, table 101")
    assert invocations_by_instance([made], "configure")["i-c"] == 1
    assert invocations_by_instance([made], "release")["i-c"] == 0


def test_script_kind_reads_the_scripts_the_product_renders() -> None:
    # Tied to the renderer, not to a copied header: when the helper files' marker lines were
    # stripped, trials 3 and 6 counted 0 configure/release runs and failed on merged main.
    net = GuestNetwork(mac="00:16:3e:00:00:50", ips=("192.168.1.50",), cidr="192.168.1.0/24",
                       gateway="192.168.1.253", table=1001)
    assert script_kind({"script": render_runtime(net)}) == "configure"
    assert script_kind({"script": render_release(net)}) == "release"


def test_emulated_floors_count_the_clouds_stretches_not_the_controllers_waits() -> None:
    from harness.chaos import Group
    from harness.trials_scale import emulated_floors

    groups = [Group("g1", "eni-1", ("i-a", "i-b"), "10.0.0.1"), Group("g2", "eni-2", ("i-c", "i-d"), "10.0.0.2")]
    events = [
        *MOVE[:5],  # eni-1: detach 0.5 s, (0.5 s the controller's), attach 0.5 s; command from 2.6 s
        ev(2.9, "records", "t-1/i-b", "Running", "Success"),
        # eni-2's detach is stuck: the controller escalates late (at 38 s, not 33 s), the stop
        # takes 1.5 s and ends it: the policy's 30 s plus the stop count, not the 36.5 s seen
        ev(3.0, "enis", "eni-2", "InUse", "Detaching", instance="i-c"),
        ev(38.0, "instances", "i-c", "Running", "Stopping"),
        ev(39.5, "instances", "i-c", "Stopping", "Stopped"),
        ev(39.5, "enis", "eni-2", "Detaching", "Available"),
        ev(40.0, "enis", "eni-2", "Available", "Attaching", instance="i-d"),
        ev(40.4, "enis", "eni-2", "Attaching", "InUse"),
    ]
    floors = emulated_floors(events, groups, detach_timeout_s=30.0)
    assert floors["g1"] == pytest.approx(0.5 + 0.5 + 0.3)
    assert floors["g2"] == pytest.approx(30.0 + 1.5 + 0.4)


def test_a_stalled_detach_allows_the_policys_timeout_and_the_stop_and_a_quick_one_nothing() -> None:
    from harness.chaos_events import stall_allowance

    quick = MOVE[:4]
    assert stall_allowance(quick, "eni-1", detach_timeout_s=10.0) == 0.0
    stalled = [
        ev(1.0, "enis", "eni-1", "InUse", "Detaching", instance="i-a"),
        ev(13.0, "instances", "i-a", "Running", "Stopping"),  # escalated 2 s late
        ev(13.8, "instances", "i-a", "Stopping", "Stopped"),
        ev(13.8, "enis", "eni-1", "Detaching", "Available"),
    ]
    assert stall_allowance(stalled, "eni-1", detach_timeout_s=10.0) == pytest.approx(10.8)
