"""The write side of the cloud port: detach, attach, force-stop, start, run a script.

Each builds its move (`transitions`) and hands it to the one scheduler (`scheduler`), which
looks, sends and decides until the move is done or fails; the caller awaits the outcome.
"""

from __future__ import annotations

import base64
import math
import uuid

from failover.cloud import errors
from failover.cloud.moves import Attach, Detach
from failover.cloud.reads import CloudReads
from failover.cloud.sdk import ApiError
from failover.cloud.transitions import FAILOVER, Command, Look, Start, Stop, Target
from failover.model import CallTrace, CommandResult, EniState, ErrorKind, Priority, ScriptLanguage

SCRIPT_MAX_B64 = 24 * 1024  # Cloud Assistant's limit on the Base64-encoded content
COMMAND_TYPES = {ScriptLanguage.SHELL: "RunShellScript",
                 ScriptLanguage.POWERSHELL: "RunPowerShellScript"}
PLACEMENT_CODES = frozenset({
    "InvalidOperation.AvailabilityZoneMismatch", "InvalidOperation.VpcMismatch",
})


class CloudMoves(CloudReads):
    def detach_eni(self, eni_id: str, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None, reissue_after_s: float | None = None) -> EniState:
        """Detach and wait for Available (`transitions.Detach`): re-sent once if stuck after
        `reissue_after_s` (default half the timeout), DetachStalled at the end."""
        now = self._clock.monotonic()
        move = Detach(timeout_s, now, self._polls.detach, self._polls, eni_id=eni_id,
                      instance_id=instance_id,
                      reissue_at=timeout_s / 2 if reissue_after_s is None else reissue_after_s)
        state: EniState = self._scheduler.run(move, Look(now, Target.ENI), trace)
        return state

    def attach_eni(self, eni_id: str, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None, known: EniState | None = None) -> EniState:
        """Attach and wait for InUse on `instance_id` (`transitions.Attach`). `known` (the
        caller's read of a moment ago) stands in for the first read; if it is stale the call
        fails and the next read tells the truth."""
        now = self._clock.monotonic()
        move = Attach(timeout_s, now, self._polls.attach, self._polls, eni_id=eni_id,
                      instance_id=instance_id)
        first = Look(now, Target.ENI)
        if known is not None:
            move, first = move.seen(known, now)  # type: ignore[assignment]
        try:
            state: EniState = self._scheduler.run(move, first, trace)
        except ApiError as e:
            raise self._placement_error(e, eni_id, instance_id) from None
        return state

    def force_stop(self, instance_id: str, *, timeout_s: float,
                   trace: CallTrace | None = None) -> None:
        """Force-stop (the power button, no guest shutdown) and wait for Stopped."""
        now = self._clock.monotonic()
        self._scheduler.run(Stop(timeout_s, now, self._polls.stop, self._polls,
                                 instance_id=instance_id), Look(now, Target.STATUS), trace)

    def ensure_running(self, instance_id: str, *, timeout_s: float,
                       trace: CallTrace | None = None) -> bool:
        """Starts `instance_id` if it is Stopped (a cold standby, `policy.stop_to_attach_types`:
        the guest step's RunCommand needs it Running with its agent up) and waits until it
        runs with Cloud Assistant online; True when it had to. A Running one costs one read."""
        now = self._clock.monotonic()
        started: bool = self._scheduler.run(
            Start(timeout_s, now, self._polls.start, self._polls, instance_id=instance_id),
            Look(now, Target.STATUS), trace)
        return started

    def run_script(self, instance_id: str, script: str, *, timeout_s: float,
                   trace: CallTrace | None = None,
                   language: ScriptLanguage = ScriptLanguage.SHELL,
                   priority: Priority = FAILOVER) -> CommandResult:
        """Run a script through Cloud Assistant; its exit code and output. `priority` ROUTINE
        (a release of a former holder): its calls wait for budget no failover is using; the
        trace's `not_holder_of`: sent only while the ENI is InUse on another instance."""
        content = base64.b64encode(script.encode("utf-8")).decode("ascii")
        if len(content) > SCRIPT_MAX_B64:
            raise ApiError(
                f"script for {instance_id} is {len(content)} bytes Base64-encoded; Cloud Assistant "
                f"accepts at most {SCRIPT_MAX_B64}",
                kind=ErrorKind.FATAL, code=errors.SCRIPT_TOO_LARGE, action="RunCommand",
            )
        command = {
            "InstanceId": [instance_id], "Type": COMMAND_TYPES[language], "CommandContent": content,
            "ContentEncoding": "Base64", "Timeout": max(1, math.ceil(timeout_s)),
            "Name": "failover-guest", "KeepCommand": False,
            # The same token on every retry: the command runs at most once.
            "ClientToken": uuid.uuid4().hex,
        }
        now = self._clock.monotonic()
        move = Command(timeout_s, now, self._polls.command, self._polls, instance_id=instance_id,
                       command=command, priority=priority,
                       eni_id=(trace.not_holder_of if trace else None) or "")
        result: CommandResult = self._scheduler.run(move, move.call_at(now), trace)
        return result

    def _placement_error(self, e: ApiError, eni_id: str, instance_id: str) -> ApiError:
        """A zone/VPC refusal, rewritten to name both sides so an operator sees the mistake."""
        if e.code not in PLACEMENT_CODES:
            return e
        try:
            eni: EniState | None = self.describe_eni(eni_id, priority=FAILOVER)
            inst = self.describe_instances([instance_id], priority=FAILOVER).get(instance_id)
        except ApiError:
            eni, inst = None, None
        there = f"zone {inst.zone_id}, VPC {inst.vpc_id}" if inst else "its zone and VPC unknown"
        here = f" (zone {eni.zone_id}, VPC {eni.vpc_id})" if eni else ""
        return ApiError(
            f"cannot attach ENI {eni_id}{here} to {instance_id} ({there}): {errors.hint(e.code)} "
            f"[{e.code}, RequestId {e.request_id}]",
            kind=ErrorKind.FATAL, code=e.code, action=e.action, request_id=e.request_id,
            status=e.status,
        )
