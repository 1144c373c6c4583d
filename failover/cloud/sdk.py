"""The official SDK, behind one door: client construction and the one place calls are made.

Builds the ECS and VPC clients from `CloudConfig` (endpoint, protocol, region,
credentials, timeouts, a user agent naming the product) and turns every SDK
exception into an `ApiError` (a classified `CloudError`). Requests go in and
answers come out as plain dicts with the API's own key names, so nothing
outside this module touches an SDK type.

Secrets: messages are built from the code, status, RequestId and the server's
`Message` only (never `str(e)`, which carries the whole response), scrubbed of
the access key secret and security token, and raised outside the `except`
block so no SDK exception (which holds the signed request) rides along as
`__context__`.

The last check: a mutation's fencing check (the lease) runs once more inside the transport,
after the SDK has built and signed the request and immediately before requests/urllib3 write
it (`last_check`, `_CheckedAdapter`); see `SdkGateway._install`.

Proxies: darabonba forces `HTTP(S)_PROXY` onto every request and ignores
`NO_PROXY`, so a loopback endpoint (the emulator) would be sent to the proxy.
We refuse to start in that case with a clear error rather than unset the
variables: the process environment belongs to the operator, and other parts
(health probes) may rely on it. Remote endpoints keep honouring a proxy.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alibabacloud_credentials.client import Client as CredentialsClient
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_vpc20160428 import models as vpc_models
from alibabacloud_vpc20160428.client import Client as VpcClient
from darabonba.core import DaraCore
from darabonba.runtime import ExtendsParameters, RuntimeOptions
from requests.adapters import BaseAdapter
from Tea.exceptions import UnretryableException

from failover import __version__
from failover.cloud import errors
from failover.config import CloudConfig, ConfigError, EnvCredentials
from failover.model import CloudError, ErrorKind

log = logging.getLogger("failover.cloud")

USER_AGENT = f"failover/{__version__}"
VPC_ACTIONS = frozenset({
    "DescribeVSwitches", "DescribeEipAddresses", "AssociateEipAddress", "UnassociateEipAddress",
})
_MIN_SECRET_LEN = 6
_MESSAGE_MAX = 300
_MIN_TIMEOUT_MS = 50


class ApiError(CloudError):
    """A classified cloud error, plus what a retry needs (the server's retry-after)."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        code: str,
        action: str,
        request_id: str | None = None,
        status: int | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message, kind=kind, code=code, action=action, request_id=request_id)
        self.status = status
        # The budget slot of a call the gateway refused for flow control (set by `Caller`):
        # its retry goes out in it. Used once.
        self.kept_slot: float | None = None
        self.retry_after_ms = retry_after_ms


@dataclass(frozen=True)
class Reply:
    body: dict[str, Any]
    request_id: str | None
    # When the call went out (monotonic), after any wait for its budget slot: set by `Caller`.
    sent_at: float | None = None


def proxy_hijack(endpoint: str | None, protocol: str, environ: Mapping[str, str]) -> str | None:
    """The proxy variable that would capture calls to a loopback endpoint, if any."""
    if not endpoint:
        return None
    host = endpoint.rsplit(":", 1)[0].strip("[]") if endpoint.count(":") == 1 else endpoint.strip("[]")
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None
    names = ("HTTPS_PROXY", "https_proxy") if protocol == "https" else ("HTTP_PROXY", "http_proxy")
    return next((n for n in names if environ.get(n)), None)


def _static_keys(creds: EnvCredentials, environ: Mapping[str, str]) -> dict[str, str]:
    wanted = {
        "access_key_id": ("access_key_id_env", creds.access_key_id_env),
        "access_key_secret": ("access_key_secret_env", creds.access_key_secret_env),
    }
    if creds.security_token_env:
        wanted["security_token"] = ("security_token_env", creds.security_token_env)
    keys: dict[str, str] = {}
    problems = []
    for field, (key, var) in wanted.items():
        value = environ.get(var, "")
        if not value:
            problems.append(f"cloud.credentials.{key}: environment variable {var} is not set")
        keys[field] = value
    if problems:
        raise ConfigError(problems)
    return keys


class _Armed(threading.local):
    check: Callable[[], object] | None = None  # for the next request this thread sends
    refused: BaseException | None = None  # what it raised, stopping the request unsent


_armed = _Armed()


def last_check(check: Callable[[], object] | None) -> None:
    """Arms `check` for the next call this thread makes through `SdkGateway.call` (None
    disarms): it runs after the SDK signed the request, right before its bytes are written,
    and whatever it raises stops the request unsent and comes out of `call` as it was raised.
    It must be quick and local (the lease check): it runs on the transport's time. `Caller`
    arms (or disarms) it before every call it makes; a call made on the gateway directly
    takes whatever was armed last on its thread."""
    _armed.check = check


class _CheckedAdapter(BaseAdapter):
    """A requests transport adapter that runs the thread's armed check, then hands the
    request, signed and prepared, to the SDK's own adapter."""

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        check, _armed.check = _armed.check, None
        if check is not None:
            try:
                check()
            except BaseException as e:
                _armed.refused = e
                raise
        return self.inner.send(request, *args, **kwargs)

    def close(self) -> None:
        self.inner.close()


class SdkGateway:
    """Owns the SDK clients; `call(action, params)` is the only way a request leaves."""

    _install_lock = threading.Lock()

    def __init__(self, cfg: CloudConfig, *, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        var = proxy_hijack(cfg.endpoint, cfg.protocol, env)
        if var:
            raise ConfigError([
                f"cloud.endpoint: {var} is set, and the Alibaba SDK would send the calls to the "
                f"loopback endpoint {cfg.endpoint} through that proxy (it ignores NO_PROXY); "
                f"unset {var} for the controller"
            ])
        self.region = cfg.region
        self.where = cfg.endpoint or f"the {cfg.region} endpoint"
        self._connect_ms = int(cfg.connect_timeout_s * 1000)
        self._read_ms = int(cfg.read_timeout_s * 1000)
        self._static: dict[str, str] = {}
        self._credential: CredentialsClient | None = None
        if isinstance(cfg.credentials, EnvCredentials):
            self._static = _static_keys(cfg.credentials, env)
        else:
            # The default chain: environment, ~/.alibabacloud, RAM role on ECS, RRSA/OIDC.
            self._credential = CredentialsClient()
        self._ecs = EcsClient(self._config(cfg))
        self._vpc = VpcClient(self._config(cfg))
        self.unchecked_sends = 0  # armed calls sent without the last check (see `_install`)

    def __repr__(self) -> str:
        return f"SdkGateway(region={self.region!r}, endpoint={self.where!r})"

    def _config(self, cfg: CloudConfig) -> openapi_models.Config:
        conf = openapi_models.Config(
            region_id=cfg.region,
            protocol=cfg.protocol,
            connect_timeout=self._connect_ms,
            read_timeout=self._read_ms,
            user_agent=USER_AGENT,
            retry_options=None,  # retries are ours: classified, jittered, deadline-bound
        )
        if cfg.endpoint:
            conf.endpoint = cfg.endpoint
        if self._credential is not None:
            conf.credential = self._credential
        else:
            conf.access_key_id = self._static["access_key_id"]
            conf.access_key_secret = self._static["access_key_secret"]
            conf.security_token = self._static.get("security_token")
        return conf

    def ready(self) -> None:
        """Fetches the credentials the next call will sign with (the default chain refreshes
        them from the instance's RAM role, RRSA or STS when they near expiry), so that a
        mutation's fencing check can run after that round trip instead of before it. The
        SDK then finds them cached. Static keys: nothing to do."""
        if self._credential is not None:
            # A failure here is reported by the call itself, converted, with its action.
            with contextlib.suppress(Exception):
                self._credential.get_credential()

    def call(self, action: str, params: Mapping[str, Any], *, timeout_s: float) -> Reply:
        """One attempt of `action` (API key names in `params`; RegionId is added here)."""
        vpc = action in VPC_ACTIONS
        models = vpc_models if vpc else ecs_models
        request = getattr(models, action + "Request")().from_map({"RegionId": self.region, **params})
        method = getattr(self._vpc if vpc else self._ecs, _snake(action) + "_with_options")
        budget_ms = max(_MIN_TIMEOUT_MS, int(timeout_s * 1000))
        runtime = RuntimeOptions(
            connect_timeout=min(self._connect_ms, budget_ms),
            read_timeout=min(self._read_ms, budget_ms),
        )
        if not hasattr(request, "region_id"):
            # A few models (DescribeInstanceTypes) have no RegionId field; the gateway
            # accepts it on every RPC call, and it keeps the call in our region.
            runtime.extends_parameters = ExtendsParameters(queries={"RegionId": self.region})
        read_ms = runtime.read_timeout
        failure: ApiError | None = None
        armed = _armed.check is not None
        if armed:
            self._install()
        _armed.refused = None
        try:
            response = method(request, runtime)
        except Exception as e:  # every SDK failure becomes an ApiError below
            failure = self._convert(action, e, read_ms)
        finally:
            unchecked, _armed.check = _armed.check is not None, None
            refused, _armed.refused = _armed.refused, None
        if refused is not None:
            # The last check stopped it unsent: the caller hears the check's own word, without
            # the SDK's frames (they hold the signed request).
            raise refused.with_traceback(None)
        if armed and unchecked and failure is None:  # answered, so sent, and not checked
            self._unchecked(action)
        if failure is not None:
            raise failure
        body = response.body.to_map() if response.body is not None else {}
        rid = body.get("RequestId")
        return Reply(body=body, request_id=str(rid) if rid else None)

    @classmethod
    def _install(cls) -> None:
        """Puts `_CheckedAdapter` in front of the transport of every requests session the SDK
        keeps. darabonba sends each request through `Session.send` of a session it caches per
        endpoint (`DaraCore._sessions`, created on an endpoint's first call); a requests
        transport adapter is the last hook before urllib3 writes the bytes, after signing.
        A session made by this call (an endpoint's very first call) is not reached: that call
        goes out with the caller's earlier check only, and `unchecked_sends` counts it."""
        sessions = getattr(DaraCore, "_sessions", None)
        if not isinstance(sessions, dict):
            return
        with cls._install_lock:
            for session in list(sessions.values()):
                adapters = getattr(session, "adapters", None)
                if not isinstance(adapters, dict):
                    continue
                for prefix, adapter in list(adapters.items()):
                    if not isinstance(adapter, _CheckedAdapter):
                        adapters[prefix] = _CheckedAdapter(adapter)  # an existing key: same order

    def _unchecked(self, action: str) -> None:
        self.unchecked_sends += 1
        if self.unchecked_sends == 1:
            log.warning("%s went out without the last fencing check in the SDK's transport "
                        "(checked before signing only); later calls are checked", action,
                        extra={"action": action})

    # ------------------------------------------------------------ conversion

    def _convert(self, action: str, e: Exception, read_ms: int) -> ApiError:
        if isinstance(e, AlibabaCloudException):
            return self._api_error(action, e)
        if isinstance(e, UnretryableException):
            inner = getattr(e, "inner_exception", None)
            chain = _names(inner)
            text = str(getattr(inner, "message", "") or "").lower()
            code = errors.transport_code(chain, text)
            what = {
                errors.TIMEOUT: f"no answer from {self.where} within the timeout "
                f"(connect {self._connect_ms} ms, read {read_ms} ms)",
                errors.BAD_RESPONSE: f"unreadable answer from {self.where} (not JSON)",
            }.get(code, f"could not connect to {self.where}")
            return ApiError(f"{action}: {what}", kind=errors.classify(code), code=code, action=action)
        if type(e).__name__ == "CredentialException":
            detail = self._scrub(str(getattr(e, "message", "") or ""))[:_MESSAGE_MAX]
            return ApiError(
                f"{action}: {errors.hint(errors.CREDENTIALS)} ({detail})",
                kind=ErrorKind.FATAL, code=errors.CREDENTIALS, action=action,
            )
        return ApiError(
            f"{action}: unexpected {type(e).__name__} in the cloud SDK",
            kind=ErrorKind.FATAL, code=errors.UNEXPECTED, action=action,
        )

    def _api_error(self, action: str, e: AlibabaCloudException) -> ApiError:
        code = str(e.code or "") if e.code not in (None, "None") else ""
        status = e.status_code if isinstance(e.status_code, int) else None
        rid = str(e.request_id) if e.request_id not in (None, "None") else None
        data = e.data if isinstance(e.data, dict) else {}
        server_msg = str(data.get("Message") or data.get("message") or "")
        if code == errors.CREDENTIALS and status is None:
            server_msg = "none configured"  # the SDK's local refusal, sent nowhere
        retry_after = e.retry_after if isinstance(e.retry_after, int) and e.retry_after > 0 else None
        parts = [code or "error"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if rid:
            parts.append(f"RequestId {rid}")
        message = f"{action} failed: {', '.join(parts)}"
        if server_msg:
            message += f": {self._scrub(server_msg)[:_MESSAGE_MAX]}"
        if errors.hint(code):
            message += f" ({errors.hint(code)})"
        return ApiError(
            message, kind=errors.classify(code, status), code=code or f"HTTP{status}",
            action=action, request_id=rid, status=status, retry_after_ms=retry_after,
        )

    def _scrub(self, text: str) -> str:
        for secret in self._secrets():
            if len(secret) >= _MIN_SECRET_LEN:
                text = text.replace(secret, "***")
        return text

    def _secrets(self) -> list[str]:
        found = [self._static.get("access_key_secret", ""), self._static.get("security_token", "")]
        if self._credential is not None:
            try:
                cred = self._credential.get_credential()
                found += [cred.access_key_secret or "", cred.security_token or ""]
            except Exception:  # noqa: S110 - no credential means nothing to scrub
                pass
        return [s for s in found if s]


_METHOD_NAMES = {"DescribeVSwitches": "describe_vswitches"}


def _snake(action: str) -> str:
    if action in _METHOD_NAMES:
        return _METHOD_NAMES[action]
    return "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")


def _names(exc: BaseException | None) -> tuple[str, ...]:
    """Class names along an exception's context chain (the SDK re-wraps requests' errors)."""
    names: list[str] = []
    seen = 0
    while exc is not None and seen < 5:
        names += [cls.__name__ for cls in type(exc).__mro__]
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return tuple(names)
