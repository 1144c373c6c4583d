"""Real ZooKeeper servers for tests: one node or a 3-node ensemble on loopback.

Uses Debian's `zookeeper` package (the jar under /usr/share/java). Each server
gets a fresh data dir and free ports; members can be stopped and restarted;
everything is killed on teardown. A missing Java or ZooKeeper is a failure
with the install command, never a skip: a skipped coordination suite would
hide a broken product.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ZK_JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar")
INSTALL_HINT = "apt-get install -y zookeeper default-jre-headless (or run `make test`, which does it)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_zookeeper() -> list[str]:
    java = shutil.which("java")
    missing = [j for j in ZK_JARS if not os.path.exists(j)]
    if java is None or missing:
        what = "java" if java is None else ", ".join(missing)
        raise RuntimeError(f"ZooKeeper test server unavailable ({what} missing): {INSTALL_HINT}")
    classpath = ":".join(ZK_JARS)  # zookeeper.jar's manifest names the rest of Debian's jars
    return [java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain"]



@dataclass
class ZkNode:
    myid: int
    client_port: int
    peer_port: int
    election_port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"


@dataclass
class ZkCluster:
    """One node (`size=1`) or an ensemble; `hosts` is kazoo's connection string."""

    base: Path
    size: int = 1
    nodes: list[ZkNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cmd = require_zookeeper()
        for i in range(1, self.size + 1):
            d = self.base / f"zk{i}"
            (d / "data").mkdir(parents=True, exist_ok=True)
            self.nodes.append(ZkNode(i, free_port(), free_port(), free_port(), d))
        for n in self.nodes:
            lines = [
                "tickTime=500", "initLimit=10", "syncLimit=5",
                f"dataDir={n.data_dir / 'data'}", f"clientPort={n.client_port}",
                "clientPortAddress=127.0.0.1", "admin.enableServer=false",
                "maxSessionTimeout=60000", "minSessionTimeout=1000",
                "4lw.commands.whitelist=ruok,srvr,stat,mntr",
            ]
            if self.size > 1:
                (n.data_dir / "data" / "myid").write_text(str(n.myid))
                lines += [f"server.{m.myid}=127.0.0.1:{m.peer_port}:{m.election_port}" for m in self.nodes]
            else:
                lines += ["standaloneEnabled=true"]
            (n.data_dir / "zoo.cfg").write_text("\n".join(lines) + "\n")

    @property
    def hosts(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def start(self, timeout: float = 30.0) -> None:
        for n in self.nodes:
            self.start_node(n.myid, wait=False)
        self.wait_serving(timeout)

    def start_node(self, myid: int, wait: bool = True) -> None:
        n = self.nodes[myid - 1]
        if n.proc and n.proc.poll() is None:
            return
        log = open(n.data_dir / "server.log", "ab")  # noqa: SIM115 - lives as long as the process
        n.proc = subprocess.Popen(
            [*self._cmd, str(n.data_dir / "zoo.cfg")],
            stdout=log, stderr=subprocess.STDOUT, cwd=n.data_dir, start_new_session=True,
        )
        if wait:
            self.wait_serving(30.0, only=[n])

    def stop_node(self, myid: int, kill: bool = True) -> None:
        n = self.nodes[myid - 1]
        if n.proc and n.proc.poll() is None:
            n.proc.kill() if kill else n.proc.terminate()
            n.proc.wait(10)
        n.proc = None

    def stop(self) -> None:
        for n in self.nodes:
            self.stop_node(n.myid)

    def leader_id(self) -> int | None:
        for n in self.nodes:
            if self._four_letter(n, "srvr").find("Mode: leader") >= 0:
                return n.myid
        return None

    def wait_serving(self, timeout: float, only: list[ZkNode] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = list(only or self.nodes)
        while pending and time.monotonic() < deadline:
            pending = [n for n in pending if "Mode:" not in self._four_letter(n, "srvr")]
            if pending:
                for n in pending:
                    if n.proc is not None and n.proc.poll() is not None:
                        log = (n.data_dir / "server.log").read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"ZooKeeper node {n.myid} exited:\n{log}")
                time.sleep(0.1)
        if pending:
            raise RuntimeError(f"ZooKeeper nodes {[n.myid for n in pending]} not serving in {timeout}s")

    @staticmethod
    def _four_letter(n: ZkNode, word: str) -> str:
        try:
            with socket.create_connection(("127.0.0.1", n.client_port), timeout=0.5) as s:
                s.sendall(word.encode())
                chunks = []
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    chunks.append(b)
                return b"".join(chunks).decode(errors="replace")
        except OSError:
            return ""
