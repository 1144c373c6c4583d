"""CPU per probe of a health round's probe paths, at rounds of many probes at once.

    .venv/bin/python benchmarks/bench_probe_cpu.py [--probes 500] [--rounds 10]

`harness.endpoints` (a process of its own) serves TCP and HTTP on `--probes` loopback
addresses; this process runs `--rounds` rounds of `--probes` probes each per path and reports
user and system CPU microseconds per probe (getrusage) and failed probes:
- `round-tcp`, `round-http`: `probe_all`, the product's round (raw sockets on one epoll set);
- `single-tcp`, `single-http`: one future, timer and loop watch per probe (`start_tcp`,
  `start_http`: what rounds used before, what a failover's verify still uses);
- `streams-http`: the asyncio-streams client (what rounds used for http before; https now).
System CPU includes the kernel's loopback TCP handshake, charged to the connecting process.
Loopback only, on a machine shared with other work: the load is recorded beside the figures.
Results: benchmarks/results/probe_cpu.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from failover.health import http_probe  # noqa: E402
from failover.health.plan import HttpTarget, ProbeSpec, TcpTarget  # noqa: E402
from failover.health.probes import probe_all, start_tcp  # noqa: E402
from failover.model import ProbeOutcome  # noqa: E402
from harness.zk import free_port  # noqa: E402

TIMEOUT_S = 0.5


def ip(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def specs(kind: str, n: int, tcp_port: int, http_port: int) -> list[ProbeSpec]:
    if kind == "tcp":
        return [ProbeSpec("g", f"i-{i}", "0:tcp", "tcp", TIMEOUT_S, TcpTarget(ip(i), tcp_port))
                for i in range(n)]
    return [ProbeSpec("g", f"i-{i}", "0:http", "http", TIMEOUT_S,
                      HttpTarget(f"http://{ip(i)}:{http_port}/health")) for i in range(n)]


def one_path(path: str, ss: list[ProbeSpec]) -> Callable[[], Awaitable[list[ProbeOutcome]]]:
    async def rounds() -> list[ProbeOutcome]:
        loop = asyncio.get_running_loop()
        if path.startswith("round"):
            return [r.outcome for r in await probe_all(ss, None) if r.outcome is not None]
        if path == "single-tcp":
            return list(await asyncio.gather(*(start_tcp(loop, s.target, TIMEOUT_S)  # type: ignore[arg-type]
                                               for s in ss)))
        if path == "single-http":
            plans = [http_probe.raw_http_plan(s.target.url) for s in ss]  # type: ignore[union-attr]
            return list(await asyncio.gather(*(http_probe.start_http(loop, s.target, TIMEOUT_S, p)  # type: ignore[arg-type]
                                               for s, p in zip(ss, plans, strict=True) if p)))
        parsed = [http_probe._parse_url(s.target.url) for s in ss]  # type: ignore[union-attr]

        async def streams(s: ProbeSpec, p: Any) -> ProbeOutcome:
            try:
                reason = await asyncio.wait_for(http_probe._exchange(s.target, *p), TIMEOUT_S)  # type: ignore[arg-type]
            except OSError as e:
                reason = type(e).__name__
            return ProbeOutcome(not reason, reason)
        return list(await asyncio.gather(*(streams(s, p) for s, p in zip(ss, parsed, strict=True))))
    return rounds


def measure(path: str, ss: list[ProbeSpec], n_rounds: int) -> dict[str, Any]:
    run = one_path(path, ss)

    async def main() -> int:
        failed = 0
        for _ in range(n_rounds):
            failed += sum(1 for o in await run() if not o.ok)
            await asyncio.sleep(0.05)
        return failed

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    failed = asyncio.run(main())
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = n_rounds * len(ss)
    return {"user_us_per_probe": round(1e6 * (r1.ru_utime - r0.ru_utime) / n, 1),
            "system_us_per_probe": round(1e6 * (r1.ru_stime - r0.ru_stime) / n, 1),
            "probes": n, "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "probe_cpu.json")
    args = ap.parse_args()
    if not 1 <= args.probes <= 5000 or not 1 <= args.rounds <= 100:
        ap.error("--probes must be 1..5000 and --rounds 1..100")
    tcp_port, http_port = free_port(), free_port()
    ips = [ip(i) for i in range(args.probes)]
    server = subprocess.Popen(
        [sys.executable, "-m", "harness.endpoints", "--tcp-port", str(tcp_port), "--http-port",
         str(http_port), "--lifetime-s", "600"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=ROOT)
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(json.dumps({"tcp": ips, "http": ips}) + "\n")
    server.stdin.flush()
    if server.stdout.readline().strip() != "ready":
        raise SystemExit("bench: the endpoint server did not start")
    load0 = os.getloadavg()
    try:
        tcp = specs("tcp", args.probes, tcp_port, http_port)
        http = specs("http", args.probes, tcp_port, http_port)
        result = {path: measure(path, tcp if path.endswith("tcp") else http, args.rounds)
                  for path in ("round-tcp", "single-tcp", "round-http", "single-http", "streams-http")}
    finally:
        server.kill()
        server.wait()
    doc = {"command": " ".join(["benchmarks/bench_probe_cpu.py", *sys.argv[1:]]),
           "settings": {"probes_per_round": args.probes, "rounds": args.rounds, "timeout_s": TIMEOUT_S},
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "load_avg_at_start": [round(x, 2) for x in load0],
                       "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
                       "note": "2 cores shared with other engineers' work"},
           "result": result}
    print(json.dumps(doc, indent=2))
    args.out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
