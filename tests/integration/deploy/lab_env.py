"""A small real environment for runbook commands: ZooKeeper (the session's test server), the
ECS emulator (`failover sim ecs`) and two controller replicas (`failover run`), all as
processes on loopback, started only as far as the commands need, always stopped.

Health checks are `ecs_status` only: the world's instances have lab addresses that nothing
outside a lab namespace may send traffic to.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from failover import config as config_mod
from harness.zk import free_port
from tests.integration.deploy.tools import REPO, VENV_BIN

WORLD = REPO / "config" / "world.yaml"
START_TIMEOUT_S = 60.0  # generous: CI shares two cores with everything else
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def _world() -> dict[str, Any]:
    return dict(yaml.safe_load(WORLD.read_text()))


class RunbookEnv:
    def __init__(self, tmp: Path, zk_hosts: str, zk_root: str) -> None:
        self.tmp = tmp
        self.zk_hosts = zk_hosts
        self.zk_root = zk_root
        self.sim_port = free_port()
        self.ports = {"ctl-a": free_port(), "ctl-b": free_port()}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.configs = {ctl: self._write_config(ctl, port) for ctl, port in self.ports.items()}

    # ------------------------------------------------------------------ setup

    def _write_config(self, ctl: str, port: int) -> Path:
        world = _world()
        eni = world["network_interfaces"][0]
        raw = {
            "controller": {"id": ctl, "listen": f"127.0.0.1:{port}"},
            "zookeeper": {"hosts": self.zk_hosts, "root": self.zk_root, "session_timeout_s": 4},
            "cloud": {"region": world["region"], "endpoint": f"127.0.0.1:{self.sim_port}", "protocol": "http",
                      "credentials": {"access_key_id_env": "ALIBABA_CLOUD_ACCESS_KEY_ID",
                                      "access_key_secret_env": "ALIBABA_CLOUD_ACCESS_KEY_SECRET"}},
            "defaults": {
                "health": {"interval_s": 0.2, "timeout_s": 0.15, "fall": 3, "rise": 2, "quorum": "majority"},
                # Drills back and forth must not be held by a cooldown or counted as flapping.
                "policy": {"cooldown_s": 1, "detach_timeout_s": 10, "attach_timeout_s": 10,
                           "flap_max_failovers": 100},
                "guest": {"method": "cloud_assistant", "os": "auto"},
            },
            "groups": [{
                "name": "web", "network_interface": eni["id"],
                "members": [i["id"] for i in world["instances"]],
                "service_ips": eni["secondary_ips"], "eips": [e["ip"] for e in world["eips"]],
                "checks": [{"type": "ecs_status"}],
            }],
        }
        config_mod.parse(raw, f"lab config {ctl}")  # the harness's own config must be valid
        path = self.tmp / f"{ctl}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    def values(self) -> dict[str, str]:
        """What the runbooks' settings become in the lab."""
        world = _world()
        eni = world["network_interfaces"][0]
        cidr = world["vpcs"][0]["vswitches"][0]["cidr"]
        return {
            "GROUP": "web", "PRIMARY": world["instances"][0]["id"], "TARGET": world["instances"][1]["id"],
            "ENI": eni["id"], "REGION": world["region"], "OPS": f"127.0.0.1:{self.ports['ctl-a']}",
            "MAC": eni["mac"], "IPS": ",".join([eni["primary_ip"], *eni["secondary_ips"]]), "CIDR": cidr,
            "GATEWAY": cidr.rsplit(".", 1)[0] + ".253",
        }

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in PROXIES}
        env.update(self.values())
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["FAILOVER_CONFIG"] = str(self.configs["ctl-a"])
        env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
        return env

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "failover", *args], stdout=log, stderr=subprocess.STDOUT,
            env=self.env(), cwd=self.tmp, start_new_session=True,
        )

    def start(self, need: set[str]) -> None:
        if "sim" in need:
            self._spawn("sim", ["sim", "ecs", "--listen", f"127.0.0.1:{self.sim_port}", "--world", str(WORLD)])
            self._wait(lambda: _connects(self.sim_port), "the emulator to listen")
        if "run" in need:
            for ctl, cfg in self.configs.items():
                self._spawn(ctl, ["--config", str(cfg), "run"])
            for ctl, port in self.ports.items():
                self._wait(lambda p=port: _http_ok(f"http://127.0.0.1:{p}/readyz"), f"{ctl} to be ready")
            self._wait(self._has_leader, "a leader")

    def _has_leader(self) -> bool:
        for port in self.ports.values():
            body = _http_body(f"http://127.0.0.1:{port}/metrics")
            if any(line.split() == ["failover_leader", "1.0"] for line in body.splitlines()):
                return True
        return False

    def _wait(self, ok: Any, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise AssertionError(f"{dead} exited while waiting for {what}\n{self.logs()}")
            if ok():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {START_TIMEOUT_S:g} s waiting for {what}\n{self.logs()}")

    # --------------------------------------------------------------- teardown

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for name in self.procs:
            text = (self.tmp / f"{name}.log").read_text(errors="replace")
            parts.append(f"--- {name} log (tail)\n{text[-tail:]}")
        return "\n".join(parts)


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_body(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return str(r.read().decode())
    except (urllib.error.URLError, OSError):
        return ""


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False
