"""The lab's service: answers every GET with its instance id (`/healthz` answers `ok`).

Run inside an instance namespace: `python -m failover.lab.service --id i-primary --bind IP ...`.
Each `--bind` address gets its own listener on port 80; the service IP is bound with
IP_FREEBIND, so a standby listens on it before the ENI (and the address) arrives.
SIGTERM is a graceful stop: listeners close first (new connections are refused), then exit.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

IP_FREEBIND = 15  # linux/in.h


class _Handler(BaseHTTPRequestHandler):
    instance_id = ""
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        body = b"ok\n" if self.path.startswith("/healthz") else f"{self.instance_id}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Instance", self.instance_id)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # 50 requests a second: no access log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        super().server_bind()


def serve(instance_id: str, binds: list[str], port: int) -> None:
    handler = type("Handler", (_Handler,), {"instance_id": instance_id})
    servers = [_Server((addr, port), handler) for addr in binds]
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
               for s in servers]
    stop = threading.Event()

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    for t in threads:
        t.start()
    print(f"{instance_id} serving on {', '.join(binds)} port {port}", flush=True)
    stop.wait()
    for s in servers:
        s.shutdown()
        s.server_close()  # new connections are refused from here on, as from a stopped service


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="failover.lab.service")
    ap.add_argument("--id", required=True)
    ap.add_argument("--bind", action="append", required=True)
    ap.add_argument("--port", type=int, default=80)
    args = ap.parse_args(argv)
    serve(args.id, args.bind, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
