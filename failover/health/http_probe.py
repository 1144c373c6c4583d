"""The http/https probe: one GET on asyncio streams, under a hard deadline.

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
import ssl
import time
from urllib.parse import SplitResult, unquote, urlsplit

from failover.health.plan import HttpTarget
from failover.health.reasons import reason_of
from failover.model import ProbeOutcome

MAX_BODY = 64 * 1024  # body_contains looks at the start of the body only
MAX_HEADERS = 100


class BadResponse(Exception):
    """The peer did not answer in HTTP."""


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


def parse_status(line: bytes) -> int:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise BadResponse("not an HTTP status line")
    return int(parts[1])


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


async def http_probe(target: HttpTarget, timeout_s: float) -> ProbeOutcome:
    t0 = time.monotonic()
    parsed = _parse_url(target.url)
    if parsed is None:
        return ProbeOutcome(False, "bad url", 0.0)
    try:
        reason = await asyncio.wait_for(_exchange(target, *parsed), timeout_s)
    except OSError as e:  # TimeoutError and ssl errors included
        reason = reason_of(e)
    except (BadResponse, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        reason = "bad response"  # ValueError: StreamReader's line limit
    return ProbeOutcome(not reason, reason, time.monotonic() - t0)
