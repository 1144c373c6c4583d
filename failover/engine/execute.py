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
from typing import Generic, TypeVar

from failover import metrics
from failover.config import GroupConfig
from failover.engine import guest_check, overlap
from failover.engine.errors import (
    AdoptionOvertaken,
    GuestScriptFailed,
    NotAMember,
    StepFailed,
    VerifyFailed,
    describe_error,
)
from failover.engine.transitions import closed, moved, not_serving, served
from failover.engine.view import EniSeen
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
    StepStatus,
    Trigger,
)
from failover.ports import Clock, CloudPort, GuestConfigurator, Journal, Leadership, Verifier
from failover.records import FailoverRecord, FencingToken, GroupState, StepRecord

log = logging.getLogger("failover.engine")

T = TypeVar("T")
Handed_co = TypeVar("Handed_co", covariant=True)


@dataclass(frozen=True)
class StepOutcome(Generic[Handed_co]):
    """How a step ended (its status in the journal) and what it hands the next step: the
    detach's and the attach's last look at the ENI spare the next step a read of its own."""

    status: StepStatus = StepStatus.OK
    handed: Handed_co | None = None


@dataclass(frozen=True)
class Finished:
    """A run's closed record and, when its verify passed, that step's look at the ENI: a read
    newer than the move, which the engine needs before deciding on the group again."""

    record: FailoverRecord
    look: EniSeen | None = None


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


class Executor:
    def __init__(self, deps: Collaborators) -> None:
        self.deps = deps
        self._cidrs: dict[str, str] = {}  # by vSwitch id
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
            self.deps.journal.set_group_state(change(self.deps.journal.group_state(group.name)), token)

    # ---------------------------------------------------------------- entry

    def begin(
        self, group: GroupConfig, from_instance: str | None, to_instance: str,
        trigger: Trigger, reason: str, request_id: str | None = None,
    ) -> FailoverRecord:
        token = self.deps.leadership.fence()
        record = FailoverRecord(
            id=f"{group.name}-{int(self.deps.clock.now() * 1000):x}-{uuid.uuid4().hex[:6]}",
            group=group.name, from_instance=from_instance, to_instance=to_instance,
            trigger=trigger, reason=reason, started_at=self.deps.clock.now(), epoch=token.epoch,
            request_id=request_id,
        )
        self.deps.journal.begin(record, token)
        metrics.set_failover_running(group.name, True)
        log.info("failover started", extra={"failover": record.id, "group": group.name,
                                            "from": from_instance, "to": to_instance, "reason": reason})
        return record

    def run(self, group: GroupConfig, record: FailoverRecord) -> Finished:
        """Runs the remaining steps. NotLeader propagates: the next leader resumes.
        What a step hands the next lives for this run only: a resume reads afresh."""
        metrics.set_failover_running(group.name, True)
        look: EniSeen | None = None
        try:
            if group.policy.fence == "always" and record.trigger is Trigger.AUTO:
                record, _ = self._step(record, group, StepName.FENCE,
                                       lambda trace: self._fence(record, group, trace))
            record, detached = self._detach(record, group)
            record, attached = self._step(record, group, StepName.ATTACH,
                                          lambda trace: self._attach(record, group, trace, detached))
            record, ahead = self._step(record, group, StepName.GUEST,
                                       lambda trace: self._guest(group, record, trace, attached))
            record, look = self._step(record, group, StepName.VERIFY,
                                      lambda trace: self._verify(group, record, trace, ahead))
            record, _ = self._step(record, group, StepName.DONE, lambda trace: self._done(group, record))
            return Finished(self._finish(group, record, Result.COMPLETED, None), look)
        except StepFailed as failed:
            return Finished(self._finish(group, failed.record, Result.FAILED,
                                         describe_error(failed.cause)), look)
        finally:
            metrics.set_failover_running(group.name, False)

    def release(self, group: GroupConfig, instance: str) -> bool:
        """Removes the ENI's addresses and rules from a returned former holder."""
        token = self.deps.leadership.fence()
        eni = self.deps.cloud.describe_eni(group.network_interface, priority=Priority.ROUTINE)
        if eni.instance_id == instance:
            # The ENI is back on it (a rollback, a move by hand): its addresses are the
            # service's now. Never remove them from the ENI's current holder.
            self.update_state(group, token, lambda state: replace(
                state, pending_release=tuple(i for i in state.pending_release if i != instance)))
            log.info("former holder holds the ENI again; not released",
                     extra={"group": group.name, "instance": instance})
            return True
        network = self._network_of(group, eni.mac, eni.private_ips, eni.vswitch_id)
        # Fenced like every mutation, and the ENI read again right before the script's call is
        # booked (by the adapter, `not_holder_of`): a release waits at routine priority, and
        # meanwhile the ENI may have come back to it.
        trace = CallTrace(guard=self.deps.leadership.fence, fence=self.deps.leadership.fence,
                          not_holder_of=group.network_interface)
        try:
            result = self._guest_for(group).release(
                instance, network, timeout_s=group.policy.guest_timeout_s, trace=trace)
            ok = result.ok
        except CloudError as e:
            log.warning("release failed", extra={"group": group.name, "instance": instance,
                                                 "error": describe_error(e)})
            ok = False
        if ok:
            self.update_state(group, token, lambda state: replace(
                state, pending_release=tuple(i for i in state.pending_release if i != instance)))
            log.info("former holder released; it is a standby now",
                     extra={"group": group.name, "instance": instance})
        return ok

    def note_not_serving(self, group: GroupConfig, instance: str) -> None:
        """Remembers, before its guest step is re-run, that `instance` did not serve."""
        now = self.deps.clock.now()
        self.update_state(group, self.deps.leadership.fence(),
                          lambda state: not_serving(state, instance, now))

    def abandon(self, group: GroupConfig, record: FailoverRecord, reason: str) -> FailoverRecord:
        """Closes an unfinished record whose attach never started: nothing is half-done, so the
        group is decided afresh from what the cloud shows."""
        final = replace(record, result=Result.ABORTED, finished_at=self.deps.clock.now(), error=reason)
        self.deps.journal.update(final, self.deps.leadership.fence())
        metrics.record_failover_end(group.name, final.result.value, final.trigger.value, None)
        log.warning("failover abandoned", extra={"failover": record.id, "group": group.name,
                                                 "reason": reason})
        return final

    # ---------------------------------------------------------------- steps

    def _step(
        self, record: FailoverRecord, group: GroupConfig, name: StepName,
        action: Callable[[CallTrace], StepOutcome[T]],
    ) -> tuple[FailoverRecord, T | None]:
        """Runs one step, fenced and written ahead; returns the record and what the step hands
        on (None when the journal shows it done already: the next step reads for itself)."""
        done = record.step(name)
        if done is not None and done.status.finished_well:
            return record, None
        token = self.deps.leadership.fence()
        started, t0 = self.deps.clock.now(), self.deps.clock.monotonic()
        record = record.with_step(StepRecord(name, started_at=started))
        self.deps.journal.update(record, token)
        # Fenced again right before every call that changes the cloud, not only here.
        trace = CallTrace(guard=self.deps.leadership.fence, fence=self.deps.leadership.fence)
        try:
            outcome = action(trace)
        except NotLeader:
            raise
        except Exception as exc:
            step = StepRecord(name, started, self.deps.clock.monotonic() - t0, trace.request_ids,
                              describe_error(exc), StepStatus.FAILED)
            record = record.with_step(step)
            self.deps.journal.update(record, self.deps.leadership.fence())
            log.warning("step failed", extra={"failover": record.id, "step": name.value,
                                              "error": step.error})
            raise StepFailed(record, exc) from exc
        duration = self.deps.clock.monotonic() - t0
        status = outcome.status
        record = record.with_step(StepRecord(name, started, duration, trace.request_ids, None, status,
                                             trace.detail))
        self.deps.journal.update(record, self.deps.leadership.fence())
        metrics.record_step(group.name, name.value, duration)
        log.info("step %s", status, extra={"failover": record.id, "step": name.value,
                                           "duration_s": round(duration, 3)})
        return record, outcome.handed

    def _detach(self, record: FailoverRecord, group: GroupConfig,
                ) -> tuple[FailoverRecord, EniState | None]:
        try:
            return self._step(record, group, StepName.DETACH,
                              lambda trace: self._do_detach(record, group, trace))
        except StepFailed as failed:
            stalled = isinstance(failed.cause, DetachStalled)
            if not stalled or group.policy.fence == "never":
                raise
            # A hung guest keeps the ENI Detaching forever; stopping the instance releases it.
            metrics.record_escalation(group.name, "force_stop")
            rec = failed.record
            eni = self.deps.cloud.describe_eni(group.network_interface, priority=Priority.FAILOVER)
            holder = eni.instance_id or record.from_instance
            if holder not in group.members:
                raise
            rec, _ = self._step(rec, group, StepName.FENCE,
                                lambda trace: self._fence(rec, group, trace, holder))
            return self._step(rec, group, StepName.DETACH,
                              lambda trace: self._do_detach(rec, group, trace))

    def _do_detach(self, record: FailoverRecord, group: GroupConfig,
                   trace: CallTrace) -> StepOutcome[EniState]:
        eni = self.deps.cloud.describe_eni(group.network_interface, priority=Priority.FAILOVER, trace=trace)
        if eni.instance_id == record.to_instance and eni.status in (EniStatus.IN_USE, EniStatus.ATTACHING):
            return StepOutcome(StepStatus.SKIPPED)  # a previous leader got further than its journal says
        if eni.status is EniStatus.AVAILABLE or eni.instance_id is None:
            return StepOutcome(StepStatus.SKIPPED)
        if record.trigger is Trigger.ADOPT:
            # An adoption configures the ENI where the cloud showed it; it has moved since (by
            # hand): taking it back would undo that move. The next round adopts where it is.
            raise AdoptionOvertaken(f"the ENI moved to {eni.instance_id} since this adoption of "
                               f"{record.to_instance} was decided; not moving it back")
        if eni.instance_id not in group.members:
            raise NotAMember(f"the ENI is attached to {eni.instance_id}, not a member of {group.name}; "
                               "the controller never detaches a non-member: detach it by hand")
        # The attach step starts from this look instead of a read of its own (a round trip
        # on the critical path of every failover).
        state = self.deps.cloud.detach_eni(
            group.network_interface, eni.instance_id, timeout_s=group.policy.detach_timeout_s,
            trace=trace, reissue_after_s=min(group.policy.detach_retry_s,
                                             group.policy.detach_timeout_s / 2))
        if sum(1 for call in trace.calls if call.action == "DetachNetworkInterface") > 1:
            metrics.record_escalation(group.name, "detach_reissue")
        return StepOutcome(StepStatus.OK, state)

    def _fence(self, record: FailoverRecord, group: GroupConfig, trace: CallTrace,
               instance: str | None = None) -> StepOutcome[None]:
        target = instance or record.from_instance
        if target is None or target == record.to_instance or target not in group.members:
            return StepOutcome(StepStatus.SKIPPED)
        self.deps.cloud.force_stop(target, timeout_s=group.policy.stop_timeout_s, trace=trace)
        log.warning("fenced the old holder with a force-stop",
                    extra={"failover": record.id, "instance": target})
        return StepOutcome()

    def _attach(self, record: FailoverRecord, group: GroupConfig, trace: CallTrace,
                detached: EniState | None) -> StepOutcome[EniState]:
        """`detached`: the detach step's last look, or None (the attach reads for itself)."""
        eni = self.deps.cloud.attach_eni(group.network_interface, record.to_instance,
                                      timeout_s=group.policy.attach_timeout_s, trace=trace,
                                      known=detached)
        # The desired state follows the cloud at once, so a failure after this
        # point never leaves the journal pointing at the old holder.
        self.update_state(group, self.deps.leadership.fence(),
                          lambda state: moved(state, record.to_instance))
        return StepOutcome(StepStatus.OK, eni)  # the guest step needs its MAC and IPs: no second read

    def _network_of(self, group: GroupConfig, mac: str, ips: tuple[str, ...], vswitch: str) -> GuestNetwork:
        cidr = group.guest.cidr or self._cidrs.get(vswitch)
        if cidr is None:  # a vSwitch's CIDR never changes: read it once per process
            cidr = self.deps.cloud.describe_vswitch(vswitch, priority=Priority.FAILOVER).cidr
            self._cidrs[vswitch] = cidr
        gateway = group.guest.gateway or gateway_of(cidr)
        return GuestNetwork(mac=mac, ips=ips, cidr=cidr, gateway=gateway, table=group.guest.table)

    def _guest_for(self, group: GroupConfig) -> GuestConfigurator:
        return self.deps.guest_for(group)

    def _guest(self, group: GroupConfig, record: FailoverRecord, trace: CallTrace,
               attached: EniState | None) -> StepOutcome[overlap.Ahead]:
        ahead = overlap.start_eip_check(self.deps.cloud, group)
        eni = attached or self.deps.cloud.describe_eni(
            group.network_interface, priority=Priority.FAILOVER, trace=trace)
        network = self._network_of(group, eni.mac, eni.private_ips, eni.vswitch_id)
        if group.guest.prestage:  # the standby's own trigger first; RunCommand only if it did not act
            _, ahead.served = guest_check.check_or_configure(
                group, record.to_instance, eni, trace, verifier=self.deps.verifier, clock=self.deps.clock,
                configure=lambda: self._configure(group, record.to_instance, network, trace),
                failover_id=record.id)
            return StepOutcome(StepStatus.OK, ahead)
        result = self._configure(group, record.to_instance, network, trace)
        if not result.ok:
            raise GuestScriptFailed(f"guest script on {record.to_instance} ended {result.status} "
                               f"(exit {result.exit_code}): {result.output[-300:]}")
        return StepOutcome(StepStatus.OK, ahead)

    def _configure(self, group: GroupConfig, target: str, network: GuestNetwork,
                   trace: CallTrace) -> CommandResult:
        """The guest script on the new holder. A cold standby (kept Stopped: its type takes an
        ENI only then) refuses it until started: then it is started and the script sent again.
        A warm one costs nothing more; without a script, the instance is started up front."""
        def start() -> bool:
            return self.deps.cloud.ensure_running(target, timeout_s=group.policy.start_timeout_s,
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

    def _verify(self, group: GroupConfig, record: FailoverRecord, trace: CallTrace,
                ahead: overlap.Ahead | None) -> StepOutcome[EniSeen]:
        """`ahead`: what the guest step started (None on a resume past it: all read here)."""
        looked_at = self.deps.clock.monotonic()
        eni = self.deps.cloud.describe_eni(group.network_interface, priority=Priority.FAILOVER, trace=trace)
        if eni.instance_id != record.to_instance or eni.status is not EniStatus.IN_USE:
            raise VerifyFailed(f"ENI is {eni.status} on {eni.instance_id}, not InUse on {record.to_instance}")
        ahead = ahead or overlap.Ahead()
        outcome = ahead.served or self.deps.verifier.verify(
            group.name, record.to_instance, guest_check.service_ips(group, eni),
            timeout_s=group.policy.verify_timeout_s)
        if not outcome.ok:
            raise VerifyFailed(f"service checks failed on {record.to_instance}: {outcome.detail}")
        if group.eips:
            missing = overlap.lost_eips(ahead, self.deps.cloud, group, trace, group.policy.verify_timeout_s)
            if missing:
                raise VerifyFailed(f"EIPs {', '.join(missing)} are not associated with the ENI")
        return StepOutcome(StepStatus.OK, EniSeen.of(eni, looked_at))

    def _done(self, group: GroupConfig, record: FailoverRecord) -> StepOutcome[None]:
        now = self.deps.clock.now()
        self.update_state(group, self.deps.leadership.fence(),
                          lambda state: served(group, state, record, now))
        return StepOutcome()

    def _finish(self, group: GroupConfig, record: FailoverRecord, result: Result,
                error: str | None) -> FailoverRecord:
        now = self.deps.clock.now()
        record = replace(record, result=result, finished_at=now, error=error)
        token: FencingToken = self.deps.leadership.fence()
        self.deps.journal.update(record, token)
        last = replace(record, steps=())  # kept with the group's state for /status
        self.update_state(group, token,
                          lambda state: replace(closed(group, state, record, now), last_failover=last))
        metrics.record_failover_end(group.name, result.value, record.trigger.value,
                                    record.duration_s if result is Result.COMPLETED else None)
        log.info("failover %s", result.value, extra={"failover": record.id, "group": group.name,
                                                     "duration_s": record.duration_s, "error": error})
        return record
