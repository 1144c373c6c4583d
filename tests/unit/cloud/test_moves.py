from __future__ import annotations

from dataclasses import replace

import pytest

from failover.cloud.moves import Next, attach_step, detach_step, stop_step
from failover.model import EniState, EniStatus, ErrorKind

BASE = EniState(eni_id="eni-svc", status=EniStatus.IN_USE, instance_id="i-a", mac="m",
                primary_ip="10.0.0.5", private_ips=("10.0.0.5",), vswitch_id="vsw",
                vpc_id="vpc", zone_id="z")


def eni(status: EniStatus, holder: str | None) -> EniState:
    return replace(BASE, status=status, instance_id=holder)


def attach(state: EniState, *, issued: bool = False, seen: bool = False, avail: int = 0) -> Next:
    return attach_step(state, "i-b", issued=issued, seen_attaching=seen,
                       available_after_issue=avail).next


def test_attach_is_idempotent() -> None:
    assert attach(eni(EniStatus.IN_USE, "i-b")) is Next.DONE
    assert attach(eni(EniStatus.ATTACHING, "i-b")) is Next.WAIT
    assert attach(eni(EniStatus.AVAILABLE, None)) is Next.ISSUE
    assert attach(eni(EniStatus.DETACHING, "i-a")) is Next.WAIT


def test_attach_elsewhere_is_fatal_and_names_both_instances() -> None:
    step = attach_step(eni(EniStatus.IN_USE, "i-a"), "i-b", issued=False, seen_attaching=False,
                       available_after_issue=0)
    assert step.next is Next.FAIL and step.kind is ErrorKind.FATAL
    assert "i-a" in step.message and "i-b" in step.message


def test_attach_falling_back_to_available_is_a_failed_attach() -> None:
    available = eni(EniStatus.AVAILABLE, None)
    assert attach(available, issued=True, avail=1) is Next.WAIT  # the call may not show yet
    assert attach(available, issued=True, avail=2) is Next.FAIL
    step = attach_step(available, "i-b", issued=True, seen_attaching=True, available_after_issue=1)
    assert step.next is Next.FAIL and step.kind is ErrorKind.RETRYABLE


def test_detach_decisions() -> None:
    assert detach_step(eni(EniStatus.AVAILABLE, None), "i-a").next is Next.DONE
    assert detach_step(eni(EniStatus.DETACHING, "i-a"), "i-a").next is Next.WAIT
    assert detach_step(eni(EniStatus.IN_USE, "i-a"), "i-a").next is Next.ISSUE
    assert detach_step(eni(EniStatus.ATTACHING, "i-a"), "i-a").next is Next.WAIT
    other = detach_step(eni(EniStatus.IN_USE, "i-c"), "i-a")
    assert other.next is Next.FAIL and other.kind is ErrorKind.CONFLICT and "i-c" in other.message
    assert detach_step(eni(EniStatus.DELETING, None), "i-a").kind is ErrorKind.FATAL


def test_an_unknown_status_is_waited_out_never_acted_on() -> None:
    assert attach(eni(EniStatus.UNKNOWN, None)) is Next.WAIT
    assert detach_step(eni(EniStatus.UNKNOWN, "i-a"), "i-a").next is Next.WAIT


@pytest.mark.parametrize(("status", "nxt"), [
    ("Stopped", Next.DONE), ("Stopping", Next.WAIT), ("Running", Next.ISSUE),
    ("Starting", Next.ISSUE), (None, Next.FAIL),
])
def test_stop_decisions(status: str | None, nxt: Next) -> None:
    assert stop_step(status, "i-a").next is nxt
