"""Members' services for the scale benchmark, in a process of its own (its CPU is not the
replica's): a TCP listener (accept, close) or a minimal HTTP/1.1 server (200 "ok") on each
member's own loopback address.

    python -m tests.support.endpoints --tcp-port P --http-port H --lifetime-s S < addresses.json

reads {"tcp": [ip, ...], "http": [ip, ...]} on stdin, prints "ready" once every socket
listens, and exits after `lifetime_s` or when stdin's parent goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class _Tcp(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Http(asyncio.Protocol):
    """Protocols, not streams: a third of the CPU per request, which counts on a shared host."""

    def __init__(self) -> None:
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if b"\r\n\r\n" in self._buf and self._transport is not None:
            self._transport.write(RESPONSE)
            self._transport.close()
        elif len(self._buf) > 65536 and self._transport is not None:
            self._transport.close()


async def serve(tcp: list[str], http: list[str], tcp_port: int, http_port: int) -> None:
    for ip in [*tcp, *http]:
        if not ip.startswith("127."):
            raise SystemExit(f"endpoints stay on loopback, got {ip}")
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(_Tcp, ip, tcp_port, backlog=512) for ip in tcp]
    servers += [await loop.create_server(_Http, ip, http_port, backlog=512) for ip in http]
    print("ready", flush=True)
    await asyncio.Event().wait()
    del servers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp-port", type=int, required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--lifetime-s", type=int, required=True)
    args = ap.parse_args()
    doc = json.loads(sys.stdin.readline())
    signal.alarm(args.lifetime_s)  # never outlive a benchmark that died
    asyncio.run(serve(doc["tcp"], doc["http"], args.tcp_port, args.http_port))


if __name__ == "__main__":
    main()
