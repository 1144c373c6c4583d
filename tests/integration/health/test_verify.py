"""ProbeVerifier against real loopback service IPs: retried until they answer, or named."""

from __future__ import annotations

import threading
import time
from typing import Any

from failover.config import GroupConfig
from failover.health.verify import ProbeVerifier
from tests.integration.health.servers import Behaviour, HttpServer, TcpListener


def group(checks: list[dict[str, Any]]) -> GroupConfig:
    return GroupConfig.model_validate({
        "name": "svc", "network_interface": "eni-svc", "members": ["i-old", "i-new"],
        "service_ips": ["127.0.0.51", "127.0.0.52"], "checks": checks,
        "health": {"timeout_s": 0.2},
    })


def test_passes_once_every_service_ip_answers() -> None:
    first = TcpListener("127.0.0.51", 0)
    late: list[TcpListener] = []
    # The second IP comes up 0.3 s later, as after an ENI move.
    timer = threading.Timer(0.3, lambda: late.append(TcpListener("127.0.0.52", first.port)))
    timer.start()
    try:
        v = ProbeVerifier([group([{"type": "tcp", "port": first.port}])], retry_s=0.05)
        out = v.verify("svc", "i-new", ["127.0.0.51", "127.0.0.52"], timeout_s=5)
    finally:
        timer.join()
        first.close()
        for listener in late:
            listener.close()
    assert out.ok, out
    assert "2 probes passed" in out.detail
    assert int(out.detail.split("(")[1].split()[0]) > 1  # it had to retry


def test_fails_naming_the_ip_that_never_answered() -> None:
    with TcpListener("127.0.0.51", 0) as only:
        v = ProbeVerifier([group([{"type": "tcp", "port": only.port}])], retry_s=0.05)
        t0 = time.monotonic()
        out = v.verify("svc", "i-new", ["127.0.0.51", "127.0.0.52"], timeout_s=0.5)
        took = time.monotonic() - t0
    assert not out.ok
    assert out.failures == (f"0:tcp:{only.port}@127.0.0.52: refused",)
    assert took < 0.5 + 1.0  # bounded by timeout_s, not by the retries


def test_http_check_with_ip_bound_to_each_service_ip() -> None:
    with HttpServer(Behaviour(body=b"ready")) as srv:
        checks = [{"type": "http", "url": f"http://{{ip}}:{srv.port}/ok", "body_contains": "ready"}]
        v = ProbeVerifier([group(checks)])
        out = v.verify("svc", "i-new", ["127.0.0.1"], timeout_s=2)
    assert out.ok, out
    assert srv.requests[0].startswith(b"GET /ok HTTP/1.1")


def test_without_any_ip_there_is_nothing_to_verify() -> None:
    v = ProbeVerifier([group([{"type": "tcp", "port": 80}])])
    out = v.verify("svc", "i-new", [], timeout_s=0.2)
    assert not out.ok
    assert out.failures == ("i-new: no address",)
