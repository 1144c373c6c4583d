"""How long a mutation's request takes to arrive after its fencing check passed: the late-call
window of a paused leader (issue 21), with the check where `Caller` runs it (before the SDK
builds and signs the request) and with it armed in the SDK's transport (`sdk.last_check`).

The real `SdkGateway` sends RunCommand (a 4 KB script) to a local HTTP server that notes the
monotonic time of each request's first byte (one clock: same host); the two ways alternate in
`--rounds` rounds of `--calls` calls each. The figure is check -> first byte at the server,
p50/p99/max per way.

    .venv/bin/python benchmarks/bench_last_check.py [--calls 300] [--rounds 2]
    -> benchmarks/results/issue21/last_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")

from failover.cloud.sdk import SdkGateway, last_check  # noqa: E402
from failover.config import CloudConfig  # noqa: E402

ANSWER = json.dumps({"RequestId": "R", "CommandId": "c-1", "InvokeId": "t-1"}).encode()


class FirstBytes:
    """A minimal HTTP/1.1 server: answers every request with ANSWER, noting when each began."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self._sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            if not buf:
                self.arrivals.append(time.monotonic())
            buf += data
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if not sep:
                continue
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(rest) < length:
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(ANSWER) + ANSWER)
            buf = b""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=300, help="per way and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/issue21/last_check.json")
    args = ap.parse_args()
    server = FirstBytes()
    env = {"BENCH_AK": "AKID", "BENCH_SK": "bench-secret"}
    cfg = CloudConfig.model_validate({
        "region": "cn-hangzhou", "endpoint": f"127.0.0.1:{server.port}", "protocol": "http",
        "credentials": {"access_key_id_env": "BENCH_AK", "access_key_secret_env": "BENCH_SK"}})
    gw = SdkGateway(cfg, environ=env)
    gw.call("DescribeInstances", {}, timeout_s=5)  # the endpoint's session, as in a replica
    params = {"InstanceId": ["i-1"], "Type": "RunShellScript", "ContentEncoding": "PlainText",
              "CommandContent": "echo configure\n" * 270}  # ~4 KB, like a guest script
    gaps: dict[str, list[float]] = {"check_before_signing": [], "check_in_transport": []}
    for _ in range(args.rounds):
        for way, found in gaps.items():
            for _ in range(args.calls):
                at: list[float] = []

                def check(at: list[float] = at) -> None:
                    at.append(time.monotonic())

                n = len(server.arrivals)
                if way == "check_before_signing":  # as Caller.once runs trace.check()
                    check()
                    last_check(None)
                else:
                    last_check(check)
                gw.call("RunCommand", params, timeout_s=5)
                found.append(server.arrivals[n] - at[0])
    result: dict[str, Any] = {
        "benchmark": "last_check",
        "command": "benchmarks/bench_last_check.py " + " ".join(sys.argv[1:]),
        "settings": {"action": "RunCommand", "script_bytes": len(params["CommandContent"]),
                     "calls_per_way": args.calls * args.rounds, "rounds": args.rounds,
                     "server": "local HTTP/1.1 on loopback, a thread of this process (it shares "
                               "the interpreter lock), first byte noted on arrival"},
        **{way: {"p50_ms": round(statistics.median(v) * 1000, 3),
                 "p99_ms": round(pct(v, 99) * 1000, 3), "max_ms": round(max(v) * 1000, 3)}
           for way, v in gaps.items()},
        "unchecked_sends": gw.unchecked_sends,
        "note": "2 CPU cores shared with other engineers' work while measured",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
