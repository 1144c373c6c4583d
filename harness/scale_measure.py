"""Reading a whole-replica run from outside, as an operator would: a replica's /metrics
(health verdicts, probe lag, API calls by action and code), /proc (its CPU and RSS) and
ZooKeeper's `srvr` (its zxid counts every write). Used by `harness/scale.py`."""

from __future__ import annotations

import os
import re
import socket
from collections import Counter
from pathlib import Path

from harness.replicas import Replica
from harness.zk import ZkCluster

_SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+|NaN|\+Inf)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def is_throttled(code: str) -> bool:
    """An API call's code that says the gateway refused it for flow control."""
    return code.startswith("Throttling") or code == "ServiceUnavailable"


def scrape(replica: Replica, *names: str) -> list[tuple[str, dict[str, str], float]]:
    """The replica's /metrics; with `names`, only those series (a whole scrape at 1,000 groups
    costs the replica about a second of CPU: polled every 0.25 s it starved the replica)."""
    query = "?" + "&".join(f"name[]={n}" for n in names) if names else ""
    # A whole scrape at 1,000 groups takes seconds on a loaded host: a 3 s timeout lost the
    # steady window's last scrape (and with it every steady figure) in a run.
    code, body = replica.get("/metrics" + query, timeout_s=3.0 if names else 20.0)
    if code != 200:
        return []
    out = []
    for line in body.splitlines():
        m = _SAMPLE.match(line)
        if m:
            labels = dict(_LABEL.findall(m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def members_up(samples: list[tuple[str, dict[str, str], float]]) -> int:
    return sum(1 for name, _l, v in samples if name == "failover_health_up" and v == 1.0)


def members_judged(samples: list[tuple[str, dict[str, str], float]]) -> int:
    """Members with a verdict, up or down: probed, and enough rounds to decide."""
    return sum(1 for name, _l, _v in samples if name == "failover_health_up")


def counter_by(samples: list[tuple[str, dict[str, str], float]], name: str,
               *keys: str) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    for n, labels, v in samples:
        if n == name:
            out[tuple(labels.get(k, "") for k in keys)] += int(v)
    return out


def lag_buckets(samples: list[tuple[str, dict[str, str], float]]) -> dict[float, float]:
    return {float(labels["le"]): v for n, labels, v in samples
            if n == "failover_probe_lag_seconds_bucket"}


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket (an estimate, to its bounds)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == float("inf"):
                return lower
            return lower + (b - lower) * (rank - below) / max(1e-12, buckets[b] - below)
        lower, below = b, buckets[b]
    return lower


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def zxid(zk: ZkCluster) -> int:
    """ZooKeeper's last zxid: its low 32 bits count every write (transaction) of the epoch."""
    node = zk.nodes[0]
    with socket.create_connection(("127.0.0.1", node.client_port), timeout=5) as s:
        s.sendall(b"srvr")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    m = re.search(rb"Zxid: (0x[0-9a-f]+)", data)
    if not m:
        raise RuntimeError(f"ZooKeeper srvr gave no zxid: {data[:200]!r}")
    return int(m.group(1), 16) & 0xFFFFFFFF
