"""The http/https probe: one GET through aiohttp, under one deadline for the whole exchange.

aiohttp (already installed with the cloud SDK) does HTTP/1.1 itself: status line, headers,
chunked bodies, Basic auth from the URL, TLS. Its own timeouts are set too, but the deadline
that counts is one `asyncio.wait_for` around connect, TLS, request, headers and body: a server
that trickles bytes cannot stretch it. Proxy variables are ignored (`trust_env=False`): only the
URL's own host is ever contacted. Each probe has its own connector, closed at the end, so no
connection is reused between members or rounds (a kept-alive socket would hide a dead
listener). The cost against the hand-written client it replaced is measured by
benchmarks/bench_http_probe.py.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from urllib.parse import SplitResult, urlsplit

import aiohttp

from failover.health.plan import HttpTarget
from failover.health.reasons import reason_of
from failover.model import ProbeOutcome

MAX_BODY = 64 * 1024  # body_contains looks at the start of the body only


def _tls_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _parse_url(text: str) -> tuple[SplitResult, int] | None:
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    return url, port or (443 if url.scheme == "https" else 80)


async def _body(resp: aiohttp.ClientResponse) -> bytes:
    body = b""
    while len(body) < MAX_BODY:
        chunk = await resp.content.read(MAX_BODY - len(body))
        if not chunk:
            break
        body += chunk
    return body


async def _exchange(target: HttpTarget, timeout_s: float) -> str:
    tls = _tls_context(target.verify_tls) if target.url.startswith("https") else False
    connector = aiohttp.TCPConnector(ssl=tls, force_close=True, limit=1, use_dns_cache=False)
    async with aiohttp.ClientSession(
        connector=connector, trust_env=False, auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={"User-Agent": "failover-health", "Accept": "*/*"},
    ) as session, session.get(target.url, allow_redirects=False) as resp:
        if resp.status != target.expect_status:
            return f"status {resp.status}"
        if target.body_contains is None:
            return ""
        text = (await _body(resp)).decode("utf-8", errors="replace")
        return "" if target.body_contains in text else "body mismatch"


def _reason(e: BaseException) -> str:
    if isinstance(e, aiohttp.ClientSSLError):  # certificate and handshake failures
        return "tls"
    if isinstance(e, aiohttp.ClientConnectorError):
        return reason_of(e.os_error)
    if isinstance(e, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError
                  | aiohttp.ClientPayloadError | ValueError):
        return "bad response"  # not HTTP, a cut-off body, a malformed header
    return reason_of(e)


async def http_probe(target: HttpTarget, timeout_s: float) -> ProbeOutcome:
    t0 = time.monotonic()
    if _parse_url(target.url) is None:
        return ProbeOutcome(False, "bad url", 0.0)
    try:
        reason = await asyncio.wait_for(_exchange(target, timeout_s), timeout_s)
    except (OSError, aiohttp.ClientError, ValueError) as e:  # TimeoutError included
        reason = _reason(e)
    return ProbeOutcome(not reason, reason, time.monotonic() - t0)
