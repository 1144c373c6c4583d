"""`ports.Verifier`: a group's checks against a new holder, retried until they pass.

Right after an ENI move the service IPs answer within tens of milliseconds,
not at once, so each failing probe is retried every `retry_s` until all have
passed or `timeout_s` is spent. A probe that passed once is not re-run. No
probe may outlive the deadline: its own timeout is cut to what is left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence

from failover.config import GroupConfig
from failover.health.plan import ProbeSpec, needs_ip, plan_verify
from failover.health.probes import StatusFetcher, probe_all
from failover.model import Priority, VerifyOutcome
from failover.ports import InstanceStatusReader

_MIN_PROBE_S = 0.05


class ProbeVerifier:
    def __init__(
        self,
        groups: Sequence[GroupConfig],
        *,
        cloud: InstanceStatusReader | None = None,
        addresses: Callable[[], Mapping[str, str]] | None = None,
        retry_s: float = 0.1,
    ) -> None:
        self._groups = {g.name: g for g in groups}
        self._cloud = cloud
        self._addresses = addresses
        self._retry_s = retry_s

    def verify(
        self, group: str, instance_id: str, ips: Sequence[str], *, timeout_s: float
    ) -> VerifyOutcome:
        cfg = self._groups.get(group)
        if cfg is None:
            return VerifyOutcome(False, f"verify: unknown group {group!r}", (f"group {group}: unknown",))
        targets = list(ips)
        if not targets and self._addresses is not None:
            own = self._addresses().get(instance_id)
            targets = [own] if own else []
        if not targets and any(needs_ip(c) for c in cfg.checks):
            return VerifyOutcome(False, "verify: no IP to probe", (f"{instance_id}: no address",))
        specs = plan_verify(cfg, instance_id, targets)
        return asyncio.run(self._until_passed(specs, timeout_s))

    def _fetcher(self) -> StatusFetcher | None:
        cloud = self._cloud
        if cloud is None:
            return None
        # A failover is in flight: the verify may spend the API reserve.
        return lambda ids: cloud.instance_statuses(ids, priority=Priority.FAILOVER)

    async def _until_passed(self, specs: list[ProbeSpec], timeout_s: float) -> VerifyOutcome:
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        pending = {s.key: s for s in specs}
        last: dict[str, str] = {}
        attempts = 0
        while pending:
            left = deadline - time.monotonic()
            if left <= 0 and attempts:
                break
            attempts += 1
            cut = max(_MIN_PROBE_S, left)
            round_specs = [dataclasses.replace(s, timeout_s=min(s.timeout_s, cut)) for s in pending.values()]
            for r in await probe_all(round_specs, self._fetcher()):
                if r.outcome is not None and r.outcome.ok:
                    pending.pop(r.spec.key, None)
                else:
                    last[r.spec.key] = r.outcome.reason if r.outcome else "no answer from the cloud"
            if pending:
                await asyncio.sleep(max(0.0, min(self._retry_s, deadline - time.monotonic())))
        took = time.monotonic() - t0
        if not pending:
            return VerifyOutcome(True, f"{len(specs)} probes passed in {took:.2f}s ({attempts} attempts)")
        failures = tuple(f"{key}: {last.get(key, 'not run')}" for key in pending)
        return VerifyOutcome(
            False, f"{len(pending)} of {len(specs)} probes still failing after {took:.1f}s", failures
        )
