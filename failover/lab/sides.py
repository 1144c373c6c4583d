"""The two contenders of the bench behind one interface: inject a failure, restore, who holds.

Failure modes, applied the same way to both:
- crash: every process of the instance dies (SIGKILL) and its interfaces go down; for the
  controller's side the emulator also learns the guest crashed (its agent is gone).
- hang: the service stops answering (SIGSTOP), interfaces stay up, the kernel still accepts.
- stop: a graceful shutdown: processes get SIGTERM (keepalived sends its priority-0 advert),
  then the interfaces go down; the emulator sees the instance stopped. With pre-staged guest
  configuration, the staged unit's stop runs at the same moment, as systemd stops every unit
  of a shutting-down system at once (its stop hook sends the graceful stop notice, if staged).
- partition: one controller loses its path to the primary (a blackhole route in that
  controller's namespace only); the other still sees it, so a majority never agrees: no
  failover is the right outcome. keepalived has no outside observers: not applicable.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Protocol

from failover.lab import netns, topology
from failover.lab.hooks import CRASHED_DIR, GUESTS_DIR, STAGE_DIR
from failover.lab.keepalived import KeepalivedPair
from failover.lab.runtime import PY, Lab
from failover.lab.spec import PREFIXLEN, Member

MODES = ("crash", "hang", "stop", "partition")


class Side(Protocol):
    name: str
    members: tuple[Member, ...]
    address: str  # what the client calls

    def modes(self) -> tuple[str, ...]: ...
    def holder(self) -> str | None: ...
    def inject(self, mode: str, instance_id: str) -> None: ...
    def restore(self, mode: str, instance_id: str) -> None: ...
    def wait_ready(self, timeout_s: float = 30.0) -> str: ...
    def recover(self) -> None: ...


def _links_down(ns: str) -> None:
    out = netns.ip(ns, "-o", "link", "show", check=False)
    for line in out.splitlines():
        dev = line.split(":")[1].strip().split("@")[0]
        if dev != "lo":
            netns.ip(ns, "link", "set", "dev", dev, "down", check=False)


def _signal_all(ns: str, sig: int) -> list[int]:
    pids = netns.netns_pids(ns)
    for pid in pids:
        netns.signal_pid(pid, sig)
    return pids


def _crash_all(ns: str) -> None:
    """Every process of the namespace dies at once, as in a crash: frozen first, then killed.

    Killed one by one, keepalived's VRRP child outlived its parent by a few microseconds and
    its parent-death signal (SIGTERM) made it shut down gracefully: a priority-0 advert and a
    "STOP" in its notify log, so its peer took over at once (a "crash" RTO of 0.15 s at
    advert_int 0.2, in a smoke run). A stopped process runs no handler before the SIGKILL.
    """
    pids = _signal_all(ns, signal.SIGSTOP)
    for pid in pids:
        netns.signal_pid(pid, signal.SIGKILL)
    _signal_all(ns, signal.SIGKILL)  # anything forked meanwhile


def _wait_gone(pids: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(netns.alive(p) for p in pids):
        time.sleep(0.02)
    netns.stop_pids([p for p in pids if netns.alive(p)], grace_s=0.5)


class FailoverSide:
    name = "failover"

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.spec = lab.spec
        self.members = lab.spec.members
        self.address = lab.spec.eni.service_ip
        self._background: list[subprocess.Popen[bytes]] = []

    def modes(self) -> tuple[str, ...]:
        return MODES

    def holder(self) -> str | None:
        return self.lab.holder()

    def _sim_later(self, path: str) -> None:
        """The emulator learns of the failure without delaying it (the kernel side came first)."""
        argv = netns.in_ns(self.spec.control_ns, [
            PY, "-c",
            "import sys,urllib.request as u;"
            "u.build_opener(u.ProxyHandler({})).open(u.Request(sys.argv[1],data=b'{}',method='POST'),timeout=5)",
            f"http://{self.spec.sim_endpoint}/_sim/{path}",
        ])
        self._background.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def inject(self, mode: str, instance_id: str) -> None:
        m = self.spec.member(instance_id)
        ns = self.spec.ns(m.role)
        if mode == "crash":
            _crash_all(ns)
            _links_down(ns)
            (self.lab.dir / CRASHED_DIR).mkdir(exist_ok=True)
            (self.lab.dir / CRASHED_DIR / instance_id).touch()
            self._sim_later(f"instances/{instance_id}/crash")
        elif mode == "hang":
            _signal_all(ns, signal.SIGSTOP)
        elif mode == "stop":
            pids = netns.netns_pids(ns)  # before the unit's stop starts: it is not SIGTERMed
            unit = self._unit_stop(instance_id, ns)
            for pid in pids:
                netns.signal_pid(pid, signal.SIGTERM)
            _wait_gone(pids, 2.0)
            if unit is not None:
                unit.wait(10)
            _links_down(ns)
            self._sim_later(f"instances/{instance_id}/stop")
        elif mode == "partition":
            c = self.spec.controllers[0]
            netns.ip(self.spec.ns(c.role), "route", "add", "blackhole", f"{m.ip}/32")
        else:
            raise ValueError(f"unknown failure mode {mode!r}")

    def _unit_stop(self, instance_id: str, ns: str) -> subprocess.Popen[bytes] | None:
        """systemd stopping the staged unit of the ENI on a shutting-down instance (None when
        the lab's guest configuration is not pre-staged or nothing is staged there)."""
        root = self.lab.dir / GUESTS_DIR / instance_id
        trigger = root / STAGE_DIR / f"eni-{self.spec.eni.mac.lower().replace(':', '')}" / "trigger.sh"
        if not self.lab.guest.get("prestage") or not trigger.exists():
            return None
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "FAILOVER_STAGE_ROOT": str(root),
               "FAILOVER_SYSTEM_STOPPING": "1"}
        return subprocess.Popen(netns.in_ns(ns, ["/bin/sh", str(trigger), "stop"]), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def restore(self, mode: str, instance_id: str) -> None:
        m = self.spec.member(instance_id)
        ns = self.spec.ns(m.role)
        for p in self._background:
            p.wait(10)
        self._background.clear()
        if mode in ("crash", "stop"):
            if mode == "crash":
                self.lab.sim(f"instances/{instance_id}/stop", {})
                (self.lab.dir / CRASHED_DIR / instance_id).unlink(missing_ok=True)
            self.lab.sim(f"instances/{instance_id}/start", {})
            topology.member_link(self.spec, m, up=True)
            self.lab.start_service(m)
        elif mode == "hang":
            _signal_all(ns, signal.SIGCONT)
        elif mode == "partition":
            c = self.spec.controllers[0]
            netns.ip(self.spec.ns(c.role), "route", "del", "blackhole", f"{m.ip}/32", check=False)

    def recover(self) -> None:
        """After a broken trial: every member running, reachable and unpartitioned again."""
        for m in self.members:
            self.restore("partition", m.instance_id)
            _signal_all(self.spec.ns(m.role), signal.SIGCONT)
            (self.lab.dir / CRASHED_DIR / m.instance_id).unlink(missing_ok=True)
            if self.lab.pid(f"service-{m.instance_id}") is None:
                self.lab.sim(f"instances/{m.instance_id}/start", {})
                topology.member_link(self.spec, m, up=True)
                self.lab.start_service(m)
        self.wait_ready(60.0)

    def wait_ready(self, timeout_s: float = 30.0) -> str:
        """Both members up in every controller's eyes, the ENI held: the next trial may start."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            st = self.lab.cli_json("status")
            last = st
            if isinstance(st, dict) and st.get("leader"):
                groups = st.get("groups") or [{}]
                g = groups[0]
                members = g.get("members") or []
                holder = self.holder()
                ok = holder and g.get("holder") == holder and len(members) == len(self.members) and all(
                    mm.get("up") and all(mm.get("votes", {}).values()) for mm in members)
                if ok and holder:
                    return holder
            time.sleep(0.3)
        raise netns.LabError(f"the controllers did not see a healthy group within {timeout_s:g}s: {last}")


class KeepalivedSide:
    name = "keepalived"

    def __init__(self, lab: Lab, pair: KeepalivedPair) -> None:
        self.lab = lab
        self.spec = lab.spec
        self.pair = pair
        self.members = lab.spec.vrrp
        self.address = lab.spec.vip

    def modes(self) -> tuple[str, ...]:
        return ("crash", "hang", "stop")

    def holder(self) -> str | None:
        return self.pair.master()

    def start(self) -> str:
        for m in self.members:
            self.lab.start_service(m, service_ip=self.spec.vip)
            self.pair.start(m)
        return self.wait_ready()

    def inject(self, mode: str, instance_id: str) -> None:
        ns = self.spec.ns(self.spec.member(instance_id).role)
        if mode == "crash":
            _crash_all(ns)
            _links_down(ns)
        elif mode == "hang":
            svc = self.lab.pid(f"service-{instance_id}")
            if svc:
                netns.signal_pid(svc, signal.SIGSTOP)
        elif mode == "stop":
            _wait_gone(_signal_all(ns, signal.SIGTERM), 3.0)
            _links_down(ns)
        else:
            raise ValueError(f"keepalived: failure mode {mode!r} does not apply")

    def restore(self, mode: str, instance_id: str) -> None:
        m = self.spec.member(instance_id)
        ns = self.spec.ns(m.role)
        if mode == "hang":
            _signal_all(ns, signal.SIGCONT)
            return
        _wait_gone(netns.netns_pids(ns), 1.0)
        # a killed keepalived leaves its VIP behind: never bring it back on the wire
        netns.ip(ns, "addr", "del", f"{self.spec.vip}/{PREFIXLEN}", "dev", "eth0", check=False)
        topology.member_link(self.spec, m, up=True)
        self.lab.start_service(m, service_ip=self.spec.vip)
        self.pair.start(m)

    def recover(self) -> None:
        """After a broken trial (say two masters): both peers restarted from scratch."""
        for m in self.members:
            ns = self.spec.ns(m.role)
            _wait_gone(_signal_all(ns, signal.SIGKILL), 1.0)
            netns.ip(ns, "addr", "del", f"{self.spec.vip}/{PREFIXLEN}", "dev", "eth0", check=False)
            topology.member_link(self.spec, m, up=True)
        self.start()

    def wait_ready(self, timeout_s: float = 30.0) -> str:
        return self.pair.wait_settled(timeout_s)
