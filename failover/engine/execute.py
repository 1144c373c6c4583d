"""Execute one failover: fenced, written ahead, resumable, idempotent step by step.

Before each step the leader asks for a fencing token (no token, no action),
records the step as running, acts, and records the outcome. A new leader that
finds the record unfinished calls `run` again: finished steps are skipped and
every step re-reads the cloud before it acts (the attach step may start from the detach's
look of a moment ago), so nothing happens twice.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from failover import metrics
from failover.config import GroupConfig
from failover.engine import guest_check
from failover.engine.transitions import closed, moved, not_serving, served
from failover.model import (
    CallTrace,
    CloudError,
    CommandResult,
    DetachStalled,
    EniState,
    EniStatus,
    GuestNetwork,
    NotLeader,
    Priority,
    Result,
    StepName,
    Trigger,
)
from failover.ports import Clock, CloudPort, GuestConfigurator, Journal, Leadership, Verifier
from failover.records import FailoverRecord, FencingToken, GroupState, StepRecord

log = logging.getLogger("failover.engine")


class StepFailed(Exception):
    def __init__(self, record: FailoverRecord, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.record = record
        self.cause = cause


class HoldsTheEni(Exception):
    """A release stopped unsent: its instance is the ENI's holder by the cloud's fresh word."""


@dataclass(frozen=True)
class Collaborators:
    """The ports one execution is handed (the engine never builds an adapter)."""

    cloud: CloudPort
    leadership: Leadership
    journal: Journal
    guest_for: Callable[[GroupConfig], GuestConfigurator]  # by the group's guest method and OS
    verifier: Verifier
    clock: Clock


def gateway_of(cidr: str) -> str:
    """Alibaba's vSwitch gateway: the third-last address (x.x.x.253 in a /24)."""
    net = ipaddress.IPv4Network(cidr)
    return str(net.broadcast_address - 2)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, CloudError):
        parts = [str(exc)]
        if exc.code and exc.code not in str(exc):
            parts.append(f"code {exc.code}")
        if exc.request_id:
            parts.append(f"request {exc.request_id}")
        return "; ".join(parts)
    return f"{exc.__class__.__name__}: {exc}"


class Executor:
    def __init__(self, deps: Collaborators) -> None:
        self.d = deps
        self._attached: dict[str, EniState] = {}  # by failover id, from the attach step
        # By failover id, within one `run`: the detach's last look, for the attach step.
        self._detached: dict[str, EniState] = {}
        self._cidrs: dict[str, str] = {}  # by vSwitch id
        # By group: the verify step's look at the ENI and when that read began (monotonic),
        # for the engine, which needs a look newer than the move before deciding again.
        self._verified: dict[str, tuple[float, EniState]] = {}
        self._state_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def update_state(self, group: GroupConfig, token: FencingToken,
                      change: Callable[[GroupState], GroupState]) -> None:
        """Read-modify-write of a group's state. A failover and a release of the same group can
        run at once in this process: without the lock one would write back what it read before
        the other's write (a holder going back to the old instance, say)."""
        with self._locks_lock:
            lock = self._state_locks.setdefault(group.name, threading.Lock())
        with lock:
            self.d.journal.set_group_state(change(self.d.journal.group_state(group.name)), token)

    # ---------------------------------------------------------------- entry

    def begin(
        self, group: GroupConfig, from_instance: str | None, to_instance: str,
        trigger: Trigger, reason: str, request_id: str | None = None,
    ) -> FailoverRecord:
        token = self.d.leadership.fence()
        record = FailoverRecord(
            id=f"{group.name}-{int(self.d.clock.now() * 1000):x}-{uuid.uuid4().hex[:6]}",
            group=group.name, from_instance=from_instance, to_instance=to_instance,
            trigger=trigger, reason=reason, started_at=self.d.clock.now(), epoch=token.epoch,
            request_id=request_id,
        )
        self.d.journal.begin(record, token)
        metrics.FAILOVER_IN_PROGRESS.labels(group=group.name).set(1)
        log.info("failover started", extra={"failover": record.id, "group": group.name,
                                            "from": from_instance, "to": to_instance, "reason": reason})
        return record

    def run(self, group: GroupConfig, record: FailoverRecord) -> FailoverRecord:
        """Runs the remaining steps. NotLeader propagates: the next leader resumes."""
        metrics.FAILOVER_IN_PROGRESS.labels(group=group.name).set(1)
        try:
            if group.policy.fence == "always" and record.trigger is Trigger.AUTO:
                record = self._step(record, group, StepName.FENCE, lambda t: self._fence(record, group, t))
            record = self._detach(record, group)
            record = self._step(record, group, StepName.ATTACH, lambda t: self._attach(record, group, t))
            record = self._step(record, group, StepName.GUEST, lambda t: self._guest(group, record, t))
            record = self._step(record, group, StepName.VERIFY, lambda t: self._verify(group, record, t))
            record = self._step(record, group, StepName.DONE, lambda t: self._done(group, record))
            return self._finish(group, record, Result.COMPLETED, None)
        except StepFailed as failed:
            return self._finish(group, failed.record, Result.FAILED, describe_error(failed.cause))
        finally:
            metrics.FAILOVER_IN_PROGRESS.labels(group=group.name).set(0)
            # What the steps handed on is for this run only: a resume reads afresh.
            self._detached.pop(record.id, None)
            self._attached.pop(record.id, None)

    def release(self, group: GroupConfig, instance: str) -> bool:
        """Removes the ENI's addresses and rules from a returned former holder."""
        token = self.d.leadership.fence()
        eni = self.d.cloud.describe_eni(group.network_interface, priority=Priority.ROUTINE)
        if eni.instance_id == instance:
            # The ENI is back on it (a rollback, a move by hand): its addresses are the
            # service's now. Never remove them from the ENI's current holder.
            self.update_state(group, token, lambda st: replace(
                st, pending_release=tuple(i for i in st.pending_release if i != instance)))
            log.info("former holder holds the ENI again; not released",
                     extra={"group": group.name, "instance": instance})
            return True
        network = self._network_of(group, eni.mac, eni.private_ips, eni.vswitch_id)
        # Fenced like every mutation, and the ENI re-read right before the script is sent: a
        # release waits at routine priority, and meanwhile the ENI may have come back to it.
        trace = CallTrace(guard=lambda: self._may_release(group, instance))
        try:
            result = self._guest_for(group).release(
                instance, network, timeout_s=group.policy.guest_timeout_s, trace=trace)
            ok = result.ok
        except (CloudError, HoldsTheEni) as e:
            log.warning("release failed", extra={"group": group.name, "instance": instance,
                                                 "error": describe_error(e)})
            ok = False
        if ok:
            self.update_state(group, token, lambda st: replace(
                st, pending_release=tuple(i for i in st.pending_release if i != instance)))
            log.info("former holder released; it is a standby now",
                     extra={"group": group.name, "instance": instance})
        return ok

    def note_not_serving(self, group: GroupConfig, instance: str) -> None:
        """Remembers, before its guest step is re-run, that `instance` did not serve."""
        now = self.d.clock.now()

        self.update_state(group, self.d.leadership.fence(), lambda st: not_serving(st, instance, now))

    def abandon(self, group: GroupConfig, record: FailoverRecord, reason: str) -> FailoverRecord:
        """Closes an unfinished record whose attach never started: nothing is half-done, so the
        group is decided afresh from what the cloud shows."""
        final = replace(record, result=Result.ABORTED, finished_at=self.d.clock.now(), error=reason)
        self.d.journal.update(final, self.d.leadership.fence())
        metrics.FAILOVERS.labels(group=group.name, result=final.result.value,
                                 trigger=final.trigger.value).inc()
        log.warning("failover abandoned", extra={"failover": record.id, "group": group.name,
                                                 "reason": reason})
        return final
    def _may_release(self, group: GroupConfig, instance: str) -> None:
        eni = self.d.cloud.describe_eni(group.network_interface, priority=Priority.ROUTINE)
        if eni.instance_id == instance:
            raise HoldsTheEni(f"{instance} holds the ENI now ({eni.status}): not releasing it")
        self.d.leadership.fence()  # after the read, which may have waited for a token

    # ---------------------------------------------------------------- steps

    def _step(
        self, record: FailoverRecord, group: GroupConfig, name: StepName,
        action: Callable[[CallTrace], str | None],
    ) -> FailoverRecord:
        done = record.step(name)
        if done is not None and done.status in ("ok", "skipped"):
            return record
        token = self.d.leadership.fence()
        started, t0 = self.d.clock.now(), self.d.clock.monotonic()
        record = record.with_step(StepRecord(name, started_at=started))
        self.d.journal.update(record, token)
        # Fenced again right before every call that changes the cloud, not only here.
        trace = CallTrace(guard=self.d.leadership.fence)
        try:
            status = action(trace) or "ok"
        except NotLeader:
            raise
        except Exception as exc:
            step = StepRecord(name, started, self.d.clock.monotonic() - t0, trace.request_ids,
                              describe_error(exc), "failed")
            record = record.with_step(step)
            self.d.journal.update(record, self.d.leadership.fence())
            log.warning("step failed", extra={"failover": record.id, "step": name.value,
                                              "error": step.error})
            raise StepFailed(record, exc) from exc
        duration = self.d.clock.monotonic() - t0
        record = record.with_step(StepRecord(name, started, duration, trace.request_ids, None, status,
                                             trace.detail))
        self.d.journal.update(record, self.d.leadership.fence())
        metrics.STEP_DURATION.labels(group=group.name, step=name.value).observe(duration)
        log.info("step %s", status, extra={"failover": record.id, "step": name.value,
                                           "duration_s": round(duration, 3)})
        return record

    def _detach(self, record: FailoverRecord, group: GroupConfig) -> FailoverRecord:
        try:
            return self._step(record, group, StepName.DETACH, lambda t: self._do_detach(record, group, t))
        except StepFailed as failed:
            stalled = isinstance(failed.cause, DetachStalled)
            if not stalled or group.policy.fence == "never":
                raise
            # A hung guest keeps the ENI Detaching forever; stopping the instance releases it.
            metrics.ESCALATIONS.labels(group=group.name, action="force_stop").inc()
            rec = failed.record
            eni = self.d.cloud.describe_eni(group.network_interface, priority=Priority.FAILOVER)
            holder = eni.instance_id or record.from_instance
            if holder not in group.members:
                raise
            rec = self._step(rec, group, StepName.FENCE, lambda t: self._fence(rec, group, t, holder))
            return self._step(rec, group, StepName.DETACH, lambda t: self._do_detach(rec, group, t))

    def _do_detach(self, record: FailoverRecord, group: GroupConfig, trace: CallTrace) -> str:
        eni = self.d.cloud.describe_eni(group.network_interface, priority=Priority.FAILOVER, trace=trace)
        if eni.instance_id == record.to_instance and eni.status in (EniStatus.IN_USE, EniStatus.ATTACHING):
            return "skipped"  # a previous leader got further than its journal says
        if eni.status is EniStatus.AVAILABLE or eni.instance_id is None:
            return "skipped"
        if record.trigger is Trigger.ADOPT:
            # An adoption configures the ENI where the cloud showed it; it has moved since (by
            # hand): taking it back would undo that move. The next round adopts where it is.
            raise RuntimeError(f"the ENI moved to {eni.instance_id} since this adoption of "
                               f"{record.to_instance} was decided; not moving it back")
        if eni.instance_id not in group.members:
            raise RuntimeError(f"the ENI is attached to {eni.instance_id}, not a member of {group.name}; "
                               "the controller never detaches a non-member: detach it by hand")
        # The attach step starts from this look instead of a read of its own (a round trip
        # on the critical path of every failover).
        state = self.d.cloud.detach_eni(
            group.network_interface, eni.instance_id, timeout_s=group.policy.detach_timeout_s,
            trace=trace, reissue_after_s=min(group.policy.detach_retry_s,
                                             group.policy.detach_timeout_s / 2))
        self._detached[record.id] = state
        if sum(1 for c in trace.calls if c.action == "DetachNetworkInterface") > 1:
            metrics.ESCALATIONS.labels(group=group.name, action="detach_reissue").inc()
        return "ok"

    def _fence(self, record: FailoverRecord, group: GroupConfig, trace: CallTrace,
               instance: str | None = None) -> str:
        target = instance or record.from_instance
        if target is None or target == record.to_instance or target not in group.members:
            return "skipped"
        self.d.cloud.force_stop(target, timeout_s=group.policy.stop_timeout_s, trace=trace)
        log.warning("fenced the old holder with a force-stop",
                    extra={"failover": record.id, "instance": target})
        return "ok"

    def _attach(self, record: FailoverRecord, group: GroupConfig, trace: CallTrace) -> str:
        eni = self.d.cloud.attach_eni(group.network_interface, record.to_instance,
                                      timeout_s=group.policy.attach_timeout_s, trace=trace,
                                      known=self._detached.pop(record.id, None))
        self._attached[record.id] = eni  # the guest step needs its MAC and IPs: no second read
        # The desired state follows the cloud at once, so a failure after this
        # point never leaves the journal pointing at the old holder.
        self.update_state(group, self.d.leadership.fence(),
                          lambda st: moved(st, record.to_instance))
        self._export_holder(group, record.to_instance)
        return "ok"

    def _network_of(self, group: GroupConfig, mac: str, ips: tuple[str, ...], vswitch: str) -> GuestNetwork:
        cidr = group.guest.cidr or self._cidrs.get(vswitch)
        if cidr is None:  # a vSwitch's CIDR never changes: read it once per process
            cidr = self.d.cloud.describe_vswitch(vswitch, priority=Priority.FAILOVER).cidr
            self._cidrs[vswitch] = cidr
        gateway = group.guest.gateway or gateway_of(cidr)
        return GuestNetwork(mac=mac, ips=ips, cidr=cidr, gateway=gateway, table=group.guest.table)

    def _guest_for(self, group: GroupConfig) -> GuestConfigurator:
        return self.d.guest_for(group)

    def _guest(self, group: GroupConfig, record: FailoverRecord, trace: CallTrace) -> str:
        eni = self._attached.pop(record.id, None) or self.d.cloud.describe_eni(
            group.network_interface, priority=Priority.FAILOVER, trace=trace)
        network = self._network_of(group, eni.mac, eni.private_ips, eni.vswitch_id)
        if group.guest.prestage:  # the standby's own trigger first; RunCommand only if it did not act
            guest_check.check_or_configure(
                group, record.to_instance, eni, trace, verifier=self.d.verifier, clock=self.d.clock,
                configure=lambda: self._configure(group, record.to_instance, network, trace),
                failover_id=record.id)
            return "ok"
        result = self._configure(group, record.to_instance, network, trace)
        if not result.ok:
            raise RuntimeError(f"guest script on {record.to_instance} ended {result.status} "
                               f"(exit {result.exit_code}): {result.output[-300:]}")
        return "ok"

    def take_verified(self, group: str) -> tuple[float, EniState] | None:
        """The last successful verify's look at the group's ENI (once)."""
        return self._verified.pop(group, None)

    def _configure(self, group: GroupConfig, target: str, network: GuestNetwork,
                   trace: CallTrace) -> CommandResult:
        """The guest script on the new holder. A cold standby (kept Stopped: its type takes an
        ENI only then) refuses it until started: then it is started and the script sent again.
        A warm one costs nothing more; without a script, the instance is started up front."""
        def start() -> bool:
            return self.d.cloud.ensure_running(target, timeout_s=group.policy.start_timeout_s,
                                               trace=trace)
        if group.guest.method == "none":
            start()
        guest = self._guest_for(group)
        try:
            return guest.configure(target, network, timeout_s=group.policy.guest_timeout_s,
                                   trace=trace)
        except CloudError:
            if not start():
                raise
        return guest.configure(target, network, timeout_s=group.policy.guest_timeout_s, trace=trace)

    def _verify(self, group: GroupConfig, record: FailoverRecord, trace: CallTrace) -> str:
        looked_at = self.d.clock.monotonic()
        eni = self.d.cloud.describe_eni(group.network_interface, priority=Priority.FAILOVER, trace=trace)
        if eni.instance_id != record.to_instance or eni.status is not EniStatus.IN_USE:
            raise RuntimeError(f"ENI is {eni.status} on {eni.instance_id}, not InUse on {record.to_instance}")
        ips = list(group.service_ips) or list(eni.private_ips)
        outcome = self.d.verifier.verify(group.name, record.to_instance, ips,
                                         timeout_s=group.policy.verify_timeout_s)
        if not outcome.ok:
            raise RuntimeError(f"service checks failed on {record.to_instance}: {outcome.detail}")
        if group.eips:
            found = {e.ip for e in self.d.cloud.eips_of_eni(group.network_interface,
                                                             priority=Priority.FAILOVER, trace=trace)
                     if e.status == "InUse"}
            missing = [ip for ip in group.eips if ip not in found]
            if missing:
                raise RuntimeError(f"EIPs {', '.join(missing)} are not associated with the ENI")
        self._verified[group.name] = (looked_at, eni)
        return "ok"

    def _done(self, group: GroupConfig, record: FailoverRecord) -> str:
        now = self.d.clock.now()
        self.update_state(group, self.d.leadership.fence(), lambda st: served(group, st, record, now))
        return "ok"

    def _finish(self, group: GroupConfig, record: FailoverRecord, result: Result,
                error: str | None) -> FailoverRecord:
        now = self.d.clock.now()
        record = replace(record, result=result, finished_at=now, error=error)
        token: FencingToken = self.d.leadership.fence()
        self.d.journal.update(record, token)
        last = replace(record, steps=())  # kept with the group's state for /status
        self.update_state(group, token,
                          lambda st: replace(closed(group, st, record, now), last_failover=last))
        metrics.FAILOVERS.labels(group=group.name, result=result.value, trigger=record.trigger.value).inc()
        if result is Result.COMPLETED and record.duration_s is not None:
            metrics.FAILOVER_DURATION.labels(group=group.name).observe(record.duration_s)
        log.info("failover %s", result.value, extra={"failover": record.id, "group": group.name,
                                                     "duration_s": record.duration_s, "error": error})
        return record

    @staticmethod
    def _export_holder(group: GroupConfig, holder: str | None) -> None:
        for m in group.members:
            metrics.ENI_HOLDER.labels(group=group.name, instance=m).set(1 if m == holder else 0)
