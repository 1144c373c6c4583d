"""A small namespace lab for the guest scripts: a VPC bridge, two instances, a client, one ENI.

Every address lives inside namespaces this module creates (names carry a
per-run prefix) and the root namespace gets no route to them. The ENI is a
veth whose inner end moves between the instance namespaces keeping its MAC,
as an ENI does. rp_filter is strict and ARP flux is off on the instances, as
on a VPC, so only policy routing lets replies leave by the ENI; the primary
NIC's routes have metric 100, as on cloud images.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

SUBNET = "192.168.77.0/24"
GATEWAY = "192.168.77.1"
ENI_MAC = "00:16:3e:77:00:50"
ENI_IPS = ("192.168.77.50", "192.168.77.51")
ENI_NAME = "ens6"  # not eth1: the script must find it by MAC
PORT = 18080

_SERVER = """
import socket, sys
name, ips, port = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
socks = []
for ip in ips:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port)); s.listen(16); socks.append(s)
print("ready", flush=True)
import selectors
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.sendall(f"{name} {c.getsockname()[0]}\\n".encode()); c.close()
"""

_CLIENT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print(c.recv(100).decode().strip())
except OSError as e:
    print("ERR", type(e).__name__); sys.exit(1)
"""


def run(*args: str, check: bool = True, env: dict[str, str] | None = None,
        input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True,
                          env=env, input=input, timeout=timeout)


@dataclass
class GuestNetns:
    prefix: str = field(default_factory=lambda: f"fg{os.getpid() % 10000}{uuid.uuid4().hex[:4]}")
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def vpc(self) -> str:
        return f"{self.prefix}-vpc"

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    # ---------------------------------------------------------------- set-up

    def up(self) -> None:
        for n in ("vpc", "a", "b", "c"):
            run("ip", "netns", "add", self.ns(n))
            run("ip", "-n", self.ns(n), "link", "set", "lo", "up")
        run("ip", "-n", self.vpc, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.vpc, "addr", "add", f"{GATEWAY}/24", "dev", "br0")
        run("ip", "-n", self.vpc, "link", "set", "br0", "up")
        for n, ip in (("a", "192.168.77.10"), ("b", "192.168.77.11"), ("c", "192.168.77.100")):
            self._port(f"p{n}", self.ns(n), "eth0")
            # metric 100, as cloud images (NetworkManager, networkd) give the primary NIC
            run("ip", "-n", self.ns(n), "addr", "add", f"{ip}/24", "dev", "eth0", "metric", "100")
            run("ip", "-n", self.ns(n), "link", "set", "eth0", "up")
            run("ip", "-n", self.ns(n), "route", "add", "default", "via", GATEWAY, "metric", "100")
        for n in ("a", "b"):
            for key, value in (("all.rp_filter", "1"), ("default.rp_filter", "1"),
                               ("all.arp_ignore", "1"), ("all.arp_announce", "2")):
                run("ip", "netns", "exec", self.ns(n), "sysctl", "-qw", f"net.ipv4.conf.{key}={value}")
        # the ENI: its outer end on the bridge, the inner end (with the MAC) in nobody yet
        run("ip", "-n", self.vpc, "link", "add", "peni", "type", "veth", "peer", "name", ENI_NAME)
        run("ip", "-n", self.vpc, "link", "set", ENI_NAME, "address", ENI_MAC)
        run("ip", "-n", self.vpc, "link", "set", "peni", "master", "br0")
        run("ip", "-n", self.vpc, "link", "set", "peni", "up")

    def _port(self, outer: str, ns: str, inner: str) -> None:
        run("ip", "-n", self.vpc, "link", "add", outer, "type", "veth", "peer", "name", inner,
            "netns", ns)
        run("ip", "-n", self.vpc, "link", "set", outer, "master", "br0")
        run("ip", "-n", self.vpc, "link", "set", outer, "up")

    def down(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait(timeout=5)
        self.procs.clear()
        for n in ("a", "b", "c", "vpc"):
            run("ip", "netns", "del", self.ns(n), check=False)

    # ----------------------------------------------------------------- moves

    def attach(self, instance: str) -> None:
        """Move the ENI's inner end from wherever it is (the VPC side when detached) to `instance`."""
        run("ip", "-n", self.where_eni(), "link", "set", ENI_NAME, "netns", self.ns(instance))

    def detach(self) -> None:
        run("ip", "-n", self.where_eni(), "link", "set", ENI_NAME, "netns", self.vpc)

    def where_eni(self) -> str:
        for n in ("a", "b", "vpc"):
            if run("ip", "-n", self.ns(n), "link", "show", ENI_NAME, check=False).returncode == 0:
                return self.ns(n)
        raise AssertionError("the ENI is nowhere")

    # ------------------------------------------------------------ processes

    def sh(self, instance: str, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run `script` with /bin/sh inside the instance, as Cloud Assistant would."""
        full = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}
        return run("ip", "netns", "exec", self.ns(instance), "/bin/sh", "-s",
                   check=False, env=full, input=script)

    def sh_async(self, instance: str, script: str, **env: str) -> subprocess.Popen[str]:
        full = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(instance), "/bin/sh", "-s"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=full)
        self.procs.append(p)
        assert p.stdin is not None
        p.stdin.write(script)
        p.stdin.close()
        return p

    def serve(self, instance: str, ips: tuple[str, ...] = ENI_IPS) -> None:
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(instance), sys.executable, "-c", _SERVER,
             instance, ",".join(ips), str(PORT)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        assert line == "ready", p.stderr.read() if p.stderr else line

    def ask(self, ip: str, timeout: float = 2.0) -> str:
        """What the client gets from ip:PORT ("ERR ..." when nothing answers)."""
        r = run("ip", "netns", "exec", self.ns("c"), sys.executable, "-c", _CLIENT, ip, str(PORT),
                str(timeout), check=False)
        return r.stdout.strip()

    def state(self, instance: str, table: int = 1001) -> dict[str, str]:
        ns = self.ns(instance)

        def out(*args: str) -> str:
            return run("ip", "-n", ns, *args, check=False).stdout

        return {
            "addrs": out("-4", "-o", "addr", "show"),
            "rules": out("rule", "show"),
            "table": out("route", "show", "table", str(table)),
            "main": out("route", "show", "table", "main"),
        }

    def wait_gone(self, p: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
        deadline = time.monotonic() + timeout
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.poll() is None:
            p.kill()
        p.wait(timeout=5)
        assert p.stdout is not None and p.stderr is not None
        return p.returncode, p.stdout.read(), p.stderr.read()
