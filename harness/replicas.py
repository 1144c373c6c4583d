"""Controller replicas as real processes (`python -m failover run`), for end-to-end tests.

Health is driven by files: each member is up while `<health_dir>/<instance>`
exists (a `command` check), so a test fails a primary by deleting a file and
no probe ever leaves loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.zk import free_port

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write_config(path: Path, *, zk_hosts: str, zk_root: str, endpoint: str, health_dir: Path,
                 members: list[str], eni: str = "eni-svc", poll_dense_s: float = 0.05,
                 **policy: Any) -> Path:
    doc = {
        "controller": {"tick_s": 0.05},
        "zookeeper": {"hosts": zk_hosts, "root": zk_root, "session_timeout_s": 2},
        "cloud": {"region": "cn-hangzhou", "endpoint": endpoint, "protocol": "http", "poll_dense_s": poll_dense_s,
                  "credentials": {"access_key_id_env": "ALIBABA_CLOUD_ACCESS_KEY_ID",
                                  "access_key_secret_env": "ALIBABA_CLOUD_ACCESS_KEY_SECRET"}},
        "defaults": {
            "health": {"interval_s": 0.2, "timeout_s": 0.15, "fall": 2, "rise": 1},
            "policy": {"cooldown_s": 0, "detach_timeout_s": 10, "attach_timeout_s": 10,
                       "guest_timeout_s": 10, "verify_timeout_s": 5, **policy},
            "guest": {"method": "cloud_assistant", "persist": False},
        },
        "groups": [{
            "name": "web", "network_interface": eni, "members": members,
            "service_ips": ["192.168.1.51"],
            "checks": [{"type": "command", "run": ["test", "-e", f"{health_dir}/{{instance}}"]}],
        }],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@dataclass
class Replica:
    cid: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, timeout_s: float = 3.0) -> tuple[int, str]:
        try:
            with _OPENER.open(f"http://127.0.0.1:{self.port}{path}", timeout=timeout_s) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return 0, str(e)

    def status(self) -> dict[str, Any] | None:
        code, body = self.get("/status")
        return json.loads(body) if code == 200 else None


@dataclass
class Fleet:
    config: Path
    workdir: Path
    env: dict[str, str]
    replicas: dict[str, Replica] = field(default_factory=dict)
    env_of: dict[str, dict[str, str]] = field(default_factory=dict)  # per replica (its own access key)

    def start(self, cid: str) -> Replica:
        port = free_port()
        log = self.workdir / f"{cid}.log"
        env = {**self.env, **self.env_of.get(cid, {}), "FAILOVER_CONTROLLER_ID": cid}
        cfg = yaml.safe_load(self.config.read_text())
        cfg["controller"]["listen"] = f"127.0.0.1:{port}"
        own = self.workdir / f"{cid}.yaml"
        own.write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen(
            [sys.executable, "-m", "failover", "--log-level", "info", "run", "--config", str(own)],
            stdout=subprocess.DEVNULL, stderr=open(log, "ab"), env=env, start_new_session=True,  # noqa: SIM115
        )
        r = Replica(cid, port, proc, log)
        self.replicas[cid] = r
        return r

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "failover", *args, "--config", str(self.config)],
                              capture_output=True, text=True, env=self.env, timeout=timeout, check=False)

    def leader(self) -> Replica | None:
        for r in self.replicas.values():
            if r.proc.poll() is None:
                st = r.status()
                if st and st.get("self", {}).get("leader"):
                    return r
        return None

    def kill(self, cid: str) -> None:
        r = self.replicas[cid]
        if r.proc.poll() is None:
            os.killpg(r.proc.pid, signal.SIGKILL)
            r.proc.wait(10)

    def stop_all(self) -> None:
        for r in self.replicas.values():
            if r.proc.poll() is None:
                r.proc.send_signal(signal.SIGTERM)
        for r in self.replicas.values():
            try:
                r.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(r.proc.pid, signal.SIGKILL)
                r.proc.wait(5)

    def logs(self) -> str:
        return "\n".join(f"--- {r.cid}\n{r.log.read_text(errors='replace')[-3000:]}"
                         for r in self.replicas.values() if r.log.exists())



@dataclass
class FileHealthFleet(Fleet):
    """A fleet whose members' health checks read files: `health`/<instance> exists while it is up
    (the directory `write_config`'s `health_dir` named)."""

    health: Path = field(kw_only=True)
