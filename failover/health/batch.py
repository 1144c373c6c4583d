"""A round's raw-socket probes (tcp, plain http to an IP) on one epoll set (I/O).

Why not a future, a timer and `loop.add_writer` per probe (`probes.start_tcp`,
`http_probe.start_http`, still used for single probes): at 3,000 probes a second those were
most of a 1,000-group replica's probe CPU (asyncio's selector key, handle and two
`epoll_ctl` calls through Python per socket, a timer in the heap, three callbacks per
future; benchmarks/results/notes/issue-23.md). Here a socket is one `epoll.register` in C,
the loop watches the set's single fd, a round has one timer per distinct timeout, and each
outcome goes straight to `on_done` as it comes (what finished is kept if the round is
abandoned).

The timer is armed once every probe of the round has started (`seal`), so a probe gets at
least its timeout, at most that plus the time the round took to start its probes.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import socket
import struct
import time
from collections import defaultdict
from collections.abc import Callable

from failover.health.http_wire import MAX_BODY, verdict
from failover.health.reasons import reason_of
from failover.model import ProbeOutcome

_LINGER_RST = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT per probe
_RECV = MAX_BODY + 16 * 1024
_OUT, _IN = select.EPOLLOUT, select.EPOLLIN


class _Probe:
    __slots__ = ("body_contains", "buf", "expect", "fd", "index", "request", "sent", "sock", "t0",
                 "timeout_s")

    def __init__(self, index: int, timeout_s: float, request: bytes | None = None,
                 expect: int = 200, body_contains: str | None = None) -> None:
        self.index, self.timeout_s = index, timeout_s
        self.request = request  # None: a tcp connect
        self.expect, self.body_contains = expect, body_contains
        self.sent = 0
        self.buf = b""
        self.t0 = time.monotonic()
        self.sock: socket.socket | None = None
        self.fd = -1


class RawBatch:
    def __init__(self, loop: asyncio.AbstractEventLoop,
                 on_done: Callable[[int, ProbeOutcome], None]) -> None:
        self._loop = loop
        self._on_done = on_done
        self._ep = select.epoll()
        self._live: dict[int, _Probe] = {}
        self._by_timeout: dict[float, set[int]] = defaultdict(set)
        self._timers: list[asyncio.TimerHandle] = []
        self._left = 0
        self._sealed = False
        self.done: asyncio.Future[None] = loop.create_future()
        loop.add_reader(self._ep.fileno(), self._ready)

    # ----------------------------------------------------------------- start

    def tcp(self, index: int, host: str, port: int, timeout_s: float) -> None:
        self._start(_Probe(index, timeout_s), host, port)

    def http(self, index: int, host: str, port: int, request: bytes, timeout_s: float,
             expect: int, body_contains: str | None) -> None:
        self._start(_Probe(index, timeout_s, request, expect, body_contains), host, port)

    def _start(self, p: _Probe, host: str, port: int) -> None:
        self._left += 1
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        p.sock, p.fd = sock, sock.fileno()
        err = sock.connect_ex((host, port))
        if err == 0 and p.request is None:
            self._finish(p, "")
        elif err in (0, errno.EINPROGRESS):
            self._ep.register(p.fd, _OUT)
            self._live[p.fd] = p
            self._by_timeout[p.timeout_s].add(p.fd)
        else:
            self._finish(p, reason_of(OSError(err, os.strerror(err))))

    def seal(self) -> None:
        """Every probe started: arm the timers (and finish at once if nothing is pending)."""
        self._sealed = True
        for timeout_s in self._by_timeout:
            self._timers.append(self._loop.call_later(timeout_s, self._expire, timeout_s))
        self._check_done()

    # ---------------------------------------------------------------- events

    def _ready(self) -> None:
        for fd, _events in self._ep.poll(0):
            p = self._live.get(fd)
            if p is None:
                continue
            if p.request is None or p.sent < len(p.request):
                self._writable(p)
            else:
                self._readable(p)

    def _writable(self, p: _Probe) -> None:
        assert p.sock is not None
        if p.sent == 0:
            err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err or p.request is None:
                self._finish(p, reason_of(OSError(err, os.strerror(err))) if err else "")
                return
        assert p.request is not None
        try:
            p.sent += p.sock.send(p.request[p.sent:])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._finish(p, reason_of(e))
            return
        if p.sent >= len(p.request):
            self._ep.modify(p.fd, _IN)

    def _readable(self, p: _Probe) -> None:
        assert p.sock is not None
        try:
            data = p.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._finish(p, reason_of(e))
            return
        p.buf += data
        reason = verdict(p.buf, not data, p.expect, p.body_contains)
        if reason is not None:
            self._finish(p, reason)

    def _expire(self, timeout_s: float) -> None:
        for fd in list(self._by_timeout.get(timeout_s, ())):
            p = self._live.get(fd)
            if p is not None:
                self._finish(p, "timeout")

    # ---------------------------------------------------------------- finish

    def _release(self, p: _Probe) -> None:
        if self._live.pop(p.fd, None) is not None:
            self._ep.unregister(p.fd)
            self._by_timeout[p.timeout_s].discard(p.fd)
        if p.sock is not None:
            p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            p.sock.close()
            p.sock = None

    def _finish(self, p: _Probe, reason: str) -> None:
        self._release(p)
        self._left -= 1
        self._on_done(p.index, ProbeOutcome(not reason, reason, time.monotonic() - p.t0))
        self._check_done()

    def _check_done(self) -> None:
        if self._sealed and self._left == 0 and not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        """Always, also when the round is cancelled: no socket, timer or watch outlives it."""
        for timer in self._timers:
            timer.cancel()
        for p in list(self._live.values()):
            self._release(p)
        self._loop.remove_reader(self._ep.fileno())
        self._ep.close()
