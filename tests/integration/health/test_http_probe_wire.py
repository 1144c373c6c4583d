"""The http probe on the wire: Basic auth from the URL, no redirect following, a fresh connection
per probe (a dead listener is never hidden by a kept-alive socket)."""

from __future__ import annotations

import asyncio
import base64

from failover.health.http_probe import http_probe
from failover.health.plan import HttpTarget
from tests.integration.health.servers import Behaviour, HttpServer


def _probe(url: str, *, expect_status: int = 200, body_contains: str | None = None,
           verify_tls: bool = True) -> tuple[bool, str]:
    target = HttpTarget(url, expect_status, body_contains, verify_tls)
    out = asyncio.run(http_probe(target, 2.0))
    return out.ok, out.reason


def test_basic_auth_comes_from_the_url_and_is_sent() -> None:
    with HttpServer(Behaviour()) as srv:
        url = srv.url().replace("http://", "http://ops:s%40cret@")
        assert _probe(url) == (True, "")
        request = srv.requests[-1].decode("latin-1")
    want = base64.b64encode(b"ops:s@cret").decode()
    assert f"Authorization: Basic {want}" in request
    assert "User-Agent: failover-health" in request


def test_a_redirect_is_its_status_not_followed() -> None:
    with HttpServer(Behaviour(status=302)) as srv:
        assert _probe(srv.url()) == (False, "status 302")
        assert _probe(srv.url(), expect_status=302) == (True, "")


def test_every_probe_opens_its_own_connection() -> None:
    with HttpServer(Behaviour()) as srv:
        for _ in range(3):
            assert _probe(srv.url())[0]
        assert len(srv.requests) == 3  # three accepted connections, one request each
        assert all(b"Connection: close" in r or b"connection: close" in r.lower() for r in srv.requests)
