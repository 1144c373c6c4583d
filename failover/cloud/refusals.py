"""Calls the cloud refuses, told apart. Placement: the error names both sides. An instance's
state: a transient one (Starting, Stopping) is waited out by the caller's back-off; a Running
instance of a type that takes or releases an ENI only while Stopped will refuse for as long
as it runs, so the move says so at once (a detach: DetachStalled, which the fence policy
answers with a force stop).
"""

from __future__ import annotations

from failover.cloud import errors
from failover.cloud.reads import CloudReads
from failover.cloud.sdk import ApiError
from failover.cloud.waiting import Deadline
from failover.model import CallTrace, CloudError, DetachStalled, EniState, ErrorKind, Priority

FAILOVER = Priority.FAILOVER
INSTANCE_STATE_CODE = "InvalidOperation.InvalidEcsState"
DETACH_REFUSED = "DetachRefused"
PLACEMENT_CODES = frozenset({
    "InvalidOperation.AvailabilityZoneMismatch", "InvalidOperation.VpcMismatch",
})


def out_of_time(e: CloudError, deadline: Deadline) -> bool:
    """A retryable failure that the deadline leaves no room to retry: the wait is over."""
    return e.kind is ErrorKind.RETRYABLE and deadline.remaining() < 0.1


class StateRefusals(CloudReads):
    """The reads a move needs to tell why the cloud refused it."""

    def _refused_detach(self, e: ApiError, eni_id: str, instance_id: str, deadline: Deadline,
                        trace: CallTrace | None) -> None:
        """A detach refused for the instance's state: if the instance runs, its type releases
        an ENI only while Stopped, and no wait will change that: DetachStalled now."""
        if e.code != INSTANCE_STATE_CODE or self._instance_status(instance_id, deadline, trace) != "Running":
            return
        raise DetachStalled(
            f"ENI {eni_id} cannot be detached from {instance_id} while it runs: its instance "
            f"type releases an ENI only while Stopped (the cloud refused: {e.code}); fence it "
            "(force stop) and detach again",
            kind=ErrorKind.CONFLICT, code=DETACH_REFUSED, action=e.action,
            request_id=e.request_id,
        )

    def _instance_status(self, instance_id: str, deadline: Deadline,
                         trace: CallTrace | None) -> str | None:
        try:
            return self._statuses([instance_id], FAILOVER, deadline, trace).get(instance_id)
        except CloudError as e:
            if out_of_time(e, deadline):
                return None
            raise

    def _refused_attach(self, e: ApiError, instance_id: str, deadline: Deadline,
                        trace: CallTrace | None) -> None:
        """An attach refused for the target's state while it runs: its type takes an ENI
        only while Stopped. Fatal for this target (a wait changes nothing)."""
        if e.code != INSTANCE_STATE_CODE or self._instance_status(instance_id, deadline, trace) != "Running":
            return
        raise ApiError(
            f"cannot attach to {instance_id} while it runs: its instance type takes an ENI only "
            "while Stopped; keep it Stopped as a cold standby (policy.stop_to_attach_types) "
            f"[{e.code}, RequestId {e.request_id}]",
            kind=ErrorKind.FATAL, code=e.code, action=e.action, request_id=e.request_id,
            status=e.status,
        )

    def _placement_error(self, e: ApiError, eni: EniState, instance_id: str,
                         deadline: Deadline) -> ApiError:
        """A zone/VPC refusal, rewritten to name both sides so an operator sees the mistake."""
        if e.code not in PLACEMENT_CODES:
            return e
        try:
            inst = self.describe_instances([instance_id], priority=FAILOVER).get(instance_id)
        except ApiError:
            inst = None
        there = f"zone {inst.zone_id}, VPC {inst.vpc_id}" if inst else "its zone and VPC unknown"
        return ApiError(
            f"cannot attach ENI {eni.eni_id} (zone {eni.zone_id}, VPC {eni.vpc_id}) to "
            f"{instance_id} ({there}): {errors.hint(e.code)} [{e.code}, RequestId {e.request_id}]",
            kind=ErrorKind.FATAL, code=e.code, action=e.action, request_id=e.request_id,
            status=e.status,
        )
