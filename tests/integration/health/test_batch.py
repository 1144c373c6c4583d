"""A whole round on the batched raw-socket path (`probe_all`): every outcome lands on its own
probe, timeouts hold, a task-path probe (a command) runs beside them, and no socket outlives
the round, finished or cancelled."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from failover.health.plan import CommandTarget, HttpTarget, ProbeSpec, TcpTarget
from failover.health.probes import ProbeResult, probe_all
from tests.integration.health.servers import Behaviour, HttpServer, TcpListener


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _spec(name: str, target: TcpTarget | HttpTarget | CommandTarget, timeout_s: float = 0.4) -> ProbeSpec:
    return ProbeSpec("g", name, "0:x", "x", timeout_s, target)


def _hanging_port() -> tuple[socket.socket, list[socket.socket], int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(8):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    return srv, fillers, port


def test_a_mixed_round_gives_each_probe_its_own_outcome() -> None:
    listener = TcpListener()
    closed = TcpListener()
    closed.close()
    srv, fillers, hang_port = _hanging_port()
    try:
        with HttpServer(Behaviour()) as ok, HttpServer(Behaviour(status=500)) as bad, \
                HttpServer(Behaviour(hang=True)) as hung, \
                HttpServer(Behaviour(body=b'{"status": "ready"}', chunked=True)) as chunked, \
                HttpServer(Behaviour(drip_s=0.05, body=b"x" * 200)) as drip:
            specs = [
                _spec("tcp-up", TcpTarget(listener.host, listener.port)),
                _spec("tcp-refused", TcpTarget(closed.host, closed.port)),
                _spec("tcp-hang", TcpTarget("127.0.0.1", hang_port), 0.3),
                _spec("http-ok", HttpTarget(ok.url())),
                _spec("http-500", HttpTarget(bad.url())),
                _spec("http-hang", HttpTarget(hung.url()), 0.3),
                _spec("http-chunked", HttpTarget(chunked.url(), body_contains='"ready"')),
                _spec("http-drip", HttpTarget(drip.url(), body_contains="y")),
                _spec("not-http", HttpTarget(f"http://{listener.host}:{listener.port}/")),
                _spec("command", CommandTarget(("true",)), 2.0),
            ]
            before = _fds()
            t0 = time.monotonic()
            results = asyncio.run(probe_all(specs, None))
            took = time.monotonic() - t0
    finally:
        for c in fillers:
            c.close()
        srv.close()
        listener.close()
    got = {r.spec.instance: (r.outcome.ok, r.outcome.reason) for r in results if r.outcome}
    assert got == {
        "tcp-up": (True, ""), "tcp-refused": (False, "refused"), "tcp-hang": (False, "timeout"),
        "http-ok": (True, ""), "http-500": (False, "status 500"), "http-hang": (False, "timeout"),
        "http-chunked": (True, ""), "http-drip": (False, "timeout"),
        "not-http": (False, "bad response"), "command": (True, ""),
    }
    assert [r.spec.instance for r in results] == [s.instance for s in specs]
    assert took < 0.4 + 1.5
    assert _fds() <= before


def test_a_cancelled_round_keeps_what_finished_and_closes_every_socket() -> None:
    listener = TcpListener()
    srv, fillers, hang_port = _hanging_port()
    finished: list[ProbeResult] = []
    specs = [_spec("up", TcpTarget(listener.host, listener.port)),
             *[_spec(f"hang-{i}", TcpTarget("127.0.0.1", hang_port), 10.0) for i in range(20)]]

    async def round_cut_short() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(probe_all(specs, None, finished), 0.3)

    try:
        before = _fds()
        asyncio.run(round_cut_short())
        after = _fds()
    finally:
        for c in fillers:
            c.close()
        srv.close()
        listener.close()
    assert [(r.spec.instance, r.outcome.ok if r.outcome else None) for r in finished] == [("up", True)]
    assert after <= before
