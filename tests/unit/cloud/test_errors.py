from __future__ import annotations

import pytest

from failover.cloud import errors
from failover.model import ErrorKind


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("Throttling", 400, ErrorKind.RETRYABLE),
        ("Throttling.User", 400, ErrorKind.RETRYABLE),
        ("Throttling.Api", 429, ErrorKind.RETRYABLE),
        ("Rejected.Throttling", 400, ErrorKind.RETRYABLE),
        ("ServiceUnavailable", 503, ErrorKind.RETRYABLE),
        ("ServiceUnavailable.RegionMaintaining", 503, ErrorKind.RETRYABLE),
        ("InternalError", 500, ErrorKind.RETRYABLE),
        ("SomethingNew", 502, ErrorKind.RETRYABLE),  # any 5xx
        ("OperationConflict", 409, ErrorKind.RETRYABLE),
        ("LastTokenProcessing", 403, ErrorKind.RETRYABLE),
        (errors.TIMEOUT, None, ErrorKind.RETRYABLE),
        (errors.CONNECTION, None, ErrorKind.RETRYABLE),
        (errors.BAD_RESPONSE, None, ErrorKind.RETRYABLE),
        ("InvalidOperation.InvalidEniState", 400, ErrorKind.CONFLICT),
        ("InvalidOperation.InvalidEcsState", 400, ErrorKind.CONFLICT),
        ("IncorrectInstanceStatus", 403, ErrorKind.CONFLICT),
        ("InvalidEniId.NotFound", 404, ErrorKind.FATAL),
        ("InvalidOperation.AvailabilityZoneMismatch", 403, ErrorKind.FATAL),
        ("InvalidOperation.VpcMismatch", 403, ErrorKind.FATAL),
        ("EniPerInstanceLimitExceeded", 403, ErrorKind.FATAL),
        ("SignatureDoesNotMatch", 400, ErrorKind.FATAL),
        ("InvalidAccessKeyId.NotFound", 404, ErrorKind.FATAL),
        ("Forbidden.RAM", 403, ErrorKind.FATAL),
        ("SomeUnknown4xx", 400, ErrorKind.FATAL),
    ],
)
def test_classify(code: str, status: int | None, kind: ErrorKind) -> None:
    assert errors.classify(code, status) is kind


def test_hints_explain_the_placement_errors() -> None:
    assert "different zones" in errors.hint("InvalidOperation.AvailabilityZoneMismatch")
    assert "different VPCs" in errors.hint("InvalidOperation.VpcMismatch")
    assert errors.hint("Throttling") == ""


@pytest.mark.parametrize(
    ("names", "text", "code"),
    [
        (("RetryError", "ReadTimeout", "Timeout"), "read timed out.", errors.TIMEOUT),
        (("RetryError",), "connection to 127.0.0.1 timed out. (connect timeout=0.5)", errors.TIMEOUT),
        (("RetryError",), "httpconnectionpool: read timed out. (read timeout=0.3)", errors.TIMEOUT),
        (("RuntimeError",), 'failed to parse the value as json format, value: "<html>"', errors.BAD_RESPONSE),
        (("RetryError", "ConnectionError"), "connection refused", errors.CONNECTION),
        # urllib3's NewConnectionError inherits from ConnectTimeoutError: the text decides.
        (("RetryError", "NewConnectionError", "ConnectTimeoutError", "TimeoutError"),
         "failed to establish a new connection: [errno 111] connection refused", errors.CONNECTION),
        (("RetryError", "ReadTimeout"), "", errors.TIMEOUT),
    ],
)
def test_transport_code(names: tuple[str, ...], text: str, code: str) -> None:
    assert errors.transport_code(names, text) == code
