from __future__ import annotations

from dataclasses import replace

import pytest

from failover.cloud.moves import Next, attach_next, detach_next, stop_next
from failover.model import EniState, EniStatus, ErrorKind

BASE = EniState(eni_id="eni-svc", status=EniStatus.IN_USE, instance_id="i-a", mac="m",
                primary_ip="10.0.0.5", private_ips=("10.0.0.5",), vswitch_id="vsw",
                vpc_id="vpc", zone_id="z")


def eni(status: EniStatus, holder: str | None) -> EniState:
    return replace(BASE, status=status, instance_id=holder)


def attach(state: EniState, *, issued: bool = False, seen: bool = False, lag_over: bool = False) -> Next:
    return attach_next(state, "i-b", issued=issued, seen_attaching=seen,
                       lag_over=lag_over).next


def test_attach_is_idempotent() -> None:
    assert attach(eni(EniStatus.IN_USE, "i-b")) is Next.DONE
    assert attach(eni(EniStatus.ATTACHING, "i-b")) is Next.WAIT
    assert attach(eni(EniStatus.AVAILABLE, None)) is Next.ISSUE
    assert attach(eni(EniStatus.DETACHING, "i-a")) is Next.WAIT


def test_attach_elsewhere_is_fatal_and_names_both_instances() -> None:
    move = attach_next(eni(EniStatus.IN_USE, "i-a"), "i-b", issued=False, seen_attaching=False)
    assert move.next is Next.FAIL and move.kind is ErrorKind.FATAL
    assert "i-a" in move.message and "i-b" in move.message


def test_attach_falling_back_to_available_is_a_failed_attach() -> None:
    available = eni(EniStatus.AVAILABLE, None)
    move = attach_next(available, "i-b", issued=True, seen_attaching=True)
    assert move.next is Next.FAIL and move.kind is ErrorKind.RETRYABLE


def test_available_without_a_sign_of_the_call_is_lag_then_a_re_issue_never_a_failure() -> None:
    available = eni(EniStatus.AVAILABLE, None)
    assert attach(available, issued=True) is Next.WAIT  # the describes may not show it yet
    assert attach(available, issued=True, lag_over=True) is Next.ISSUE  # lost: send it again


def test_an_empty_instance_id_while_attaching_is_waited_on() -> None:
    attaching = eni(EniStatus.ATTACHING, None)
    assert attach(attaching) is Next.WAIT
    assert attach(attaching, issued=True) is Next.WAIT
    assert attach(eni(EniStatus.IN_USE, None), issued=True) is Next.WAIT  # the holder shows next
    assert detach_next(attaching, "i-a").next is Next.WAIT


def test_detach_decisions() -> None:
    assert detach_next(eni(EniStatus.AVAILABLE, None), "i-a").next is Next.DONE
    assert detach_next(eni(EniStatus.DETACHING, "i-a"), "i-a").next is Next.WAIT
    assert detach_next(eni(EniStatus.IN_USE, "i-a"), "i-a").next is Next.ISSUE
    assert detach_next(eni(EniStatus.ATTACHING, "i-a"), "i-a").next is Next.WAIT
    other = detach_next(eni(EniStatus.IN_USE, "i-c"), "i-a")
    assert other.next is Next.FAIL and other.kind is ErrorKind.CONFLICT and "i-c" in other.message
    assert detach_next(eni(EniStatus.DELETING, None), "i-a").kind is ErrorKind.FATAL


def test_an_unknown_status_is_waited_out_never_acted_on() -> None:
    assert attach(eni(EniStatus.UNKNOWN, None)) is Next.WAIT
    assert detach_next(eni(EniStatus.UNKNOWN, "i-a"), "i-a").next is Next.WAIT


@pytest.mark.parametrize(("status", "nxt"), [
    ("Stopped", Next.DONE), ("Stopping", Next.WAIT), ("Running", Next.ISSUE),
    ("Starting", Next.ISSUE), (None, Next.FAIL),
])
def test_stop_decisions(status: str | None, nxt: Next) -> None:
    assert stop_next(status, "i-a").next is nxt
