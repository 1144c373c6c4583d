"""The http probe's cost: the hand-written asyncio-streams client (failover/health/http_probe.py)
against an aiohttp version of it (the file at commit AIOHTTP_CANDIDATE, loaded from git; same
tests pass) and aiohttp with one session shared by every probe.

    .venv/bin/python benchmarks/bench_http_probe.py [--probes 2000] [--concurrency 200] \
        [--out benchmarks/results/http_probe.json]

A separate process serves a fixed 200 response on loopback (asyncio, Connection: close);
this process runs rounds of `--concurrency` probes at once, as a replica does for many groups,
alternating the clients round by round. Reported per client: CPU seconds of this process
per probe, and the wall time of a round (median, p90). Loopback only, so it prices the client,
not a network; the machine is shared with other work while it runs (figures are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from failover.health import http_probe as current  # noqa: E402
from failover.health.plan import HttpTarget  # noqa: E402
from failover.model import ProbeOutcome  # noqa: E402

AIOHTTP_CANDIDATE = "eaa3c19"  # http_probe.py on aiohttp: a session and connector per probe
SERVER = """
import asyncio, sys
RESP = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nOK"
async def handle(r, w):
    try:
        await r.readuntil(b"\\r\\n\\r\\n")
        w.write(RESP); await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()
asyncio.run(main())
"""


def load_candidate() -> Any:
    src = subprocess.run(["git", "show", f"{AIOHTTP_CANDIDATE}:failover/health/http_probe.py"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "http_probe_aiohttp.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("http_probe_aiohttp", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


async def one_round(probe: Any, target: HttpTarget, n: int) -> tuple[float, float, int]:
    cpu0, t0 = time.process_time(), time.monotonic()
    outs = await asyncio.gather(*(probe(target, 5.0) for _ in range(n)))
    return time.process_time() - cpu0, time.monotonic() - t0, sum(1 for o in outs if not o.ok)


async def shared_round(target: HttpTarget, n: int) -> tuple[float, float, int]:
    """aiohttp at its cheapest: one session for the whole round (a probe module would have to
    keep one per event loop and close it on shutdown)."""
    conn = aiohttp.TCPConnector(force_close=True, limit=0, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=conn, trust_env=False, auto_decompress=False) as session:

        async def probe(t: HttpTarget, timeout_s: float) -> ProbeOutcome:
            async with session.get(t.url, allow_redirects=False,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                return ProbeOutcome(resp.status == t.expect_status, "", 0.0)

        return await one_round(probe, target, n)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "http_probe.json"))
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        target = HttpTarget(url=f"http://127.0.0.1:{port}/healthz")
        candidate = load_candidate().http_probe
        clients: dict[str, Callable[[int], Coroutine[Any, Any, tuple[float, float, int]]]] = {
            "streams": lambda n: one_round(current.http_probe, target, n),
            "aiohttp_per_probe_session": lambda n: one_round(candidate, target, n),
            "aiohttp_shared_session": lambda n: shared_round(target, n),
        }
        stats: dict[str, dict[str, list[float]]] = {k: {"cpu": [], "wall": [], "failed": []} for k in clients}
        rounds = max(1, args.probes // args.concurrency)
        for run_round in clients.values():  # warm-up
            asyncio.run(run_round(10))
        for _ in range(rounds):
            for name, run_round in clients.items():
                cpu, wall, failed = asyncio.run(run_round(args.concurrency))
                stats[name]["cpu"].append(cpu)
                stats[name]["wall"].append(wall)
                stats[name]["failed"].append(failed)
    finally:
        server.kill()
        server.wait()
    result = {
        name: {
            "cpu_ms_per_probe": round(1000 * sum(s["cpu"]) / (rounds * args.concurrency), 3),
            "round_wall_s_median": round(statistics.median(s["wall"]), 4),
            "round_wall_s_p90": round(pct(s["wall"], 0.9), 4),
            "failed_probes": int(sum(s["failed"])),
        } for name, s in stats.items()
    }
    result["settings"] = {"probes_per_client": rounds * args.concurrency, "concurrency": args.concurrency,
                          "aiohttp_candidate_commit": AIOHTTP_CANDIDATE,
                          "target": "loopback, fixed 200 response",
                          "machine": "2 cores shared with other engineers' work while measuring"}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
