"""The HTTP server: reads requests (bounded), routes `/_sim/` to the control API and everything
else through the cloud pipeline: parse -> action -> signature -> faults -> operation -> JSON.

`Emulator` is the embeddable form (tests, the lab, `failover sim ecs`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from failover.sim import command_ops, eni_ops, instance_ops, vpc_ops  # noqa: F401  (they register operations)
from failover.sim.control import handle_control
from failover.sim.faults import Faults
from failover.sim.hooks import Hooks
from failover.sim.protocol import (
    ECS_VERSION,
    MAX_BODY,
    VPC_VERSION,
    ApiError,
    error_body,
    missing,
    new_request_id,
    parse_request,
    req_str,
    verify_signature,
)
from failover.sim.registry import OPS, known_action
from failover.sim.state import State
from failover.sim.timing import throttles
from failover.sim.world import World

log = logging.getLogger("failover.sim")
NONCE_MEMORY = 100_000


class Emulator:
    """The emulated cloud on HOST:PORT; `start()` serves in a thread, `serve_forever()` in this one."""

    def __init__(
        self,
        world: World | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        hooks: Hooks | None = None,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if state_file is not None and state_file.exists():
            self.state = State.restore(state_file, hooks=hooks, clock=clock)
        elif world is not None:
            self.state = State(world, hooks=hooks, clock=clock, state_file=state_file)
        else:
            raise ValueError("a world or an existing state file is required")
        self.faults = Faults(self.state.world.seed)
        for action, limit in throttles(self.state.world.timing).items():
            self.faults.set_qps(action, limit)
        self._nonces: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._nonce_lock = threading.Lock()
        self.httpd = _Server((host, port), _Handler)
        self.httpd.emulator = self
        host, port = self.httpd.socket.getsockname()[:2]
        self._endpoint = f"{host}:{port}"
        self._thread: threading.Thread | None = None
        self.state.persist()

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_connections()
        self.state.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the cloud pipeline ---

    def check_nonce(self, ak: str, nonce: str | None) -> None:
        if not nonce:
            return
        with self._nonce_lock:
            if (ak, nonce) in self._nonces:
                raise ApiError("SignatureNonceUsed", 400, "The request signature nonce has been used.")
            self._nonces[(ak, nonce)] = None
            if len(self._nonces) > NONCE_MEMORY:
                self._nonces.popitem(last=False)

    def call(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, request_id: str
    ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """One cloud API call -> (status, body, extra headers, drop the connection)."""
        version: str | None = None
        try:
            req = parse_request(method, target, headers, body)
            version = req.version
            if method not in ("GET", "POST"):
                raise ApiError("UnsupportedHTTPMethod", 403, f"The HTTP method {method} is not supported.")
            action = req.action
            if not action:
                raise missing("Action")
            if not version:
                raise missing("Version")
            if version not in (ECS_VERSION, VPC_VERSION):
                raise ApiError(
                    "InvalidVersion", 400, f"Specified parameter Version {version!r} is not valid."
                )
            entry = OPS.get((version, action))
            if entry is None or req.path != "/":
                raise ApiError(
                    "InvalidAction.NotFound",
                    404,
                    f"Specified api {action!r} is not found, please check your url and method."
                    + (" (it exists in the other API version)" if known_action(action) else ""),
                )
            st = self.state
            ak, nonce = verify_signature(req, st.world.access_keys, st.clock())
            self.check_nonce(ak, nonce)
            if entry.mutates:  # who sent which change, whatever becomes of it (faults included)
                with st.lock:
                    st.event("mutation", action, None, "received", st.clock(), access_key_id=ak)
            params = req.business_params()
            verdict = self.faults.judge(action, time.monotonic(), params)
            if verdict.delay_s > 0:
                time.sleep(verdict.delay_s)
            if verdict.drop:
                return 0, {}, {}, True
            if verdict.error is not None:
                raise verdict.error
            with st.lock:
                now = st.clock()
                st.advance(now)
                region = req_str(params, "RegionId") if entry.regional else params.get("RegionId")
                if region is not None and region != st.world.region:
                    raise ApiError(
                        "InvalidRegionId.NotFound", 404, f"The specified RegionId {region} does not exist."
                    )
                result = self._run(entry, action, params, now)
                if entry.mutates:
                    st.persist()
            return 200, {"RequestId": request_id, **result}, {}, False
        except ApiError as e:
            extra = {"x-acs-retry-after": str(e.retry_after_ms)} if e.retry_after_ms else {}
            return e.status, error_body(e, request_id, version), extra, False

    def _run(self, entry: Any, action: str, params: dict[str, str], now: float) -> dict[str, Any]:
        st = self.state
        token = params.get("ClientToken") if entry.client_token else None
        if token:
            if len(token) > 64 or not token.isascii():
                raise ApiError("InvalidParameter", 400, 'The specified parameter "ClientToken" is not valid.')
            seen = st.tokens.get(token)
            if seen is not None:
                if seen[0] != action or seen[1] != params:
                    raise ApiError(
                        "IdempotentParameterMismatch",
                        400,
                        "The ClientToken was used before with other parameters.",
                    )
                return dict(seen[2])
        result: dict[str, Any] = entry.handler(st, params, now)
        if token:
            st.tokens[token] = (action, dict(params), result)
        return result


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    emulator: Emulator

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that dies mid-request (a SIGKILLed controller, a chaos trial) resets its
        # connection: that is the client's business, not a server fault worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, exc)
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.conn_lock:
            conns, self.connections = self.connections, set()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms delayed-ACK stall
    server_version = "AliyunEmulator"
    sys_version = ""
    timeout = 120
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.conn_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.conn_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed HTTP (bad request line, oversized headers) still gets Alibaba's JSON error."""
        name = "UnsupportedHTTPMethod" if code == 501 else "InvalidParameter"
        err = ApiError(name, 403 if code == 501 else code, message or "Bad request.")
        self.close_connection = True
        self._send(err.status, error_body(err, new_request_id(), None), {})

    def _read_body(self) -> bytes | ApiError:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return ApiError("InvalidParameter", 400, "Chunked request bodies are not supported.")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            return ApiError("InvalidParameter", 400, "The Content-Length header is not a number.")
        if length < 0 or length > MAX_BODY:
            return ApiError("InvalidParameter", 400, f"The request body is larger than {MAX_BODY} bytes.")
        return self.rfile.read(length)

    def _handle(self) -> None:
        request_id = new_request_id()
        body = self._read_body()
        if isinstance(body, ApiError):
            self.close_connection = True
            self._send(body.status, error_body(body, request_id, None), {})
            return
        emu = self.server.emulator
        try:
            if self.path.startswith("/_sim/") or self.path == "/_sim":
                status, payload = handle_control(emu, self.command, self.path, body)
                self._send(status, payload, {})
                return
            status, payload, extra, drop = emu.call(
                self.command, self.path, list(self.headers.items()), body, request_id
            )
        except Exception:
            log.exception("internal error on %s %s", self.command, self.path[:200])
            err = ApiError(
                "InternalError", 500, "The request processing has failed due to some unknown error."
            )
            status, payload, extra, drop = err.status, error_body(err, request_id, None), {}, False
        if drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, payload, extra)

    def _send(self, status: int, payload: dict[str, Any], extra: dict[str, str]) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if "RequestId" in payload:
                self.send_header("x-acs-request-id", payload["RequestId"])
            for k, v in extra.items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle
