"""No secret in any exception message, repr, traceback, log line or metric, whatever fails."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from failover.cloud import EcsCloud
from failover.config import EnvCredentials
from failover.metrics import REGISTRY
from failover.model import CloudError, ErrorKind
from harness.cloud import cloud_config, new_cloud
from harness.sim import SimServer

WRONG_SECRET = "WrongSecret-0f9e8d7c6b5a"
TOKEN = "StsToken-1a2b3c4d5e6f7a8b"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sim: SimServer) -> Iterator[None]:
    monkeypatch.setenv("T_AK", sim.access_key_id)
    monkeypatch.setenv("T_SK_WRONG", WRONG_SECRET)
    monkeypatch.setenv("T_SK_RIGHT", sim.access_key_secret)
    monkeypatch.setenv("T_TOKEN", TOKEN)
    yield


def adapter(sim: SimServer, secret_var: str, **overrides: float) -> EcsCloud:
    creds = EnvCredentials(access_key_id_env="T_AK", access_key_secret_env=secret_var,
                           security_token_env="T_TOKEN")
    return new_cloud(sim, cfg=cloud_config(sim, credentials=creds, **overrides), rate_per_s=100)


def everything_said(err: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join([
        str(err), repr(err), repr(err.args), "".join(traceback.format_exception(err)),
        caplog.text, "\n".join(repr(r.__dict__) for r in caplog.records),
        generate_latest(REGISTRY).decode(),
    ])


def test_secrets_never_leak_through_errors_logs_or_metrics(
        sim: SimServer, env: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    # 1. A wrong secret: the signature is refused.
    wrong = adapter(sim, "T_SK_WRONG")
    with pytest.raises(CloudError) as exc:
        wrong.describe_eni("eni-svc")
    assert exc.value.kind is ErrorKind.FATAL
    assert exc.value.code in ("SignatureDoesNotMatch", "IncompleteSignature")
    seen.append(everything_said(exc.value, caplog))

    right = adapter(sim, "T_SK_RIGHT", connect_timeout_s=0.5, read_timeout_s=0.3)
    # 2. A 5xx whose message echoes what a careless server might put there.
    sim.control.fault(action="DescribeInstanceStatus", code="InternalError", status=500,
                      message=f"boom secret={sim.access_key_secret} token={TOKEN}")
    with pytest.raises(CloudError) as exc:
        right.instance_statuses(["i-primary"])
    assert exc.value.kind is ErrorKind.RETRYABLE
    assert "***" in str(exc.value)
    seen.append(everything_said(exc.value, caplog))
    sim.control.clear_faults()

    # 3. A timeout.
    sim.control.latency("DescribeInstances", 2.0)
    with pytest.raises(CloudError) as exc:
        right.describe_instances(["i-primary"])
    assert exc.value.code == "Timeout"
    seen.append(everything_said(exc.value, caplog))

    # 4. A connection refused (nothing listens on port 1).
    dead = new_cloud(sim, rate_per_s=100, read_deadline_s=0.5, endpoint="127.0.0.1:1",
                     credentials=EnvCredentials(access_key_id_env="T_AK",
                                                access_key_secret_env="T_SK_RIGHT",
                                                security_token_env="T_TOKEN"))
    with pytest.raises(CloudError) as exc:
        dead.describe_eni("eni-svc")
    assert exc.value.code == "ConnectionError"
    seen.append(everything_said(exc.value, caplog) + repr(dead) + repr(right) + repr(vars(right)))

    for text in seen:
        for secret in (WRONG_SECRET, sim.access_key_secret, TOKEN):
            assert secret not in text
    # The debug lines were there to check: one per call, with its RequestId.
    assert any(getattr(r, "action", None) == "DescribeNetworkInterfaces" for r in caplog.records)


def test_default_credential_chain_reaches_the_emulator(sim: SimServer) -> None:
    """conftest exports the emulator's keys; the SDK's default chain picks them up."""
    cloud = new_cloud(sim, rate_per_s=100)
    assert cloud.describe_eni("eni-svc").instance_id == "i-primary"
