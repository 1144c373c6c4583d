"""Replica processes for crash tests: start, read their leadership events, SIGKILL."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ReplicaProc:
    cid: str
    proc: subprocess.Popen[str]
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    leading: bool = False
    last_leader_t: float = 0.0

    def pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        if ev["event"] in ("leader", "follower"):
            self.leading = ev["event"] == "leader"
        return ev

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def start_replica(hosts: str, root: str, cid: str, session_s: float) -> ReplicaProc:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.replica_main", "--hosts", hosts,
         "--root", root, "--id", cid, "--session", str(session_s)],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env=env,
    )
    rep = ReplicaProc(cid, proc)
    threading.Thread(target=rep.pump, daemon=True).start()
    return rep
