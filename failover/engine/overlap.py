"""Work of a failover that does not wait for the guest step, started alongside it.

Two things the verify step needs do not depend on the guest's configuration:
- the EIP check: whether each configured EIP is associated (InUse) with the ENI. It follows the
  ENI in the cloud, not the guest, so it is read on its own thread as the guest step starts and
  the verify step collects the answer. A read that failed, or one that found an EIP missing, is
  read again in the verify step (the association may settle a moment later; the verify step's
  own read decides, exactly as without the overlap);
- the first service probe through the new holder's IPs: with pre-staged configuration the guest
  step's check already probes right after the attach was seen InUse, and its passing outcome is
  the verify step's (the same checks, the same IPs, the same target). The verify step still
  re-reads the ENI first: it must still be InUse there.

Both are kept per failover run (record id) in memory only: a resumed run reads afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from failover.config import GroupConfig
from failover.model import CallTrace, Priority, VerifyOutcome
from failover.ports import CloudPort

T = TypeVar("T")


class Early(Generic[T]):
    """One call run on its own thread now; its answer (or its exception) collected later."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as e:  # handed to the collector, who decides
            self._error = e

    def result(self, timeout_s: float) -> T:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"{self._thread.name} still running after {timeout_s:g}s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set when no error was raised


def eips_found(cloud: CloudPort, group: GroupConfig, trace: CallTrace) -> set[str]:
    """The EIPs the cloud shows InUse on the group's ENI."""
    return {e.ip for e in cloud.eips_of_eni(group.network_interface, priority=Priority.FAILOVER,
                                            trace=trace) if e.status == "InUse"}


@dataclass
class Ahead:
    """What one run started ahead of its verify step."""

    eips: Early[set[str]] | None = None
    eip_trace: CallTrace | None = None
    served: VerifyOutcome | None = None  # the guest step's passing probe, when it had one


def start_eip_check(cloud: CloudPort, group: GroupConfig) -> Ahead:
    if not group.eips:
        return Ahead()
    trace = CallTrace()  # a read: no fencing guard needed
    return Ahead(Early(lambda: eips_found(cloud, group, trace), f"eip-check-{group.name}"), trace)


def lost_eips(ahead: Ahead, cloud: CloudPort, group: GroupConfig, trace: CallTrace,
                 timeout_s: float) -> list[str]:
    """The configured EIPs not associated with the ENI: the early read's answer when it found them
    all; otherwise (no early read, it failed, or something was missing) a read now decides."""
    if ahead.eips is not None and ahead.eip_trace is not None:
        try:
            found = ahead.eips.result(timeout_s)
        except Exception:  # the read below decides, and raises its own error
            found = None
        for call in ahead.eip_trace.calls:
            trace.add(call)  # its RequestIds belong to the verify step's journal entry
        if found is not None and all(ip in found for ip in group.eips):
            return []
    found = eips_found(cloud, group, trace)
    return [ip for ip in group.eips if ip not in found]
