"""Loopback TCP listeners standing in for instances' services: listening = up, closed = down.

The chaos worlds give every instance and service IP a 127.x address, and the
groups a `tcp` check, so a trial fails an instance by closing one socket (a
connect is then refused at once) and no probe spawns a process: a zone outage
of 100 groups costs the health rounds almost nothing. One thread accepts and
closes every connection so the kernel's accept queues never fill.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class Listeners:
    def __init__(self, port: int) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._socks: dict[str, socket.socket] = {}
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="chaos-listeners", daemon=True)
        self._thread.start()

    def up(self, *ips: str) -> None:
        for ip in ips:
            if not ip.startswith("127."):
                raise ValueError(f"listeners stay on loopback, got {ip}")
            with self._lock:
                if ip in self._socks:
                    continue
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((ip, self.port))
                s.listen(512)
                s.setblocking(False)
                self._socks[ip] = s
                self._sel.register(s, selectors.EVENT_READ)

    def down(self, *ips: str) -> None:
        for ip in ips:
            with self._lock:
                s = self._socks.pop(ip, None)
                if s is None:
                    continue
                self._sel.unregister(s)
                s.close()

    def is_up(self, ip: str) -> bool:
        with self._lock:
            return ip in self._socks

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.down(*list(self._socks))
        self._sel.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready = self._sel.select(0.1)
            except (OSError, ValueError):
                continue  # a socket closed under select: the next round sees the new set
            for key, _ in ready:
                with contextlib.suppress(OSError):
                    assert isinstance(key.fileobj, socket.socket)  # only sockets are registered
                    conn, _addr = key.fileobj.accept()
                    conn.close()
