"""Members' services for the scale benchmark, in a process of its own (its CPU is not the
replica's): a TCP listener (accept, close) or a minimal HTTP/1.1 server (200 "ok") on each
member's own loopback address.

    python -m harness.endpoints --tcp-port P --http-port H --lifetime-s S < addresses.json

reads {"tcp": [ip, ...], "http": [ip, ...]} on stdin, prints "ready" once every socket
listens, and exits after `lifetime_s` (never outliving a benchmark that died). With
`--down-file F`, SIGUSR1 to its process group takes down the addresses F lists (a JSON list):
every worker closes its copy of their listeners, so connections to them are refused, as to a
machine that died (a zone outage, `harness/scale_outage.py`).

Raw sockets on one selector, not asyncio transports: 2,000 connections a second on a shared
host made the transport version the bottleneck (accepted sockets piled up to the fd limit
and HTTP checks timed out while the replica itself waited).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import socket
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
_LISTEN, _TCP, _HTTP = 0, 1, 2


def _listener(ip: str, port: int) -> socket.socket:
    if not ip.startswith("127."):
        raise SystemExit(f"endpoints stay on loopback, got {ip}")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(1024)
    s.setblocking(False)
    return s


def serve(tcp: list[str], http: list[str], tcp_port: int, http_port: int, *, workers: int = 1,
          lifetime_s: int = 3600, down_file: str | None = None) -> None:
    """Every listener bound before "ready"; then `workers` processes (this one and forked
    children) each serve a slice of them. The endpoints stand for thousands of machines: one
    Python process answering for all of them fell behind with three replicas probing."""
    listeners = ([(_listener(ip, tcp_port), _TCP) for ip in tcp]
                 + [(_listener(ip, http_port), _HTTP) for ip in http])
    print("ready", flush=True)
    parent, mine = os.getpid(), listeners[0::workers]
    for k in range(1, workers):
        if os.fork() == 0:
            signal.alarm(lifetime_s)  # a child does not inherit its parent's alarm
            mine = listeners[k::workers]
            break
    sel = selectors.DefaultSelector()
    for sock, kind in mine:
        sel.register(sock, selectors.EVENT_READ, (_LISTEN, kind))
    buffers: dict[int, bytes] = {}
    told: list[bool] = []
    signal.signal(signal.SIGUSR1, lambda *_: told.append(True))
    while True:
        events = sel.select(0.2)
        if os.getpid() != parent and os.getppid() != parent:
            os._exit(0)  # the parent is gone (killed by the harness): so are its workers
        if told and down_file is not None:
            told.clear()
            with open(down_file) as f:
                listeners = _take_down(sel, listeners, set(json.load(f)))
            events = [(k, m) for k, m in events
                      if not (isinstance(k.fileobj, socket.socket) and k.fileobj.fileno() < 0)]
        for key, _ in events:
            ready = key.fileobj
            assert isinstance(ready, socket.socket)  # only sockets are registered
            sock = ready
            role, kind = key.data
            if role == _LISTEN:
                for _ in range(64):  # drain the accept queue a bounded number at a time
                    try:
                        conn, _addr = sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    if kind == _TCP:
                        conn.close()
                        continue
                    conn.setblocking(False)
                    buffers[conn.fileno()] = b""
                    sel.register(conn, selectors.EVENT_READ, (_HTTP, _HTTP))
                continue
            fd = sock.fileno()
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            buf = buffers.get(fd, b"") + data
            if data and b"\r\n\r\n" not in buf and len(buf) < 65536:
                buffers[fd] = buf
                continue
            if data:
                with contextlib.suppress(OSError):
                    sock.send(RESPONSE)
            buffers.pop(fd, None)
            sel.unregister(sock)
            sock.close()


def _take_down(sel: selectors.BaseSelector, listeners: list[tuple[socket.socket, int]],
               down: set[str]) -> list[tuple[socket.socket, int]]:
    """Closes this process's copy of every listener on a `down` address (the kernel keeps
    accepting while any process holds one open); returns the listeners left."""
    kept = []
    for sock, kind in listeners:
        if sock.getsockname()[0] not in down:
            kept.append((sock, kind))
            continue
        with contextlib.suppress(KeyError):
            sel.unregister(sock)
        sock.close()
    return kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp-port", type=int, required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--lifetime-s", type=int, required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--down-file", default=None)
    args = ap.parse_args()
    doc = json.loads(sys.stdin.readline())
    signal.alarm(args.lifetime_s)
    serve(doc["tcp"], doc["http"], args.tcp_port, args.http_port, workers=max(1, args.workers),
          lifetime_s=args.lifetime_s, down_file=args.down_file)


if __name__ == "__main__":
    main()
