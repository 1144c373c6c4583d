"""The guest step as a check, for groups with pre-staged guest configuration (guest.prestage).

With `failover provision` having installed a hot-plug trigger on every member, the new
holder's own OS configures the ENI when the NIC appears; no Cloud Assistant call is needed.
The guest step therefore starts probing the service IPs right after the attach was seen InUse
(the group's own checks, through the `Verifier`, exactly as the verify step will; short attempts
of `SLICE_S` for the first half), for at most `guest.prestage_wait_s`. Served: the step ends, path
`prestaged`. Not served within the bound (nothing staged there, a stale stage, a trigger that
failed): the controller falls back to the RunCommand guest step as without pre-staging, path
`runcommand`. A RunCommand that fails fails the step as before. The path goes to the journal
(the step's `detail`), the log and `failover_guest_path_total{group,path}`.

No record decides the path: not the member's staging tag, not the journal. Only the service
answering through its IPs counts as pre-staged; anything else gets the script sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from failover import metrics
from failover.config import GroupConfig
from failover.model import CallTrace, CommandResult, EniState, VerifyOutcome
from failover.ports import Clock, Verifier

log = logging.getLogger("failover.engine")

PRESTAGED, RUNCOMMAND = "prestaged", "runcommand"
GUEST_PATHS = (PRESTAGED, RUNCOMMAND)  # the label values of failover_guest_path_total
SLICE_S = 0.2  # each probe attempt of the check: a SYN to an address not up yet is not answered


def service_ips(group: GroupConfig, eni: EniState) -> list[str]:
    """What the verify step checks: the configured service IPs, else every IP of the ENI."""
    return list(group.service_ips) or list(eni.private_ips)


def _served_within(group: GroupConfig, target: str, ips: Sequence[str], verifier: Verifier,
                   clock: Clock, bound: float) -> VerifyOutcome:
    """Probes in short slices for the first half of the bound: a probe sent before the trigger
    brought the IPs up goes unanswered (no address there yet; TCP would retransmit its SYN a
    second later), so each attempt is cut to `SLICE_S` and a new one follows, instead of waiting
    out the check's own timeout. The second half is one attempt, so a service slower to answer
    than a slice still counts as served."""
    deadline = clock.monotonic() + bound
    while True:
        left = deadline - clock.monotonic()
        attempt = SLICE_S if left > bound / 2 else left
        outcome = verifier.verify(group.name, target, ips, timeout_s=max(0.01, attempt))
        if outcome.ok or clock.monotonic() >= deadline:
            return outcome


def check_or_configure(
    group: GroupConfig, target: str, eni: EniState, trace: CallTrace, *, verifier: Verifier,
    clock: Clock, configure: Callable[[], CommandResult], failover_id: str = "",
) -> tuple[str, VerifyOutcome | None]:
    """The guest step of a pre-staged group: the path that served it and, on the pre-staged
    path, the passing probe (the verify step's first; see overlap.py)."""
    ips: Sequence[str] = service_ips(group, eni)
    t0 = clock.monotonic()
    outcome = _served_within(group, target, ips, verifier, clock, group.guest.prestage_wait_s)
    waited = clock.monotonic() - t0
    if outcome.ok:
        path = PRESTAGED
    else:
        log.warning("pre-staged guest configuration did not act in time; sending the script",
                    extra={"failover": failover_id, "group": group.name, "instance": target,
                           "waited_s": round(waited, 3), "detail": outcome.detail})
        result = configure()
        if not result.ok:
            raise RuntimeError(f"guest script on {target} ended {result.status} "
                               f"(exit {result.exit_code}): {result.output[-300:]}")
        path = RUNCOMMAND
    trace.detail = path
    metrics.record_guest_path(group.name, path)
    log.info("guest step served by %s", path, extra={"failover": failover_id, "group": group.name,
                                                      "instance": target, "waited_s": round(waited, 3)})
    return path, outcome if path == PRESTAGED else None
