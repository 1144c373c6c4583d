"""Real loopback servers with the failures a health checker meets.

A TCP listener that can stop answering; an HTTP server that answers with a
status, a body, after a delay, in chunks, byte by byte, or never. Every
server is stopped by its context manager, hanging handlers included.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from typing import Any


class TcpListener:
    """Accepts and closes; `close()` makes the port refuse connections."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.host, self.port = self.sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> TcpListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Behaviour:
    status: int = 200
    body: bytes = b"OK"
    delay_s: float = 0.0  # before the status line
    hang: bool = False  # read the request, never answer
    drip_s: float = 0.0  # send the response one byte at a time
    chunked: bool = False
    raw: bytes | None = None  # sent instead of an HTTP response


class HttpServer:
    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.closing = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self) -> tuple[Any, Any]:
                conn, addr = super().get_request()
                if tls is None:
                    return conn, addr
                conn.settimeout(2)
                try:
                    return tls.wrap_socket(conn, server_side=True), addr
                except (ssl.SSLError, OSError):
                    conn.close()
                    raise

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _handle(self, conn: socket.socket) -> None:
        b = self.behaviour
        data = b""
        conn.settimeout(2)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        self.requests.append(data)
        if b.hang:
            self.closing.wait(10)
            return
        if b.delay_s:
            self.closing.wait(b.delay_s)
        if b.raw is not None:
            conn.sendall(b.raw)
            return
        if b.chunked:
            mid = len(b.body) // 2
            parts = [b.body[:mid], b.body[mid:]]
            payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
            head = "Transfer-Encoding: chunked\r\n"
        else:
            payload = b.body
            head = f"Content-Length: {len(b.body)}\r\n"
        response = f"HTTP/1.1 {b.status} X\r\n{head}Connection: close\r\n\r\n".encode() + payload
        try:
            if b.drip_s:
                for i in range(len(response)):
                    if self.closing.wait(b.drip_s):
                        return
                    conn.sendall(response[i : i + 1])
            else:
                conn.sendall(response)
        except OSError:
            pass

    def url(self, path: str = "/healthz", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2)

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

