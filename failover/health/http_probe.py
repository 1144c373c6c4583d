"""The http/https probe: one GET under a hard deadline.

Plain http to an IP literal (the usual `http://{ip}:port/...` check) runs on a raw
non-blocking socket and loop callbacks (`start_http`; in a round, `batch.RawBatch`), the
response judged by `http_wire.verdict`: the streams machinery below cost 2 to 5 times the
CPU per probe (benchmarks/bench_probe_cpu.py). https and host names use asyncio streams.

A small HTTP/1.1 client instead of urllib: its timeouts are per socket
operation (a server that trickles bytes could hold a probe for minutes) and
it honours HTTP(S)_PROXY from the environment; here the whole exchange is
one `wait_for`, and only the URL's own host is ever contacted.

Why not aiohttp (installed with the SDK): an aiohttp version of this module
passed the same tests (commit eaa3c19) but cost 2.1x the CPU per probe (0.50
vs 0.24 ms; 0.39 ms with one session shared by every probe, which would also
need a session per event loop and its shutdown), and a round of 200 probes
took 1.27 s vs 0.74 s median. A replica probes every member of every group each
interval, so that is the replica's main CPU cost. Measured with
`python benchmarks/bench_http_probe.py` on loopback, 2,000 probes per client,
on 2 cores shared with other work (benchmarks/results/http_probe.json). The
client's surface stays small: GET, status line, headers, chunked or sized
body up to 64 KiB, Basic auth from the URL, TLS (tests/integration/health).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import functools
import ipaddress
import os
import socket
import ssl
import struct
import time
from urllib.parse import SplitResult, unquote, urlsplit

from failover.health.http_wire import BAD, MAX_BODY, MAX_HEADERS, BadResponse, parse_status, verdict
from failover.health.plan import HttpTarget
from failover.health.reasons import reason_of
from failover.model import ProbeOutcome

_LINGER_RST = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT per probe
_RECV = MAX_BODY + 16 * 1024


def _tls_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _request(url: SplitResult) -> bytes:
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    host = url.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if url.port is not None:
        host = f"{host}:{url.port}"
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: failover-health",
        "Accept: */*",
        "Connection: close",
    ]
    if url.username is not None:
        cred = f"{unquote(url.username)}:{unquote(url.password or '')}"
        lines.append("Authorization: Basic " + base64.b64encode(cred.encode()).decode())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    raise BadResponse("too many headers")


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while len(body) < MAX_BODY:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise BadResponse("bad chunk size") from None
        if size == 0:
            break
        body += await reader.readexactly(size)
        await reader.readline()
    return body[:MAX_BODY]


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _chunked(reader)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        return await reader.readexactly(min(int(length), MAX_BODY))
    body = b""
    while len(body) < MAX_BODY:
        chunk = await reader.read(MAX_BODY - len(body))
        if not chunk:
            break
        body += chunk
    return body


@functools.lru_cache(maxsize=65536)
def _parse_url(text: str) -> tuple[SplitResult, int] | None:
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    return url, port or (443 if url.scheme == "https" else 80)


async def _exchange(target: HttpTarget, url: SplitResult, port: int) -> str:
    tls = _tls_context(target.verify_tls) if url.scheme == "https" else None
    reader, writer = await asyncio.open_connection(
        url.hostname, port, ssl=tls, server_hostname=url.hostname if tls else None
    )
    try:
        writer.write(_request(url))
        await writer.drain()
        status = parse_status(await reader.readline())
        if status != target.expect_status:
            return f"status {status}"
        if target.body_contains is None:
            return ""
        body = await _body(reader, await _headers(reader))
        text = body.decode("utf-8", errors="replace")
        return "" if target.body_contains in text else "body mismatch"
    finally:
        writer.transport.abort()  # no lingering TLS shutdown or FIN wait


@functools.lru_cache(maxsize=65536)
def raw_http_plan(url_text: str) -> tuple[str, int, bytes] | None:
    """(host IP, port, request bytes) when the raw-socket path can probe this URL: plain http
    to an IP literal (no TLS, no name to resolve). Cached: a replica probes the same URLs
    every round."""
    parsed = _parse_url(url_text)
    if parsed is None or parsed[0].scheme != "http":
        return None
    host = parsed[0].hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, parsed[1], _request(parsed[0])


class _RawHttp:
    """One plain-http probe's socket and callbacks (see `start_http`)."""

    __slots__ = ("buf", "fd", "fut", "loop", "reading", "request", "sent", "sock", "t0",
                 "target", "timer", "writing")

    def __init__(self, loop: asyncio.AbstractEventLoop, target: HttpTarget, request: bytes,
                 family: int) -> None:
        self.loop, self.target, self.request = loop, target, request
        self.t0 = time.monotonic()
        self.fut: asyncio.Future[ProbeOutcome] = loop.create_future()
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        self.buf = b""
        self.sent = 0
        self.reading = self.writing = False
        self.timer: asyncio.TimerHandle | None = None

    def finish(self, reason: str) -> None:
        if not self.fut.done():
            self.fut.set_result(ProbeOutcome(not reason, reason, time.monotonic() - self.t0))

    def writable(self) -> None:
        sock = self.sock
        if not self.sent:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.finish(reason_of(OSError(err, os.strerror(err))))
                return
        try:
            self.sent += sock.send(self.request[self.sent:])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.finish(reason_of(e))
            return
        if self.sent < len(self.request):
            return
        self.loop.remove_writer(self.fd)
        self.writing = False
        self.loop.add_reader(self.fd, self.readable)
        self.reading = True

    def readable(self) -> None:
        try:
            data = self.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.finish(reason_of(e))
            return
        self.buf += data
        reason = verdict(self.buf, not data, self.target.expect_status, self.target.body_contains)
        if reason is not None:
            self.finish(reason)

    def cleanup(self, _: object) -> None:  # also runs when the round is cancelled
        if self.timer is not None:
            self.timer.cancel()
        if self.writing:
            self.loop.remove_writer(self.fd)
        if self.reading:
            self.loop.remove_reader(self.fd)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self.sock.close()


def start_http(loop: asyncio.AbstractEventLoop, target: HttpTarget, timeout_s: float,
               plan: tuple[str, int, bytes]) -> asyncio.Future[ProbeOutcome]:
    """A plain-http probe on a raw non-blocking socket and loop callbacks (no transport,
    stream or task): connect, send the request, read until the bytes decide (`verdict`),
    all under one timer. At thousands of probes a second the streams client's machinery was
    most of a replica's probe CPU (benchmarks/results/notes/issue-23.md); this path does the
    same exchange with a few system calls and three callbacks."""
    host, port, request = plan
    p = _RawHttp(loop, target, request, socket.AF_INET6 if ":" in host else socket.AF_INET)
    p.timer = loop.call_later(timeout_s, p.finish, "timeout")
    p.fut.add_done_callback(p.cleanup)
    err = p.sock.connect_ex((host, port))
    if err in (0, errno.EINPROGRESS):
        loop.add_writer(p.fd, p.writable)
        p.writing = True
    else:
        p.finish(reason_of(OSError(err, os.strerror(err))))
    return p.fut


async def http_probe(target: HttpTarget, timeout_s: float) -> ProbeOutcome:
    t0 = time.monotonic()
    parsed = _parse_url(target.url)
    if parsed is None:
        return ProbeOutcome(False, "bad url", 0.0)
    plan = raw_http_plan(target.url)
    if plan is not None:
        return await start_http(asyncio.get_running_loop(), target, timeout_s, plan)
    try:
        reason = await asyncio.wait_for(_exchange(target, *parsed), timeout_s)
    except OSError as e:  # TimeoutError and ssl errors included
        reason = reason_of(e)
    except (BadResponse, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        reason = BAD  # ValueError: StreamReader's line limit
    return ProbeOutcome(not reason, reason, time.monotonic() - t0)
