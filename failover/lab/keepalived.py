"""What operators use today, in the same lab: Debian's keepalived, unicast VRRP between two
instance namespaces (`k1`, `k2`), a VIP of its own, and the same HTTP service.

Both instances start BACKUP with `nopreempt`, so the survivor keeps the VIP after a trial (as
the controller keeps the ENI where it moved) and no trial pays for a preemption. The service is
tracked by a `vrrp_script` (curl of /healthz): without one keepalived never notices a hung
service. keepalived 2.2 takes whole seconds for a script's interval, so its fastest health
check is 1 s; the VRRP advertisement itself takes centiseconds (VRRPv3).

A crashed daemon leaves two things behind that the bench once misread as a split brain at
advert_int 0.2: its pid files (when the host reuses the pid, the restarted keepalived logs
"daemon is already running" and exits, writing no notify line) and its notify log's last
"MASTER" (read as the state of the daemon that never started: two masters, while the kernel
had the VIP on one instance). So each start removes the pid files, and each daemon's notify
log starts empty. Each trial's lines are saved
next to its client log (`save_since`), and a pair that does not settle says who holds the VIP
in the kernel as well as what the notify logs say.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from failover.lab import netns
from failover.lab.spec import HTTP_PORT, PREFIXLEN, LabSpec, Member

KEEPALIVED = "/usr/sbin/keepalived"
CURL = "/usr/bin/curl"
VRID = 51


@dataclass(frozen=True)
class VrrpSettings:
    advert_int: float = 1.0
    script_interval: int = 1  # keepalived 2.2: whole seconds, at least 1
    fall: int = 3
    rise: int = 2

    def label(self) -> str:
        return f"advert_int {self.advert_int:g}"


def render_conf(spec: LabSpec, me: Member, peer: Member, s: VrrpSettings, notify: str, priority: int) -> str:
    check = f"{CURL} -sf -m 0.5 -o /dev/null http://{me.ip}:{HTTP_PORT}/healthz"
    return f"""global_defs {{
  router_id {spec.ns(me.role)}
  script_user root
  enable_script_security
  vrrp_version 3
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 2
}}
vrrp_script chk_http {{
  script "{check}"
  interval {s.script_interval}
  timeout 1
  fall {s.fall}
  rise {s.rise}
}}
vrrp_instance VI_LAB {{
  state BACKUP
  nopreempt
  interface eth0
  virtual_router_id {VRID}
  priority {priority}
  advert_int {s.advert_int:g}
  unicast_src_ip {me.ip}
  unicast_peer {{
    {peer.ip}
  }}
  virtual_ipaddress {{
    {spec.vip}/{PREFIXLEN} dev eth0
  }}
  track_script {{
    chk_http
  }}
  notify "{notify}"
}}
"""


NOTIFY_SH = """#!/bin/sh
# keepalived calls: notify TYPE NAME STATE PRIORITY
echo "$(date +%s.%N) $3" >> "{log}"
"""


class KeepalivedPair:
    """Starts and stops keepalived (and nothing else) in the two VRRP namespaces."""

    def __init__(self, spec: LabSpec, run_dir: Path, settings: VrrpSettings) -> None:
        self.spec = spec
        self.settings = settings
        self.dir = run_dir / "keepalived"
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._logs: dict[str, int] = {}  # role -> how many daemons (notify logs) it has had

    def paths(self, m: Member) -> dict[str, Path]:
        d = self.dir
        return {k: d / f"{m.role}.{k}" for k in ("conf", "pid", "vrrp.pid", "checkers.pid", "notify.sh",
                                                   "transitions", "log")}

    def start(self, m: Member) -> int:
        p = self.paths(m)
        peer = self.spec.other(m.instance_id)
        priority = 150 if m == self.spec.vrrp[0] else 100
        p["notify.sh"].write_text(NOTIFY_SH.format(log=p["transitions"]))
        self.new_log(m)
        for pidfile in ("pid", "vrrp.pid", "checkers.pid"):
            # A SIGKILLed daemon leaves its pid files; once the host reuses that pid, a new
            # keepalived says "daemon is already running" and exits (a rebooted instance
            # starts with an empty /run).
            p[pidfile].unlink(missing_ok=True)
        p["notify.sh"].chmod(0o755)
        p["conf"].write_text(render_conf(self.spec, m, peer, self.settings, str(p["notify.sh"]), priority))
        proc = netns.spawn(self.spec.ns(m.role), [
            KEEPALIVED, "--dont-fork", "--log-console", "--log-detail", "--vrrp",
            "-f", str(p["conf"]), "-p", str(p["pid"]), "-r", str(p["vrrp.pid"]), "-c", str(p["checkers.pid"]),
        ], p["log"])
        return proc.pid

    def stop(self, m: Member) -> None:
        pids = [pid for pid in netns.netns_pids(self.spec.ns(m.role)) if _is_keepalived(pid)]
        netns.stop_pids(pids, grace_s=3.0)

    def master(self) -> str | None:
        """Who holds the VIP now, read from the kernel."""
        for m in self.spec.vrrp:
            out = netns.ip(self.spec.ns(m.role), "-o", "-4", "addr", "show", "dev", "eth0", check=False)
            if f" {self.spec.vip}/" in out:
                return m.instance_id
        return None

    def states(self) -> dict[str, str]:
        """Each instance's last VRRP state (MASTER, BACKUP, FAULT), from its notify log."""
        out: dict[str, str] = {}
        for m in self.spec.vrrp:
            lines = _read_lines(self.paths(m)["transitions"])
            out[m.instance_id] = lines[-1].split()[-1] if lines else "INIT"
        return out

    def vip_holders(self) -> list[str]:
        """Every instance whose eth0 carries the VIP (two means a real split brain)."""
        out = []
        for m in self.spec.vrrp:
            shown = netns.ip(self.spec.ns(m.role), "-o", "-4", "addr", "show", "dev", "eth0", check=False)
            if f" {self.spec.vip}/" in shown:
                out.append(m.instance_id)
        return out

    def new_log(self, m: Member) -> None:
        """An empty notify log for a daemon about to start (see the module's docstring)."""
        self.paths(m)["transitions"].write_text("")
        self._logs[m.role] = self._logs.get(m.role, 0) + 1

    def mark(self) -> dict[str, tuple[int, int]]:
        """Per instance: which of its daemons' logs, and how many lines it holds so far."""
        return {m.role: (self._logs.get(m.role, 0), len(_read_lines(self.paths(m)["transitions"])))
                for m in self.spec.vrrp}

    def save_since(self, mark: dict[str, tuple[int, int]], path: Path) -> None:
        """The notify lines written since `mark`, per instance, into `path` (one trial's log).
        A daemon restarted meanwhile started a new log: all of its lines count."""
        lines = []
        for m in self.spec.vrrp:
            log, count = mark.get(m.role, (0, 0))
            now = _read_lines(self.paths(m)["transitions"])
            since = count if log == self._logs.get(m.role, 0) else 0
            lines += [f"{m.instance_id} {line}" for line in now[since:]]
        path.write_text("\n".join(sorted(lines, key=lambda s: s.split()[1])) + "\n")

    def transitions(self) -> int:
        return sum(len(_read_lines(self.paths(m)["transitions"])) for m in self.spec.vrrp)

    def wait_settled(self, timeout_s: float = 20.0) -> str:
        """One MASTER and one BACKUP; returns the master."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.states()
            master = self.master()
            if master and sorted(st.values()) == ["BACKUP", "MASTER"] and st.get(master) == "MASTER":
                return master
            time.sleep(0.1)
        raise netns.LabError(f"keepalived did not settle within {timeout_s:g}s: notify logs say "
                             f"{self.states()}, the VIP is on {self.vip_holders() or 'nobody'}")


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []


def _is_keepalived(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "keepalived"
    except OSError:
        return False
