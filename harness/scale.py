"""The whole replica at scale: `failover run` processes with ZooKeeper and the emulator.

N groups, 2N instances, each instance's service on its own loopback address (a TCP check, or
every `http_every`-th group an HTTP check) served by `harness.endpoints` in a process of
its own. Each replica is a real `python -m failover run` with the product's defaults but for
the settings a `ScaleSpec` names (readiness on: every replica reads every group's standbys).

Measured from outside, as an operator would (`harness/scale_measure.py`): the replicas'
/metrics, /proc and ZooKeeper's zxid. `run_scale` returns the figures;
benchmarks/bench_health.py writes them, tests/reliability asserts convergence on them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from failover.cloud.budget import SHARED, ApiBudget
from failover.ports import SystemClock
from harness.replicas import Fleet
from harness.scale_measure import (
    counter_by,
    cpu_s,
    is_throttled,
    lag_buckets,
    members_judged,
    members_up,
    quantile,
    rss_mib,
    scrape,
    zxid,
)
from harness.sim import AK, SECRET, SimServer
from harness.zk import ZkCluster, free_port

ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[str], None]


@dataclass
class ScaleSpec:
    groups: int = 1000
    replicas: int = 1
    seconds: float = 60.0  # the steady window, after every member is up on every replica
    http_every: int = 2  # every k-th group has an HTTP check, the others TCP (0: TCP only)
    interval_s: float = 1.0
    timeout_s: float = 0.5
    api_rate_per_s: int = 20  # the product's default account limit per action
    account_qps: int | None = None  # the emulator's per-action limit (the gateway); None: none
    readiness_interval_s: float = 30.0
    up_timeout_s: float = 180.0
    wait_for_up: bool = True  # False: start-up ends when every member has a verdict
    extra_cloud: dict[str, Any] = field(default_factory=dict)
    extra_controller: dict[str, Any] = field(default_factory=dict)


def member_ip(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def _eni_ip(g: int, k: int) -> str:
    return f"127.{2 + k}.{g // 250}.{g % 250 + 1}"


def world(spec: ScaleSpec) -> dict[str, Any]:
    n = spec.groups
    return {
        "region": "cn-hangzhou", "seed": 23, "access_keys": {AK: SECRET},
        "vpcs": [{"id": "vpc-a", "vswitches": [{"id": "vsw-a", "zone": "cn-hangzhou-h",
                                                "cidr": "127.0.0.0/8"}]}],
        "security_groups": [{"id": "sg-a", "vpc": "vpc-a"}],
        "instances": [{"id": f"i-{i:05d}", "vswitch": "vsw-a", "status": "Running",
                       "type": "ecs.g7.large", "primary_ip": member_ip(i), "max_enis": 3,
                       "max_ips_per_eni": 10, "hotplug": True} for i in range(2 * n)],
        "network_interfaces": [
            {"id": f"eni-{g:05d}", "vswitch": "vsw-a", "security_groups": ["sg-a"],
             "primary_ip": _eni_ip(g, 0), "secondary_ips": [_eni_ip(g, 1)],
             "mac": f"00:16:3e:{g // 65536:02x}:{g // 256 % 256:02x}:{g % 256:02x}",
             "instance": f"i-{2 * g:05d}"}
            for g in range(n)],
        "timing": {"attach_s": 0.5, "detach_s": 0.5, "command_s": 0.3},
    }


def served_ips(g: int) -> tuple[str, str, str]:
    """Group g's two members' addresses and its service IP."""
    return member_ip(2 * g), member_ip(2 * g + 1), _eni_ip(g, 1)


def is_http(spec: ScaleSpec, g: int) -> bool:
    return spec.http_every > 0 and g % spec.http_every == spec.http_every - 1


def config(spec: ScaleSpec, *, zk_hosts: str, root: str, endpoint: str, tcp_port: int,
           http_port: int) -> dict[str, Any]:
    def check(g: int) -> dict[str, Any]:
        if is_http(spec, g):
            return {"type": "http", "url": f"http://{{ip}}:{http_port}/health"}
        return {"type": "tcp", "port": tcp_port}

    return {
        "controller": dict(spec.extra_controller),
        "zookeeper": {"hosts": zk_hosts, "root": root},
        "cloud": {"region": "cn-hangzhou", "endpoint": endpoint, "protocol": "http",
                  "api_rate_per_s": spec.api_rate_per_s, "api_burst": spec.api_rate_per_s,
                  "credentials": {"access_key_id_env": "ALIBABA_CLOUD_ACCESS_KEY_ID",
                                  "access_key_secret_env": "ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
                  **spec.extra_cloud},
        "defaults": {
            "health": {"interval_s": spec.interval_s, "timeout_s": spec.timeout_s},
            "policy": {"readiness_interval_s": spec.readiness_interval_s},
            "guest": {"persist": False},
        },
        "groups": [{"name": f"g{g:05d}", "network_interface": f"eni-{g:05d}",
                    "members": [f"i-{2 * g:05d}", f"i-{2 * g + 1:05d}"],
                    "service_ips": [_eni_ip(g, 1)], "checks": [check(g)]}
                   for g in range(spec.groups)],
    }


# ------------------------------------------------------------------ measuring
# (reading a run from outside: harness/scale_measure.py)


def routine_share_per_s(spec: ScaleSpec) -> dict[str, float]:
    """What each replica's budget allows per second of routine calls, by shared action."""
    budget = ApiBudget(spec.api_rate_per_s, spec.api_rate_per_s, 0.3,
                       clock=SystemClock())
    budget.set_replicas(spec.replicas)
    return {a: round(budget.routine_rate(a), 2) for a in sorted(SHARED)}


# ------------------------------------------------------------------- running


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    zxid: int
    calls: dict[str, Counter[tuple[str, ...]]]
    lags: dict[str, dict[float, float]]
    samples: dict[str, list[tuple[str, dict[str, str], float]]]


class ScaleSystem:
    def __init__(self, workdir: Path, zk: ZkCluster, spec: ScaleSpec, root: str = "/scale") -> None:
        self.workdir, self.zk, self.spec, self.root = workdir, zk, spec, root
        self.sim: SimServer | None = None
        self.endpoints: subprocess.Popen[str] | None = None
        self.fleet: Fleet | None = None

    def __enter__(self) -> ScaleSystem:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        spec = self.spec
        self.workdir.mkdir(parents=True, exist_ok=True)
        tcp_port, http_port = free_port(), free_port()
        # Each member's own address, and each group's service IP: the holder serves it, and
        # every replica probes it each round (the serving signal). Nothing moves in this
        # benchmark, so the endpoint server answers for the holder.
        tcp = [ip for g in range(spec.groups) if not is_http(spec, g) for ip in served_ips(g)]
        http = [ip for g in range(spec.groups) if is_http(spec, g) for ip in served_ips(g)]
        self.endpoints = subprocess.Popen(
            [sys.executable, "-m", "harness.endpoints", "--tcp-port", str(tcp_port),
             "--http-port", str(http_port), "--lifetime-s", str(int(spec.seconds + spec.up_timeout_s + 300)),
             # one process per replica probing, up to the cores: one for all fell behind at 3
             "--workers", str(max(1, min(spec.replicas, os.cpu_count() or 1))),
             "--down-file", str(self.workdir / "down.json")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            start_new_session=True)  # its workers are one process group: `down` signals them all
        assert self.endpoints.stdin is not None and self.endpoints.stdout is not None
        self.endpoints.stdin.write(json.dumps({"tcp": tcp, "http": http}) + "\n")
        self.endpoints.stdin.flush()
        if self.endpoints.stdout.readline().strip() != "ready":
            raise RuntimeError("the endpoint server did not start")
        self.sim = SimServer.from_world(world(spec))
        if spec.account_qps:
            self.sim.control.qps("*", spec.account_qps)
        doc = config(spec, zk_hosts=self.zk.hosts, root=self.root, endpoint=self.sim.endpoint,
                     tcp_port=tcp_port, http_port=http_port)
        cfg = self.workdir / "config.yaml"
        cfg.write_text(yaml.safe_dump(doc))
        env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": AK,
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
               "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
        self.fleet = Fleet(cfg, self.workdir, env)

    def close(self) -> None:
        if self.fleet is not None:
            self.fleet.stop_all()
        if self.sim is not None:
            self.sim.stop()
        if self.endpoints is not None:
            self.endpoints.kill()
            self.endpoints.wait(10)

    def down(self, ips: list[str]) -> None:
        """These addresses stop answering (connections refused), as machines that died."""
        assert self.endpoints is not None
        (self.workdir / "down.json").write_text(json.dumps(ips))
        os.killpg(self.endpoints.pid, signal.SIGUSR1)

    @property
    def f(self) -> Fleet:
        assert self.fleet is not None
        return self.fleet

    def snapshot(self) -> Snapshot:
        samples = {cid: scrape(r) for cid, r in self.f.replicas.items()}
        return Snapshot(
            at=time.monotonic(),
            cpu={cid: cpu_s(r.proc.pid) for cid, r in self.f.replicas.items()},
            zxid=zxid(self.zk),
            calls={cid: counter_by(s, "failover_cloud_api_calls_total", "action", "code")
                   for cid, s in samples.items()},
            lags={cid: lag_buckets(s) for cid, s in samples.items()},
            samples=samples,
        )

    def holders_moved(self) -> int:
        """ENIs no longer on their first member: failovers the cloud shows (none expected)."""
        assert self.sim is not None
        state = self.sim.control.state()
        return sum(1 for e in state["enis"]
                   if e["id"][4:].isdigit() and e.get("instance") != f"i-{2 * int(e['id'][4:]):05d}")


def _phase(a: Snapshot, b: Snapshot, spec: ScaleSpec) -> dict[str, Any]:
    wall = max(1e-9, b.at - a.at)
    per_replica: dict[str, Any] = {}
    for cid in b.cpu:
        calls = b.calls[cid] - a.calls.get(cid, Counter())
        by_action: Counter[str] = Counter()
        throttled = 0
        for (action, code), n in calls.items():
            by_action[action] += n
            if is_throttled(code):
                throttled += n
        lag = {le: v - a.lags.get(cid, {}).get(le, 0.0) for le, v in b.lags[cid].items()}
        failures = (counter_by(b.samples[cid], "failover_probe_failures_total", "check", "reason")
                    - counter_by(a.samples.get(cid, []), "failover_probe_failures_total",
                                 "check", "reason"))
        p50, p99 = quantile(lag, 0.5), quantile(lag, 0.99)
        per_replica[cid] = {
            "cpu_share_of_one_core": round((b.cpu[cid] - a.cpu.get(cid, 0.0)) / wall, 4),
            "api_calls_per_s": {k: round(v / wall, 2) for k, v in sorted(by_action.items())},
            "api_calls_by_code": {f"{k[0]} {k[1]}": v for k, v in sorted(calls.items()) if v},
            "throttled_calls": throttled,
            "probe_lag_ms_from_buckets": {
                "p50": None if p50 is None else round(1000 * p50, 1),
                "p99": None if p99 is None else round(1000 * p99, 1)},
            "probes": int(max(lag.values(), default=0)),
            "probe_failures": {f"{k[0]} {k[1]}": v for k, v in sorted(failures.items()) if v},
        }
    return {"seconds": round(wall, 1), "zookeeper_writes_per_s": round((b.zxid - a.zxid) / wall, 2),
            "replicas": per_replica}


def run_scale(system: ScaleSystem, progress: Progress = lambda _m: None) -> dict[str, Any]:
    spec = system.spec
    want = 2 * spec.groups
    t0 = time.monotonic()
    start = Snapshot(t0, {}, zxid(system.zk), {}, {}, {})
    for k in range(spec.replicas):
        system.f.start(f"ctl-{chr(ord('a') + k)}")
    up_at: dict[str, float] = {}
    judged_at: dict[str, float] = {}
    seen: dict[str, int] = {}
    last = 0.0
    done = up_at if spec.wait_for_up else judged_at
    while len(done) < spec.replicas and time.monotonic() - t0 < spec.up_timeout_s:
        time.sleep(0.25)
        for cid, r in system.f.replicas.items():
            if cid in up_at:
                continue
            if r.proc.poll() is not None:
                raise RuntimeError(f"replica {cid} exited: {r.log.read_text()[-2000:]}")
            samples = scrape(r, "failover_health_up")
            seen[cid] = members_up(samples)
            now = round(time.monotonic() - t0, 2)
            if cid not in judged_at and members_judged(samples) >= want:
                judged_at[cid] = now
            if seen[cid] >= want:
                up_at[cid] = now
        if time.monotonic() - last > 5:
            last = time.monotonic()
            progress(f"start-up: members up per replica {seen} of {want}")
    startup = system.snapshot()
    progress(f"every member up on {len(up_at)}/{spec.replicas} replicas, judged on "
             f"{len(judged_at)}; steady for {spec.seconds:g} s")
    time.sleep(min(5.0, spec.seconds / 4))  # start-up's last reads settle
    steady0 = system.snapshot()
    end_at = time.monotonic() + spec.seconds
    while time.monotonic() < end_at:
        time.sleep(min(10.0, max(0.0, end_at - time.monotonic())))
        progress(f"steady: {round(end_at - time.monotonic())} s left")
    steady1 = system.snapshot()
    down_at_end = {cid: want - members_up(s) for cid, s in steady1.samples.items()}
    # Finished ones, and those still running at the last scrape (the cloud's word, ENIs
    # moved, is below).
    failovers = sum(sum(counter_by(s, "failover_failovers_total", "result").values())
                    + sum(int(v) for n, _l, v in s if n == "failover_in_progress")
                    for s in steady1.samples.values())
    missed = {cid: int(sum(v for n, _l, v in s if n == "failover_health_rounds_missed_total"))
              for cid, s in steady1.samples.items()}
    return {
        "spec": asdict(spec),
        "every_member_up_s": {cid: up_at.get(cid) for cid in system.f.replicas},
        "every_member_judged_s": {cid: judged_at.get(cid) for cid in system.f.replicas},
        "converged": len(done) == spec.replicas,
        "members_up_when_start_up_ended": seen,
        "startup": _phase(start, startup, spec),
        "steady": _phase(steady0, steady1, spec),
        "members_not_up_at_end": down_at_end,
        "rounds_missed": missed,
        "failovers": failovers,
        "enis_moved": system.holders_moved(),
        "routine_share_per_s_per_replica": routine_share_per_s(spec),
        "rss_mib": {cid: rss_mib(r.proc.pid) for cid, r in system.f.replicas.items()},
    }
