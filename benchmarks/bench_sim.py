"""Emulator throughput: DescribeNetworkInterfaces through the official SDK from 8 client threads.

    .venv/bin/python benchmarks/bench_sim.py [--seconds 5] [--threads 8] [--groups 1000]

Starts `python -m failover sim ecs` as a separate process (so the clients and the server do not
share a GIL) with a world of N groups (two instances and one service ENI each), then hammers it
for a bounded time: each call asks for one ENI by id, as the controller's polling does, and a
second phase pages through all ENIs 100 at a time. Prints JSON and writes
benchmarks/results/sim_throughput.json. Goal: at least 500 requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(var, None)

from alibabacloud_ecs20140526 import models as m  # noqa: E402
from alibabacloud_ecs20140526.client import Client  # noqa: E402
from alibabacloud_tea_openapi import models as open_api_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AK, SECRET = "AKIDBENCH", "SECRETBENCH"


def world(groups: int) -> dict[str, Any]:
    instances, enis = [], []
    for g in range(groups):
        a, b = 10 + 2 * g, 11 + 2 * g
        for n in (a, b):
            instances.append(
                {
                    "id": f"i-{n:05d}",
                    "vswitch": "vsw-a",
                    "primary_ip": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                    "max_enis": 3,
                    "max_ips_per_eni": 10,
                }
            )
        e = 200000 + g
        enis.append(
            {
                "id": f"eni-{g:05d}",
                "vswitch": "vsw-a",
                "instance": f"i-{a:05d}",
                "primary_ip": f"10.{e // 65536}.{e // 256 % 256}.{e % 256}",
            }
        )
    return {
        "region": "cn-hangzhou",
        "access_keys": {AK: SECRET},
        "seed": 1,
        "vpcs": [
            {"id": "vpc-a", "vswitches": [{"id": "vsw-a", "zone": "cn-hangzhou-h", "cidr": "10.0.0.0/8"}]}
        ],
        "instances": instances,
        "network_interfaces": enis,
    }


def run_phase(endpoint: str, threads: int, seconds: float, call: Any) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    counts, errors = [0] * threads, [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def worker(i: int) -> None:
        client = Client(
            open_api_models.Config(
                access_key_id=AK,
                access_key_secret=SECRET,
                endpoint=endpoint,
                protocol="http",
                read_timeout=10000,
            )
        )
        rng = random.Random(i)
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                call(client, rng)
                counts[i] += 1
            except Exception:
                errors[i] += 1
            latencies[i].append(time.perf_counter() - t0)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    lat = sorted(x for per in latencies for x in per)
    return {
        "requests": sum(counts),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(sum(counts) / elapsed, 1),
        "latency_ms": {
            "p50": round(lat[len(lat) // 2] * 1000, 2),
            "p99": round(lat[int(len(lat) * 0.99)] * 1000, 2),
        }
        if lat
        else {},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sim_throughput.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "world.yaml"
        path.write_text(yaml.safe_dump(world(args.groups)))
        proc = subprocess.Popen(
            [sys.executable, "-m", "failover", "sim", "ecs", "--listen", "127.0.0.1:0", "--world", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            endpoint = json.loads(proc.stdout.readline())["listening"]

            def by_id(client: Any, rng: random.Random) -> None:
                eni = f"eni-{rng.randrange(args.groups):05d}"
                body = client.describe_network_interfaces(
                    m.DescribeNetworkInterfacesRequest(region_id="cn-hangzhou", network_interface_id=[eni])
                ).body
                assert body.network_interface_sets.network_interface_set[0].network_interface_id == eni

            def page(client: Any, rng: random.Random) -> None:
                client.describe_network_interfaces(
                    m.DescribeNetworkInterfacesRequest(
                        region_id="cn-hangzhou",
                        max_results=100,
                        next_token=str(100 * rng.randrange(args.groups // 100 or 1)),
                    )
                )

            one = run_phase(endpoint, args.threads, args.seconds, by_id)
            paged = run_phase(endpoint, args.threads, min(args.seconds, 3.0), page)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    result = {
        "benchmark": "DescribeNetworkInterfaces through the official SDK (ACS3 signatures, HTTP keep-alive)",
        "command": (
            f"benchmarks/bench_sim.py --seconds {args.seconds} --threads {args.threads} "
            f"--groups {args.groups}"
        ),
        "threads": args.threads,
        "groups": args.groups,
        "enis": args.groups + 2 * args.groups,
        "one_eni_by_id": one,
        "page_of_100": paged,
        "goal_requests_per_s": 500,
        "meets_goal": one["requests_per_s"] >= 500,
        "cpus": os.cpu_count(),
        "note": "clients and emulator share this machine's CPUs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
