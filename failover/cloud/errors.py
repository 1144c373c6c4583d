"""Classifies cloud errors: an error code and HTTP status in, an `ErrorKind` out.

Pure: no SDK type here. The engine acts on the kind: RETRYABLE backs off and
tries again, CONFLICT re-reads the state and decides, FATAL stops and reports.
Also owns the local codes the adapter gives to failures that never reached the
API (timeouts, refused connections, an unparsable answer) and the operator hints
attached to the codes people actually meet during a failover.
"""

from __future__ import annotations

from failover.model import ErrorKind

# Codes for failures the API never answered; they are ours, not Alibaba's.
TIMEOUT = "Timeout"
CONNECTION = "ConnectionError"
BAD_RESPONSE = "BadResponse"
BUDGET = "BudgetExhausted"
CREDENTIALS = "InvalidCredentials"
SCRIPT_TOO_LARGE = "ScriptTooLarge"
NOT_FOUND = "NotFound"
WRONG_HOLDER = "WrongHolder"
ATTACH_FAILED = "AttachFailed"
UNEXPECTED = "UnexpectedError"

_FLOW_CONTROL_PREFIXES = ("Throttling", "Rejected.Throttling")
_RETRYABLE_PREFIXES = (*_FLOW_CONTROL_PREFIXES, "ServiceUnavailable", "InternalError")
_RETRYABLE_CODES = frozenset({
    "OperationConflict",  # a concurrent request on the same resource: it clears by itself
    "Operation.Conflict",
    "InvalidOperation.Conflict",
    "LastTokenProcessing",  # the first request with this ClientToken is still running
    "UnknownError",
    TIMEOUT,
    CONNECTION,
    BAD_RESPONSE,
    BUDGET,
    ATTACH_FAILED,
})
_CONFLICT_CODES = frozenset({
    "InvalidOperation.InvalidEniState",
    "InvalidOperation.InvalidEcsState",
    "IncorrectInstanceStatus",
    "IncorrectEipStatus",
    "IncorrectStatus",
})

_HINTS = {
    "InvalidOperation.AvailabilityZoneMismatch": (
        "the ENI and the instance are in different zones; an ENI can only be attached to an "
        "instance in its own zone"
    ),
    "InvalidOperation.VpcMismatch": "the ENI and the instance are in different VPCs",
    "EniPerInstanceLimitExceeded": "the instance type allows no more ENIs on this instance",
    "MaxEniCountExceeded": "the instance type allows no more ENIs on this instance",
    "InvalidOperation.DetachPrimaryEniNotAllowed": "a primary ENI can never be detached",
    "InvalidEniId.NotFound": "no such ENI in this region",
    "InvalidEcsId.NotFound": "no such instance in this region",
    "InvalidInstanceId.NotFound": "no such instance in this region",
    "InvalidAccessKeyId.NotFound": "the access key id is unknown: check the credentials",
    "SignatureDoesNotMatch": "the request signature was refused: check the access key secret",
    "IncompleteSignature": "the request signature was refused: check the access key secret",
    "Forbidden.RAM": "the RAM identity lacks a permission this action needs",
    CREDENTIALS: "no usable credentials: check cloud.credentials",
}


def classify(code: str, status: int | None = None) -> ErrorKind:
    """How to react to a failed call, from its code and (when it had one) HTTP status."""
    if code in _CONFLICT_CODES:
        return ErrorKind.CONFLICT
    if code in _RETRYABLE_CODES or code.startswith(_RETRYABLE_PREFIXES):
        return ErrorKind.RETRYABLE
    if status is not None and status >= 500:
        return ErrorKind.RETRYABLE
    # Not found, mismatch, limits, authentication and anything unknown: retrying
    # an unknown 4xx blindly would only repeat the refusal.
    return ErrorKind.FATAL


def hint(code: str) -> str:
    """A sentence for the operator when the code has a well-known meaning, else ""."""
    return _HINTS.get(code, "")


def transport_code(exc_names: tuple[str, ...], text: str) -> str:
    """Our code for a call that got no API answer, from the transport error.

    `exc_names` are the class names along the exception's context chain (the
    SDK re-wraps requests' errors), `text` its lower-cased message. The text
    decides first: urllib3's refused-connection error inherits from its
    connect-timeout class, so class names alone would call a refusal a timeout.
    """
    if "refused" in text or "failed to establish" in text or "name resolution" in text:
        return CONNECTION
    if "timed out" in text or {"ReadTimeout", "ConnectTimeout"} & set(exc_names):
        return TIMEOUT
    if "parse" in text and "json" in text:
        return BAD_RESPONSE
    return CONNECTION


def flow_controlled(code: str) -> bool:
    """Refused by the gateway's flow control: the call was neither run nor counted."""
    return code.startswith(_FLOW_CONTROL_PREFIXES)
