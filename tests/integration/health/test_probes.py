"""tcp and http(s) probes against real servers on loopback: the failures that matter."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from failover.health.http_probe import http_probe
from failover.health.plan import HttpTarget, TcpTarget
from failover.health.probes import tcp_probe
from failover.model import ProbeOutcome
from tests.integration.health.servers import Behaviour, HttpServer, TcpListener

# A deadline is hard when the probe returns within it plus scheduling slack.
SLACK_S = 1.0


def tcp(host: str, port: int, timeout_s: float = 0.5) -> ProbeOutcome:
    return asyncio.run(tcp_probe(TcpTarget(host, port), timeout_s))


def http(url: str, timeout_s: float = 0.5, *, expect_status: int = 200, body_contains: str | None = None,
         verify_tls: bool = True) -> ProbeOutcome:
    return asyncio.run(http_probe(HttpTarget(url, expect_status, body_contains, verify_tls), timeout_s))


def test_tcp_up_then_refused_once_the_server_stops_answering() -> None:
    listener = TcpListener()
    first = tcp(listener.host, listener.port)
    assert first.ok and first.reason == ""
    listener.close()
    after = tcp(listener.host, listener.port)
    assert (after.ok, after.reason) == (False, "refused")


def test_tcp_probe_honours_its_timeout_on_a_full_backlog() -> None:
    # A listener that never accepts, with a backlog of 0 filled up, lets SYNs
    # go unanswered: the connect hangs and only the deadline ends it.
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        t0 = time.monotonic()
        out = tcp("127.0.0.1", port, timeout_s=0.3)
        assert (out.ok, out.reason) == (False, "timeout")
        assert time.monotonic() - t0 < 0.3 + SLACK_S
    finally:
        for c in fillers:
            c.close()
        srv.close()


def test_http_200_is_up_and_500_is_down() -> None:
    with HttpServer(Behaviour(status=200)) as ok, HttpServer(Behaviour(status=500)) as bad:
        assert http(ok.url()).ok
        out = http(bad.url())
        assert (out.ok, out.reason) == (False, "status 500")
        assert http(bad.url(), expect_status=500).ok
    request = ok.requests[0].decode()
    assert request.startswith("GET /healthz HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{ok.port}\r\n" in request


def test_http_server_that_hangs_times_out_within_the_timeout() -> None:
    with HttpServer(Behaviour(hang=True)) as srv:
        t0 = time.monotonic()
        out = http(srv.url(), timeout_s=0.3)
        took = time.monotonic() - t0
        assert srv.requests, "the request reached the server"
    assert (out.ok, out.reason) == (False, "timeout")
    assert took < 0.3 + SLACK_S


def test_a_trickling_server_cannot_stretch_the_deadline() -> None:
    # Each byte arrives well within the timeout; a per-read timeout would wait forever.
    with HttpServer(Behaviour(drip_s=0.05, body=b"x" * 200)) as srv:
        t0 = time.monotonic()
        out = http(srv.url(), timeout_s=0.4, body_contains="y")
        took = time.monotonic() - t0
    assert (out.ok, out.reason) == (False, "timeout")
    assert took < 0.4 + SLACK_S


@pytest.mark.parametrize(("timeout_s", "up"), [(0.8, True), (0.15, False)])
def test_slow_server_is_up_only_within_the_timeout(timeout_s: float, up: bool) -> None:
    with HttpServer(Behaviour(delay_s=0.3)) as srv:
        out = http(srv.url(), timeout_s=timeout_s)
    assert out.ok is up
    if not up:
        assert out.reason == "timeout"


def test_body_contains() -> None:
    with HttpServer(Behaviour(body=b'{"status": "ready"}')) as srv:
        assert http(srv.url(), body_contains='"ready"').ok
        out = http(srv.url(), body_contains="degraded")
        assert (out.ok, out.reason) == (False, "body mismatch")


def test_body_contains_with_a_chunked_response() -> None:
    with HttpServer(Behaviour(body=b"all systems nominal", chunked=True)) as srv:
        assert http(srv.url(), body_contains="systems nominal").ok
        assert not http(srv.url(), body_contains="degraded").ok


def test_proxy_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    with TcpListener() as dead_proxy:
        pass  # closed: a probe that went through the proxy would be refused
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_proxy.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead_proxy.port}")
    with HttpServer(Behaviour()) as srv:
        assert http(srv.url()).ok


def test_not_http_and_bad_urls() -> None:
    with HttpServer(Behaviour(raw=b"SSH-2.0-OpenSSH_9.6\r\n")) as srv:
        out = http(srv.url())
    assert (out.ok, out.reason) == (False, "bad response")
    assert http("ftp://127.0.0.1/").reason == "bad url"
    assert http("http://127.0.0.1:99999/").reason == "bad url"


def test_https_with_and_without_verification(tls_server_context: ssl.SSLContext) -> None:
    with HttpServer(Behaviour(body=b"secure"), tls=tls_server_context) as srv:
        url = srv.url(scheme="https")
        assert http(url, verify_tls=False, body_contains="secure").ok
        out = http(url, verify_tls=True)
    assert (out.ok, out.reason) == (False, "tls")
