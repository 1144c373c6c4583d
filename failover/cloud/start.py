"""Starting a cold standby before the guest step: StartInstance, wait Running, wait for
Cloud Assistant online. A standby of a type that takes an ENI only while Stopped is kept
Stopped (`policy.stop_to_attach_types`); the ENI is attached to it Stopped, and the guest
step's RunCommand needs it Running with its agent up (RunCommand refuses a Stopped one).
"""

from __future__ import annotations

from failover.cloud import convert, errors
from failover.cloud.operations import CloudMoves
from failover.cloud.refusals import FAILOVER, out_of_time
from failover.cloud.sdk import ApiError
from failover.cloud.waiting import ConflictBackoff, Deadline
from failover.model import CallTrace, CloudError, CloudTimeout, ErrorKind

WAITING = frozenset({"Starting", "Stopping", "Pending"})


class ColdStart(CloudMoves):
    def ensure_running(self, instance_id: str, *, timeout_s: float,
                       trace: CallTrace | None = None) -> bool:
        """Starts `instance_id` if it is Stopped and waits until it runs with Cloud Assistant
        online; True when it had to. A Running instance costs one status read, nothing more.
        """
        action = "StartInstance"
        deadline = Deadline.after(self._clock, timeout_s)
        schedule = self._schedule(self._polls.start, deadline)
        backoff = ConflictBackoff(self._polls.conflict_step_s, self._polls.conflict_cap_s)
        started = False
        status: str | None = None
        last_error: ApiError | None = None
        while not deadline.expired:
            try:
                status = self._statuses([instance_id], FAILOVER, deadline, trace).get(instance_id)
            except CloudError as e:
                if out_of_time(e, deadline):
                    break
                raise
            if status == "Running":
                if not started:
                    return False
                if self._agent_online(instance_id, deadline, trace):
                    return True
            elif status == "Stopped" and not started and backoff.ready(deadline.elapsed()):
                error = self._issue(action, {"InstanceId": instance_id}, deadline, trace, last_error)
                last_error = error or last_error
                started = error is None
                if error is not None and error.kind is ErrorKind.CONFLICT:
                    backoff.refused(deadline.elapsed())
            elif status is None:
                raise ApiError(f"instance {instance_id} not found", kind=ErrorKind.FATAL,
                               code=errors.NOT_FOUND, action=action)
            self._poll(deadline, schedule)
        what = "Cloud Assistant not online" if status == "Running" else f"last status {status}"
        why = f"; last error: {last_error}" if last_error is not None else ""
        raise CloudTimeout(f"instance {instance_id} not Running with Cloud Assistant online after "
                           f"{timeout_s:g} s ({what}){why}", kind=ErrorKind.RETRYABLE,
                           code=errors.TIMEOUT, action=action)

    def _agent_online(self, instance_id: str, deadline: Deadline, trace: CallTrace | None) -> bool:
        try:
            body = self._get("DescribeCloudAssistantStatus",
                             {"InstanceId": [instance_id], "PageSize": 50, "PageNumber": 1},
                             FAILOVER, deadline, trace)
        except CloudError as e:
            if out_of_time(e, deadline):
                return False
            raise
        return convert.assistant_online(body).get(instance_id, False)
