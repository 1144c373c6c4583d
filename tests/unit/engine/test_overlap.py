"""What a failover starts alongside the guest step: the EIP check, the verify step's first probe."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from failover.config import GroupConfig
from failover.engine import overlap
from failover.engine.execute import StepOutcome
from failover.engine.view import EniSeen
from failover.model import (
    ApiCall,
    CallTrace,
    CloudError,
    CommandResult,
    EipInfo,
    EniState,
    EniStatus,
    ErrorKind,
    GuestNetwork,
    Priority,
    Result,
    StepName,
    Trigger,
    VerifyOutcome,
)
from failover.records import FailoverRecord
from tests.unit.engine.fakes import FakeCloud, FakeGuest
from tests.unit.engine.test_execute import World, group

EIPS = ["47.100.0.1", "47.100.0.2"]


def eip(ip: str) -> EipInfo:
    return EipInfo(f"eip-{ip}", ip, "InUse", "eni-a", "NetworkInterface", "192.168.1.50", "NAT")


class EipCloud(FakeCloud):
    """Answers each EIP read from `answers` in turn (an exception is raised); records a RequestId."""

    def __init__(self, answers: list[Exception | list[str]]) -> None:
        super().__init__({"eni-a": "i-a"})
        self.answers = answers
        self.eip_reads: list[str] = []
        self.read = threading.Event()

    def eips_of_eni(self, eni_id: str, *, priority: Priority = Priority.ROUTINE,
                    trace: CallTrace | None = None) -> list[EipInfo]:
        self.eip_reads.append(threading.current_thread().name)
        if trace is not None:
            trace.add(ApiCall("DescribeEipAddresses", "OK", 0.01, f"req-eip-{len(self.eip_reads)}"))
        answer = self.answers[min(len(self.eip_reads), len(self.answers)) - 1]
        self.read.set()
        if isinstance(answer, Exception):
            raise answer
        return [eip(ip) for ip in answer]


class WaitsForTheEipRead(FakeGuest):
    """A guest step that ends only once the EIP read was made: in series, it never would."""

    def __init__(self, cloud: EipCloud) -> None:
        super().__init__()
        self.cloud = cloud
        self.saw_read: bool | None = None

    def configure(self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
                  trace: CallTrace | None = None) -> CommandResult:
        self.saw_read = self.cloud.read.wait(5.0)
        return super().configure(instance_id, network, timeout_s=timeout_s, trace=trace)


def world(cloud: EipCloud, guest: FakeGuest | None = None) -> World:
    w = World()
    w.cloud = cloud
    w.guest = guest or FakeGuest()
    w.ex.deps = replace(w.ex.deps, cloud=cloud, guest_for=lambda g: w.guest)
    return w


def test_the_eip_check_runs_while_the_guest_step_does() -> None:
    cloud = EipCloud([EIPS])
    guest = WaitsForTheEipRead(cloud)
    w = world(cloud, guest)
    g = group(eips=EIPS)
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED
    assert guest.saw_read is True  # the read was made while the guest step was still running
    assert len(cloud.eip_reads) == 1 and cloud.eip_reads[0].startswith("eip-check-")
    verify = rec.step(StepName.VERIFY)
    assert verify is not None and "req-eip-1" in verify.request_ids  # in the verify step's journal


def test_an_eip_missing_early_is_read_again_before_failing() -> None:
    cloud = EipCloud([EIPS[:1], EIPS])  # the association settled between the two reads
    w = world(cloud)
    g = group(eips=EIPS)
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED and len(cloud.eip_reads) == 2


def test_an_eip_still_missing_fails_verify() -> None:
    cloud = EipCloud([EIPS[:1]])
    w = world(cloud)
    g = group(eips=EIPS)
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.FAILED and "47.100.0.2" in (rec.error or "")
    assert len(cloud.eip_reads) == 2


def test_a_failed_early_read_is_made_again_in_the_verify_step() -> None:
    cloud = EipCloud([CloudError("slow down", kind=ErrorKind.RETRYABLE, code="Throttling"), EIPS])
    w = world(cloud)
    g = group(eips=EIPS)
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert rec.result is Result.COMPLETED and len(cloud.eip_reads) == 2


def test_no_eips_no_early_read() -> None:
    cloud = EipCloud([EIPS])
    w = world(cloud)
    g = group()
    assert w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record.result is Result.COMPLETED
    assert cloud.eip_reads == [] and overlap.start_eip_check(cloud, g).eips is None


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def verify(self, group: str, instance_id: str, ips: Sequence[str], *, timeout_s: float) -> VerifyOutcome:
        self.calls += 1
        return VerifyOutcome(True)


def test_the_prestaged_probe_is_the_verify_steps_but_the_eni_is_still_read() -> None:
    w = World()
    counting = Counting()
    w.ex.deps = replace(w.ex.deps, verifier=counting)
    g = group(guest={"prestage": True, "prestage_wait_s": 1.0})
    real = w.cloud.describe_eni
    reads = 0

    def moved_after_guest(eni_id: str, **kw: Any) -> EniState:
        nonlocal reads
        reads += 1
        eni = real(eni_id, **kw)
        # the verify step's own read finds the ENI gone from the new holder: it must fail
        return replace(eni, status=EniStatus.AVAILABLE, instance_id=None) if verifying else eni

    verifying = False
    original = w.ex._verify

    def verify(group: GroupConfig, record: FailoverRecord, trace: CallTrace,
               ahead: overlap.Ahead | None) -> StepOutcome[EniSeen]:
        nonlocal verifying
        verifying = True
        return original(group, record, trace, ahead)

    w.cloud.describe_eni = moved_after_guest  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    w.ex._verify = verify  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    rec = w.ex.run(g, w.ex.begin(g, "i-a", "i-b", Trigger.AUTO, "down")).record
    assert counting.calls == 1  # one probe: the guest step's
    assert rec.result is Result.FAILED and "not InUse on i-b" in (rec.error or "")
