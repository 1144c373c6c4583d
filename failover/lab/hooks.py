"""The emulator's hooks for the lab: attach, detach and Cloud Assistant made real in the kernel.

Loaded by `failover sim ecs --hooks failover.lab.hooks:from_env` inside the control namespace;
the lab passes its prefix in `FAILOVER_LAB_PREFIX`. The ENI is a veth whose inner end (with
the ENI's MAC) moves between namespaces: attach moves it into the instance, detach parks it in
the VPC namespace. A move drops the interface's addresses and routes but not the instance's
`ip rule`s, so detach removes the rules of the ENI's IPs (as the guest would lose them with
the interface). `RunCommand` runs the script inside the instance's namespace, runtime state
only (`FAILOVER_PERSIST=0`): `ip netns exec` shares the host's files, which a lab never writes.
A stage script (pre-staged guest configuration) installs under the instance's own directory,
`run_dir/guests/<instance>` (`FAILOVER_STAGE_ROOT`), and `hotplug` (the emulator calls it when
the NIC has "appeared", its drawn hot-plug time after InUse) runs the staged trigger from there
inside the instance's namespace, as udev and systemd would.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

from failover.lab import netns
from failover.lab.spec import LabSpec
from failover.lab.topology import GUEST_TABLE

CRASHED_DIR = "crashed"  # run_dir/crashed/<instance>: a crashed guest runs no command
GUESTS_DIR = "guests"  # run_dir/guests/<instance>: that instance's own disk (pre-staged files)
STAGE_DIR = "usr/local/lib/failover"  # failover/guest/prestage.py's, under the instance's disk
# run_dir/old-guest-routes: guest scripts run with FAILOVER_OLD_ROUTES=1 (the earlier metric-0
# prefix route via the ENI in main), for the stability part's "before"
OLD_ROUTES_FLAG = "old-guest-routes"


class LabHooks:
    def __init__(self, spec: LabSpec) -> None:
        self.spec = spec
        self.run_dir = Path(spec.run_dir)
        self._lock = threading.Lock()  # attach and detach never interleave their moves
        self._seq = itertools.count(1)

    # -- where the ENI is

    def _find(self, mac: str) -> tuple[str, str] | None:
        """(namespace, device) holding the interface with `mac`, among the lab's namespaces."""
        mac = mac.lower()
        for ns in [self.spec.vpc_ns, *(self.spec.ns(m.role) for m in self.spec.members)]:
            out = netns.ip(ns, "-o", "link", "show", check=False)
            for line in out.splitlines():
                if f"link/ether {mac} " in line.lower():
                    return ns, line.split(":")[1].strip().split("@")[0]
        return None

    def _mac(self, eni_id: str) -> str:
        if eni_id != self.spec.eni.eni_id:
            raise RuntimeError(f"the lab has no ENI {eni_id}")
        return self.spec.eni.mac

    # -- the Hooks protocol

    def on_attach(self, eni_id: str, mac: str, instance_id: str) -> None:
        target = self.spec.instance_ns(instance_id)
        with self._lock:
            where = self._find(mac or self._mac(eni_id))
            if where is None:
                raise RuntimeError(f"no interface with MAC {mac} in the lab")
            src, dev = where
            if src != target:
                netns.ip(src, "link", "set", "dev", dev, "down")
                netns.ip(src, "link", "set", "dev", dev, "netns", target)
            netns.ip(target, "link", "set", "dev", dev, "up")
        _log(f"attach {eni_id} ({mac}) -> {instance_id} [{src} -> {target}]")

    def on_detach(self, eni_id: str, instance_id: str) -> None:
        mac = self._mac(eni_id)
        with self._lock:
            where = self._find(mac)
            if where is None or where[0] == self.spec.vpc_ns:
                return  # already parked: detach is idempotent
            src, dev = where
            for ip in self.spec.eni.ips:
                for _ in range(8):  # one rule per priority; a few at most
                    if not self._has_rule(src, ip):
                        break
                    netns.ip(src, "rule", "del", "from", ip, check=False)
            netns.ip(src, "route", "flush", "table", str(GUEST_TABLE), check=False)
            netns.ip(src, "link", "set", "dev", dev, "down")
            netns.ip(src, "link", "set", "dev", dev, "netns", self.spec.vpc_ns)
        _log(f"detach {eni_id} from {instance_id} [{src} -> parked]")

    @staticmethod
    def _has_rule(ns: str, ip: str) -> bool:
        return f"from {ip} " in netns.ip(ns, "rule", "show", check=False)

    def run_command(self, instance_id: str, script: str, timeout_s: float) -> tuple[int, str]:
        if (self.run_dir / CRASHED_DIR / instance_id).exists():
            raise RuntimeError(f"{instance_id} is down: its Cloud Assistant agent does not answer")
        cmd_dir = self.run_dir / "commands"
        cmd_dir.mkdir(exist_ok=True)
        path = cmd_dir / f"{instance_id}-{next(self._seq)}.sh"
        path.write_text(script)
        return self._run(instance_id, ["/bin/sh", str(path)], timeout_s, "run_command")

    def _env(self, instance_id: str) -> dict[str, str]:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "FAILOVER_PERSIST": "0", "LANG": "C",
               "FAILOVER_STAGE_ROOT": str(self.run_dir / GUESTS_DIR / instance_id)}
        if (self.run_dir / OLD_ROUTES_FLAG).exists():
            env["FAILOVER_OLD_ROUTES"] = "1"
        return env

    def _run(self, instance_id: str, argv: list[str], timeout_s: float, what: str) -> tuple[int, str]:
        ns = self.spec.instance_ns(instance_id)
        try:
            p = subprocess.run(netns.in_ns(ns, argv), capture_output=True, text=True,
                               timeout=timeout_s, env=self._env(instance_id), check=False)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            return 124, out + f"\n(timed out after {timeout_s}s)"
        _log(f"{what} on {instance_id}: exit {p.returncode}")
        return p.returncode, p.stdout + p.stderr

    def hotplug(self, instance_id: str, mac: str) -> tuple[int, str]:
        """The NIC with `mac` appeared on `instance_id`: udev + systemd start its staged trigger."""
        if (self.run_dir / CRASHED_DIR / instance_id).exists():
            raise RuntimeError(f"{instance_id} is down: nothing runs there")
        key = mac.lower().replace(":", "")
        trigger = self.run_dir / GUESTS_DIR / instance_id / STAGE_DIR / f"eni-{key}" / "trigger.sh"
        if not trigger.exists():
            return 1, f"no pre-staged trigger for {mac} on {instance_id}"
        return self._run(instance_id, ["/bin/sh", str(trigger), "start"], 60.0, "hotplug trigger")


def _log(msg: str) -> None:
    print(f"lab-hooks: {msg}", file=sys.stderr, flush=True)


def from_env() -> LabHooks:
    """The factory `failover sim ecs --hooks failover.lab.hooks:from_env` calls."""
    prefix = os.environ.get("FAILOVER_LAB_PREFIX", "")
    if not prefix:
        raise RuntimeError("FAILOVER_LAB_PREFIX is not set: the lab hooks need the lab's prefix")
    return LabHooks(LabSpec(prefix))
