"""HTTP endpoints of a replica: /metrics /healthz /readyz /status, and POST /notice.

/healthz says the process serves; /readyz says it can take part (ZooKeeper
connected, config loaded; "readiness" elsewhere means a standby's, never this);
/status is the JSON of `failover status`. The server is handed callables, so it
knows nothing of the adapters behind them.
`CachedDocument` bounds what /status costs however often it is asked for.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from failover.metrics import REGISTRY

log = logging.getLogger("failover.server")

Probe = Callable[[], tuple[bool, str]]  # (ok, why not)
StatusSource = Callable[[], dict[str, Any]]
NoticeSink = Callable[[bytes, str], tuple[int, str]]  # (body, sender) -> (status, word)
NOTICE_MAX_BODY = 512  # a stop notice is about 200 bytes (health/notice.py)


@dataclass(frozen=True)
class Encoded:
    """A document handed over with its JSON already made (by parts: `engine.status.StatusParts`)."""

    doc: dict[str, Any]
    body: bytes


STALE_FACTOR = 3  # a document older than this many rebuild periods is never served


class CachedDocument:
    """A document rebuilt at most once per `max_age_s`, never on a caller's time but the first's.

    The status document reads ZooKeeper on the session the leader's fenced writes use (about
    three reads per group), and scrapers, dashboards and people may ask many times a second.
    Callers get the last document at once; one that finds it older than `max_age_s` (or than
    twice the last build's duration, so rebuilding takes at most a third of the time) starts
    one rebuild in the background (never two at a time). Only a call that finds nothing, or a
    document older than `STALE_FACTOR` rebuild periods (nobody asked for a while), waits.
    A failed rebuild keeps the last document (its `as_of` tells its age) and is logged.
    """

    def __init__(self, build: Callable[[], dict[str, Any] | Encoded], max_age_s: float,
                 monotonic: Callable[[], float] = time.monotonic,
                 spawn: Callable[[Callable[[], None]], None] | None = None,
                 fresh: Callable[[], dict[str, Any] | Encoded] | None = None) -> None:
        self._build = build
        self._fresh = fresh  # keys added on every call, never cached (must not clash with `build`'s)
        self.max_age_s = max_age_s  # a reload may change it
        self._monotonic = monotonic
        self._spawn = spawn or (lambda fn: threading.Thread(target=fn, name="status-build",
                                                            daemon=True).start())
        self._lock = threading.Lock()
        self._first = threading.Lock()
        self._doc: tuple[float, dict[str, Any]] | None = None
        self._body = b""
        self._building = False
        self._took_s = 0.0
        self.builds = 0

    def __call__(self) -> dict[str, Any]:
        doc = self._cached()
        if self._fresh is None:
            return doc
        fresh = self._fresh()
        return {**doc, **(fresh.doc if isinstance(fresh, Encoded) else fresh)}

    def _cached(self) -> dict[str, Any]:
        with self._lock:
            cached = self._doc
            if cached is not None:
                age = self._monotonic() - cached[0]
                due = max(self.max_age_s, 2 * self._took_s)
                if age < STALE_FACTOR * due:
                    if age >= due and not self._building:
                        self._building = True
                        self._spawn(self._rebuild)
                    return cached[1]
        # Nothing built yet, or nobody asked for a long time (the last document may describe
        # another leader): build now; concurrent callers wait for the same build.
        seen = cached
        with self._first:
            if self._doc is seen:
                self._timed_build()
            return self._doc[1] if self._doc is not None else {}

    def _rebuild(self) -> None:
        try:
            self._timed_build()
        except Exception as e:
            log.warning("status rebuild failed; serving the last one",
                        extra={"error": f"{e.__class__.__name__}: {e}"})
        finally:
            with self._lock:
                self._building = False

    def body(self) -> bytes:
        """The document as JSON, encoded once per build on the building thread (the fresh keys
        are encoded per call and spliced in)."""
        self._cached()
        with self._lock:
            body = self._body
        if self._fresh is None:
            return body
        fresh = self._fresh()
        extra = fresh.body if isinstance(fresh, Encoded) else json.dumps(fresh).encode()
        if len(extra) <= 2:
            return body
        return body[:-1] + (b"," if len(body) > 2 else b"") + extra[1:]

    def _timed_build(self) -> None:
        started = self._monotonic()
        built = self._build()
        if isinstance(built, Encoded):
            doc, body = built.doc, built.body
        else:
            doc = built
            body = json.dumps(doc).encode()  # no indent: CPython's C encoder (indent forces Python's)
        with self._lock:
            now = self._monotonic()
            self._doc, self._body, self._took_s = (now, doc), body, now - started
            self.builds += 1


class SelfPart:
    """The replica's own part of every /status answer (`CachedDocument`'s `fresh`):
    `{"self": {**live(), key: slow()}}`. `live()` is small and read on every request;
    `slow()` is rebuilt and encoded at most every `max_age_s` (this replica's verdicts on
    1,000 groups take ~1 ms to gather and encode; done on every request, that alone doubled
    the p99 of benchmarks/bench_status.py against a fixed document at load 8)."""

    def __init__(self, live: Callable[[], dict[str, Any]], key: str,
                 slow: Callable[[], Any], max_age_s: float = 0.1,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._live, self._key, self._slow = live, key, slow
        self.max_age_s = max_age_s
        self._monotonic = monotonic
        self._made: tuple[float, Any, bytes] | None = None

    def __call__(self) -> Encoded:
        now, made = self._monotonic(), self._made
        if made is None or now - made[0] >= self.max_age_s:
            value = self._slow()
            made = self._made = (now, value, json.dumps(value).encode())
        live = self._live()
        head = json.dumps({"self": live}).encode()[:-2]  # '{"self": {...' without '}}'
        body = head + (b"," if live else b"") + json.dumps(self._key).encode() + b":" + made[2] + b"}}"
        return Encoded({"self": {**live, self._key: made[1]}}, body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/metrics":
            # `name[]=...` (as prometheus_client's own handlers take it): only those series.
            # All of them are ~27,000 lines at 1,000 groups, about a second of CPU per scrape.
            names = parse_qs(query).get("name[]")
            registry = REGISTRY.restricted_registry(names) if names else REGISTRY
            self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            alive, why = self.server.liveness()
            self._send(200 if alive else 503, (why or "ok").encode() + b"\n", "text/plain")
        elif path == "/readyz":
            ready, why = self.server.ready()
            self._send(200 if ready else 503, (why or "ready").encode() + b"\n", "text/plain")
        elif path == "/status":
            try:
                self._send(200, self.server.status_body(), "application/json")
            except Exception as e:
                log.warning("status failed", extra={"error": f"{e.__class__.__name__}: {e}"})
                self._send(503, json.dumps({"error": "status unavailable"}).encode(), "application/json")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        # A member's graceful stop notice (health/notice.py checks it; nothing else is posted).
        notice = self.server.notice
        length = int(self.headers.get("Content-Length") or 0)
        if self.path.split("?", 1)[0] != "/notice" or notice is None:
            self._send(404, b"not found\n", "text/plain")
        elif not 0 < length <= NOTICE_MAX_BODY:
            self._send(400, b"malformed\n", "text/plain")
        else:
            code, word = notice(self.rfile.read(length), self.client_address[0])
            self._send(code, word.encode() + b"\n", "text/plain")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # scrapes every few seconds would drown the product's own log lines


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: while a status rebuild holds the GIL the accept
    # loop lags, a sixth concurrent scraper's SYN is dropped and retried by the kernel a
    # second later (the 1 s p99 of benchmarks/bench_status.py with clients out of process).
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], liveness: Probe, ready: Probe,
                 status: StatusSource, notice: NoticeSink | None = None) -> None:
        super().__init__(addr, _Handler)
        self.liveness = liveness
        self.ready = ready
        self.status = status
        self.notice = notice

    def status_body(self) -> bytes:
        # A cached document comes encoded already (on its building thread, not a request's).
        if isinstance(self.status, CachedDocument):
            return self.status.body()
        return json.dumps(self.status(), indent=1).encode()


class OpsServer:
    def __init__(self, host: str, port: int, *, liveness: Probe, ready: Probe,
                 status: StatusSource, notice: NoticeSink | None = None) -> None:
        self._server = _Server((host, port), liveness, ready, status, notice)
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
