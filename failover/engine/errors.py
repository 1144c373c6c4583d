"""The engine's failures in its own terms (a cloud failure is `model.CloudError`).

A failover step that finds the world other than it needs raises a `StepError`; the step
fails, and the journal keeps `ClassName: message` as its error (engine/execute.py's
`describe_error`), so the names below are what an operator reads in `failover history`.
"""

from __future__ import annotations

from failover.model import CloudError
from failover.records import FailoverRecord


class EngineError(Exception):
    """A failure the engine itself finds (never a library's)."""


class StepError(EngineError):
    """A failover step cannot do its part: the step fails and the record says why."""


class AdoptionOvertaken(StepError):
    """The ENI moved (by hand) since this adoption was decided: it is not moved back."""


class NotAMember(StepError):
    """The ENI is on an instance outside the group: the controller never detaches it."""


class GuestScriptFailed(StepError):
    """The guest script on the new holder did not succeed."""


class VerifyFailed(StepError):
    """The ENI, the service checks or the EIPs are not as a served group needs."""


class StepFailed(EngineError):
    """A step failed (`cause`); `record` is the record with that step written failed."""

    def __init__(self, record: FailoverRecord, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.record = record
        self.cause = cause


def describe_error(exc: BaseException) -> str:
    """Any failure as one line for the journal and logs (a cloud error with its code and
    RequestId; any other with its class name first)."""
    if isinstance(exc, CloudError):
        parts = [str(exc)]
        if exc.code and exc.code not in str(exc):
            parts.append(f"code {exc.code}")
        if exc.request_id:
            parts.append(f"request {exc.request_id}")
        return "; ".join(parts)
    return f"{exc.__class__.__name__}: {exc}"
