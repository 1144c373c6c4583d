"""A whole system for chaos trials: emulator, ZooKeeper, three replica processes, loopback services.

    with ChaosSystem(workdir, zk, "/chaos/t1", Spec(groups=1)) as system:
        system.fail(system.holder_of(system.groups[0]))      # its service stops answering
        system.wait_records(system.groups[0], 1)

One group is `web` on `eni-svc` (i-primary -> i-standby); N groups are
`g000`.. on `eni-000`.., ten per pair `i-aK` (holder) / `i-bK` (standby) (a zone
outage is failing every `i-a*`). Every instance and service IP is a 127.x address
with a TCP listener (`harness/listeners.py`). The journal is read
straight from ZooKeeper with kazoo, which is much faster than a CLI process.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

from harness.listeners import Listeners
from harness.replicas import Fleet
from harness.sim import AK, SECRET, SimServer
from harness.waiting import wait_for
from harness.zk import ZkCluster, free_port

CONTROLLERS = ("ctl-a", "ctl-b", "ctl-c")


@dataclass
class Spec:
    groups: int = 1
    timing: dict[str, float] = field(default_factory=lambda: {"attach_s": 0.5, "detach_s": 0.5,
                                                              "command_s": 0.3})
    policy: dict[str, Any] = field(default_factory=dict)
    cloud: dict[str, Any] = field(default_factory=dict)
    controller: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    guest: dict[str, Any] = field(default_factory=dict)  # over defaults.guest
    session_timeout_s: float = 2.0


@dataclass(frozen=True)
class Group:
    name: str
    eni: str
    members: tuple[str, ...]
    service_ip: str


def _ip(block: int, k: int) -> str:
    return f"127.0.{block + k // 200}.{10 + k % 200}"


PER_PAIR = 10  # ENIs per instance pair: real types hold 3 to 15, the emulator at most 63


def layout(n: int) -> tuple[list[Group], dict[str, str]]:
    """The groups and each instance's primary IP."""
    if n == 1:
        return ([Group("web", "eni-svc", ("i-primary", "i-standby"), _ip(3, 0))],
                {"i-primary": "127.0.0.10", "i-standby": "127.0.0.11"})
    pairs = (n + PER_PAIR - 1) // PER_PAIR
    groups = [Group(f"g{k:03d}", f"eni-{k:03d}", (f"i-a{k // PER_PAIR}", f"i-b{k // PER_PAIR}"), _ip(3, k))
              for k in range(n)]
    ips = {f"i-{side}{p}": _ip(0, 2 * p + (side == "b")) for p in range(pairs) for side in "ab"}
    return groups, ips


def replica_key(cid: str) -> tuple[str, str]:
    """Each replica's own access key, so the emulator's log tells whose call it was."""
    return f"{AK}-{cid}", f"{SECRET}-{cid}"


def chaos_world(groups: list[Group], instances: dict[str, str], timing: dict[str, Any]) -> dict[str, Any]:
    slots = min(len(groups), PER_PAIR) + 2  # each instance's own primary ENI counts too
    keys = {AK: SECRET, **dict(replica_key(c) for c in CONTROLLERS)}
    return {
        "region": "cn-hangzhou", "seed": 11, "access_keys": keys,
        "vpcs": [{"id": "vpc-a", "vswitches": [{"id": "vsw-a", "zone": "cn-hangzhou-h",
                                                "cidr": "127.0.0.0/16"}]}],
        "security_groups": [{"id": "sg-a", "vpc": "vpc-a"}],
        "instances": [{"id": i, "vswitch": "vsw-a", "status": "Running", "type": "ecs.g7.big",
                       "primary_ip": ip, "max_enis": slots, "max_ips_per_eni": 10, "hotplug": True}
                      for i, ip in instances.items()],
        "network_interfaces": [
            {"id": g.eni, "vswitch": "vsw-a", "security_groups": ["sg-a"], "primary_ip": _ip(1, k),
             "secondary_ips": [g.service_ip], "mac": f"00:16:3e:01:{k // 256:02x}:{k % 256:02x}",
             "instance": g.members[0]}
            for k, g in enumerate(groups)],
        "timing": trial_timing(timing),
    }


# FAILOVER_TRIAL_PROFILE=realistic runs the trials against the emulator's realistic profile at
# 10x speed (medians 0.5 s / 0.4 s like the fixed 0.5 s steps, with their tails, describe lag,
# hidden InstanceIds, stuck detaches, failed attaches and crash stalls on by default).
REALISTIC_TRIALS = {"profile": "realistic", "time_scale": 0.1, "seed": 11}


DETACH_TIMEOUT_S = 10  # the trials' policy unless a Spec sets its own


def trial_timing(timing: dict[str, Any]) -> dict[str, Any]:
    if os.environ.get("FAILOVER_TRIAL_PROFILE") != "realistic":
        return dict(timing)
    kept = {k: v for k, v in timing.items() if k not in ("attach_s", "detach_s", "profile")}
    return {**REALISTIC_TRIALS, **kept}


def chaos_config(spec: Spec, groups: list[Group], *, zk_hosts: str, root: str, endpoint: str,
                 port: int) -> dict[str, Any]:
    return {
        "controller": {"tick_s": 0.05, **spec.controller},
        "zookeeper": {"hosts": zk_hosts, "root": root, "session_timeout_s": spec.session_timeout_s,
                      "connect_timeout_s": 5},
        "cloud": {"region": "cn-hangzhou", "endpoint": endpoint, "protocol": "http",
                  "credentials": {"access_key_id_env": "ALIBABA_CLOUD_ACCESS_KEY_ID",
                                  "access_key_secret_env": "ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
                  **spec.cloud},
        "defaults": {
            "health": {"interval_s": 0.2, "timeout_s": 0.15, "fall": 2, "rise": 1, **spec.health},
            "policy": {"cooldown_s": 0, "flap_max_failovers": 1000, "detach_timeout_s": DETACH_TIMEOUT_S,
                       "attach_timeout_s": 10, "guest_timeout_s": 10, "verify_timeout_s": 5,
                       **spec.policy},
            "guest": {"method": "cloud_assistant", "persist": False, **spec.guest},
        },
        "groups": [{"name": g.name, "network_interface": g.eni, "members": list(g.members),
                    "service_ips": [g.service_ip], "checks": [{"type": "tcp", "port": port}]}
                   for g in groups],
    }


def journal_records(kz: KazooClient, root: str, group: str) -> list[dict[str, Any]]:
    """A group's journal records in ZooKeeper, oldest first; garbage ones are left out."""
    base = f"{root}/journal/{group}"
    try:
        names = kz.get_children(base)
    except NoNodeError:
        return []
    out = []
    for n in names:
        try:
            out.append(json.loads(kz.get(f"{base}/{n}")[0]))
        except (NoNodeError, ValueError):
            continue
    return sorted(out, key=lambda r: r["started_at"])


class ChaosSystem:
    """Starts everything in `__enter__` and stops everything in `__exit__`, however a trial ends."""

    def __init__(self, workdir: Path, zk: ZkCluster, root: str, spec: Spec | None = None) -> None:
        self.workdir = workdir
        self.zk = zk
        self.root = root
        self.spec = spec or Spec()
        self.groups, self.ips = layout(self.spec.groups)
        self.listeners: Listeners | None = None
        self.sim: SimServer | None = None
        self.fleet: Fleet | None = None
        self.kz: KazooClient | None = None

    # -------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.listeners = Listeners(port)
        self.listeners.up(*self.ips.values(), *(g.service_ip for g in self.groups))
        self.sim = SimServer.from_world(chaos_world(self.groups, self.ips, self.spec.timing))
        doc = chaos_config(self.spec, self.groups, zk_hosts=self.zk.hosts, root=self.root,
                           endpoint=self.sim.endpoint, port=port)
        cfg = self.workdir / "config.yaml"
        cfg.write_text(yaml.safe_dump(doc))
        env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": AK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
               "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
        self.fleet = Fleet(cfg, self.workdir, env, env_of={
            c: dict(zip(("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
                        replica_key(c), strict=True)) for c in CONTROLLERS})
        self.kz = KazooClient(hosts=self.zk.hosts, timeout=5.0)
        self.kz.start(timeout=15)
        for cid in CONTROLLERS:
            self.fleet.start(cid)
        self.wait_steady(60)

    def close(self) -> None:
        if self.fleet is not None:
            self.fleet.stop_all()
        if self.kz is not None:
            try:
                self.kz.stop()
                self.kz.close()
            except Exception:
                pass
        if self.sim is not None:
            self.sim.stop()
        if self.listeners is not None:
            self.listeners.close()

    # ----------------------------------------------------------------- health

    def fail(self, instance: str) -> None:
        assert self.listeners is not None
        self.listeners.down(self.ips[instance])

    def heal(self, instance: str) -> None:
        assert self.listeners is not None
        self.listeners.up(self.ips[instance])

    # ------------------------------------------------------------------ views

    @property
    def f(self) -> Fleet:
        assert self.fleet is not None
        return self.fleet

    @property
    def s(self) -> SimServer:
        assert self.sim is not None
        return self.sim

    def holder_of(self, g: Group) -> str | None:
        eni = self.s.control.eni(g.eni)
        return str(eni["instance"]) if eni["status"] == "InUse" else None

    def holders(self) -> dict[str, tuple[str, str | None]]:
        return {e["id"]: (e["status"], e.get("instance")) for e in self.s.control.state()["enis"]}

    def other(self, g: Group, instance: str) -> str:
        return g.members[1] if instance == g.members[0] else g.members[0]

    def last_seq(self) -> int:
        return int(self.s.control.request("GET", "/events?since=0")["last"])

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        return self.s.control.events(since)

    def records(self, group: str) -> list[dict[str, Any]]:
        """The group's journal records, oldest first; garbage ones are left out."""
        assert self.kz is not None
        return journal_records(self.kz, self.root, group)

    def records_or_none(self, group: str) -> list[dict[str, Any]] | None:
        try:
            return self.records(group)
        except KazooException:
            return None  # ZooKeeper is down or the client is reconnecting

    def running_ids(self) -> list[str]:
        assert self.kz is not None
        try:
            return list(self.kz.get_children(f"{self.root}/journal-running"))
        except NoNodeError:
            return []

    def group_state(self, group: str) -> dict[str, Any] | None:
        assert self.kz is not None
        try:
            return dict(json.loads(self.kz.get(f"{self.root}/groups/{group}")[0]))
        except (NoNodeError, ValueError):
            return None

    def wait_released(self, group: str, timeout: float = 60) -> None:
        """Until no former holder waits for its release script."""
        wait_for(lambda: not ((self.group_state(group) or {}).get("pending_release")), timeout,
                 f"{group}: former holders released", self.diag)

    def leader_status(self) -> dict[str, Any] | None:
        leader = self.f.leader()
        return leader.status() if leader is not None else None

    # ------------------------------------------------------------------ waits

    def steady(self) -> bool:
        """A leader, three controllers, every group held and every member up by quorum."""
        st = self.leader_status()
        if not st or len(st.get("controllers", [])) != len(CONTROLLERS):
            return False
        return all(g["holder"] is not None and g["state"] == "healthy"
                   and all(m["up"] is True for m in g["members"]) for g in st["groups"])

    def wait_steady(self, timeout: float) -> None:
        wait_for(self.steady, timeout, "a steady system (leader, 3 controllers, all members up)",
                 self.diag)

    def wait_records(self, group: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """Until `count` records exist and every one is finished; returns them."""
        def done() -> list[dict[str, Any]] | None:
            recs = self.records_or_none(group)
            if recs is None or len(recs) < count or any(r["result"] == "running" for r in recs):
                return None
            return recs
        result: list[dict[str, Any]] = wait_for(done, timeout, f"{count} finished failovers of {group}",
                                                self.diag)
        return result

    def wait_running(self, group: str, known: set[str], timeout: float = 30) -> dict[str, Any]:
        """The first record of `group` not in `known` (a failover just begun)."""
        def fresh() -> dict[str, Any] | None:
            recs = self.records_or_none(group) or []
            new = [r for r in recs if r["id"] not in known]
            return new[0] if new else None
        rec: dict[str, Any] = wait_for(fresh, timeout, f"a new failover of {group}", self.diag)
        return rec

    def diag(self) -> str:
        parts = [self.f.logs() if self.fleet is not None else ""]
        if self.sim is not None:
            try:
                parts.append(f"holders: {self.holders()}")
            except Exception as e:
                parts.append(f"sim unreadable: {e}")
        return "\n".join(parts)


def pause(seconds: float) -> None:
    time.sleep(max(0.0, seconds))
