"""The partial-failure trials' system and their judge of "served" (issue 20).

`PartialSystem` is a `ChaosSystem` whose group `web` has three members (`i-primary`,
`i-standby`, `i-third`), plus, with `second_group`, a group `api` on its own pair. Three
`failover run` replicas, real ZooKeeper, the emulator.

A group is *served* when the cloud shows its ENI InUse on a member that is healthy (its
listener answers; the emulator has it Running, not crashed) and whose guest step ran there
after that attach and succeeded: a configure invocation carrying the ENI's MAC, created while
the ENI was InUse there, ended Success, and no release script succeeded there since. All of it
comes from the emulator's event log and state, never from the controller's journal. The
service IP's listener follows that verdict, so the controller's own verify probes the truth.

`Watch` samples the emulator every `CLOUD_PERIOD_S` (and moves the service IPs' listeners at
once), one replica's `/status` every `PERIOD_S`, and `failover status --json` through the CLI
in a loop, each in its own thread, every sample stamped with the wall clock the emulator's
events use. `harness.episode.judge_samples` turns them into a fault's figures: when the group
was served again, and how long status called it healthy or degraded while nothing served it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.chaos import ChaosSystem, Group, Spec, _ip
from harness.chaos_events import script_kind
from harness.episode import Episode, Sample, StatusSample, judge_samples
from harness.replicas import Replica
from harness.waiting import wait_for
from harness.zk import ZkCluster

PERIOD_S = 0.1  # /status
CLOUD_PERIOD_S = 0.05  # the emulator's state, and the service IPs that follow it
MIN_INTERRUPTION_S = 0.3  # every trial's fault unserves for longer (a detach alone takes 0.5 s)
CLI_PAUSE_S = 0.5  # between `failover status` processes: each costs a Python start on shared cores
SAMPLE_SLACK_S = 0.3  # two sample periods plus scheduling on a shared 2-core machine
_MAC = re.compile(r"MAC='([0-9a-fA-F:]{17})'")


def partial_layout(second_group: bool) -> tuple[list[Group], dict[str, str]]:
    groups = [Group("web", "eni-svc", ("i-primary", "i-standby", "i-third"), _ip(3, 0))]
    ips = {"i-primary": "127.0.0.10", "i-standby": "127.0.0.11", "i-third": "127.0.0.12"}
    if second_group:
        groups.append(Group("api", "eni-api", ("i-api-a", "i-api-b"), _ip(3, 1)))
        ips.update({"i-api-a": "127.0.0.13", "i-api-b": "127.0.0.14"})
    return groups, ips


class PartialSystem(ChaosSystem):
    def __init__(self, workdir: Path, zk: ZkCluster, root: str, spec: Spec | None = None,
                 second_group: bool = False, cli_status: bool = True) -> None:
        super().__init__(workdir, zk, root, spec)
        self.groups, self.ips = partial_layout(second_group)
        self.cli_status = cli_status
        self.watch: Watch | None = None
        self.run_seq = 0  # the emulator's event sequence number when the current run began

    def _start(self) -> None:
        super()._start()
        self.watch = Watch(self, cli=self.cli_status)
        self.watch.start()
        wait_for(lambda: all(self.w.served(g.name) for g in self.groups), 30, "every group served",
                 self.diag)

    def close(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        super().close()

    @property
    def w(self) -> Watch:
        assert self.watch is not None
        return self.watch

    def detection_window_s(self) -> float:
        """One detection window, as the lab bench's matrix states it (fall x interval + the probe
        timeout), plus the round that notices and the sampling slack."""
        health = {"interval_s": 0.2, "timeout_s": 0.15, "fall": 2, **self.spec.health}
        interval = float(health["interval_s"])
        return ((float(health["fall"]) + 1) * interval + float(health["timeout_s"])
                + SAMPLE_SLACK_S)


# ------------------------------------------------------------------ the guest model


@dataclass
class _Eni:
    """Where one ENI is InUse according to the event log, and whether the guest step ran there."""

    mac: str
    on: str | None = None
    attaching: str | None = None
    configured: bool = False


class GuestModel:
    """Follows the emulator's event log: attaches, detaches, configure and release scripts, and the
    guest's pre-staged hot-plug trigger (an event of the emulated guest, not an API call)."""

    def __init__(self, state: dict[str, Any], enis: list[str]) -> None:
        self.enis: dict[str, _Eni] = {}
        for e in state["enis"]:
            if e["id"] in enis:
                inuse = e["status"] == "InUse"
                # the service was set up before any controller ran: its first holder is configured
                self.enis[e["id"]] = _Eni(e["mac"].lower(), e["instance"] if inuse else None,
                                          configured=inuse)
        self.scripts: dict[str, tuple[str, str | None, float]] = {}  # invoke id -> (kind, mac, created)
        self.since = 0

    def feed(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            self.since = max(self.since, int(e["seq"]))
            kind = e.get("kind")
            if kind == "enis" and e.get("id") in self.enis:
                self._eni(self.enis[str(e["id"])], e)
            elif kind == "invocations" and e.get("to") == "Created":
                script = str(e.get("script") or "")
                mac = _MAC.search(script)
                which = script_kind(e)
                self.scripts[str(e["id"])] = (which, mac.group(1).lower() if mac else None, float(e["t"]))
            elif kind == "records" and e.get("to") == "Success":
                invoke, _, instance = str(e["id"]).partition("/")
                self._script_done(invoke, instance)
            elif kind == "guest" and e.get("to") == "HotplugConfigured":
                # the guest's pre-staged trigger ran the configure script when the NIC appeared
                for m in self.enis.values():
                    if m.mac == str(e.get("mac") or "").lower() and m.on == e.get("id"):
                        m.configured = True

    def _eni(self, m: _Eni, e: dict[str, Any]) -> None:
        to = e.get("to")
        if to == "Attaching":
            m.attaching = str(e.get("instance"))
        elif to == "InUse":
            m.on, m.configured = m.attaching, False
        elif e.get("from") == "InUse" or to == "Available":
            m.on, m.configured = None, False

    def _script_done(self, invoke: str, instance: str) -> None:
        known = self.scripts.get(invoke)
        if known is None:
            return
        which, mac, _created = known
        for m in self.enis.values():
            if m.mac == mac and m.on == instance:
                if which == "configure":
                    m.configured = True
                elif which == "release":
                    m.configured = False  # the release script took the service's addresses away


# ------------------------------------------------------------------ the watch


class Watch:
    """Three threads: the cloud (which also drives the service IPs), /status, the CLI."""

    def __init__(self, system: PartialSystem, cli: bool = True) -> None:
        self.system = system
        self.names = [g.name for g in system.groups]
        self.model = GuestModel(system.s.control.state(), [g.eni for g in system.groups])
        self.samples: list[Sample] = []
        self.status_samples: list[StatusSample] = []
        self.cli_samples: list[StatusSample] = []
        self.errors: list[str] = []  # sampling errors, for a trial's diagnosis
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._every, args=(CLOUD_PERIOD_S, self._sample_cloud),
                                          name="partial-cloud", daemon=True),
                         threading.Thread(target=self._every, args=(PERIOD_S, self._sample_status),
                                          name="partial-status", daemon=True)]
        if cli:
            self._threads.append(threading.Thread(target=self._every, args=(CLI_PAUSE_S, self._sample_cli),
                                                  name="partial-cli", daemon=True))
        self._replica: Replica | None = None

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    # ---------------------------------------------------------------- sampling

    def _every(self, period: float, sample: Callable[[], None]) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                sample()
            except Exception as e:  # the emulator goes away at close; else the next round tries again
                self.errors.append(f"{e.__class__.__name__}: {e}")
            self._stop.wait(max(0.0, period - (time.monotonic() - started)))

    def _sample_cloud(self) -> None:
        ctl = self.system.s.control
        self.model.feed(ctl.events(self.model.since))
        world = ctl.state()
        t = time.time()
        instances = {i["id"]: i for i in world["instances"]}
        enis = {e["id"]: e for e in world["enis"]}
        served: dict[str, bool] = {}
        holder: dict[str, str | None] = {}
        for g in self.system.groups:
            e = enis[g.eni]
            on = e["instance"] if e["status"] == "InUse" else None
            holder[g.name] = on
            m = self.model.enis[g.eni]
            ok = (on is not None and on in g.members and m.on == on and m.configured
                  and self._healthy(instances[on]))
            served[g.name] = ok
            self._service(g, ok)
        with self._lock:
            self.samples.append(Sample(t, served, holder))

    def _healthy(self, inst: dict[str, Any]) -> bool:
        assert self.system.listeners is not None
        return (inst["status"] == "Running" and not inst.get("crashed")
                and self.system.listeners.is_up(self.system.ips[inst["id"]]))

    def _service(self, g: Group, served: bool) -> None:
        """The service IP answers exactly when the group is served (the controller's verify sees it)."""
        assert self.system.listeners is not None
        if served:
            self.system.listeners.up(g.service_ip)
        else:
            self.system.listeners.down(g.service_ip)

    def _sample_status(self) -> None:
        t0 = time.time()
        doc = None
        if self._replica is not None and self._replica.proc.poll() is None:
            doc = self._replica.status()
        if doc is None:
            self._replica = None
            for r in list(self.system.f.replicas.values()):
                if r.proc.poll() is None:
                    doc = r.status()
                    if doc is not None:
                        self._replica = r
                        break
        as_of = (doc or {}).get("as_of")
        sample = StatusSample(t0, time.time(), _states(doc, self.names),
                              float(as_of) if isinstance(as_of, (int, float)) else None)
        with self._lock:
            self.status_samples.append(sample)

    def _sample_cli(self) -> None:
        t0 = time.time()
        try:
            out = self.system.f.cli("status", "--json", timeout=30)
            doc = json.loads(out.stdout) if out.returncode == 0 else None
        except Exception:
            doc = None
        sample = StatusSample(t0, time.time(), _states(doc, self.names))
        with self._lock:
            self.cli_samples.append(sample)

    # ---------------------------------------------------------------- reading

    def served(self, group: str) -> bool:
        with self._lock:
            return bool(self.samples) and self.samples[-1].served[group]

    def holder(self, group: str) -> str | None:
        with self._lock:
            return self.samples[-1].holder[group] if self.samples else None

    def wait_stably_served(self, group: str, t_fault: float, stable_s: float, timeout: float) -> Episode:
        """Until the group has been served for `stable_s` after an interruption that began after
        `t_fault` (or `timeout`); then the episode from `t_fault` to now."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ep = self.episode(group, t_fault)
            if (ep.unserved_s >= MIN_INTERRUPTION_S and ep.served_after_s is not None
                    and time.time() - (t_fault + ep.served_after_s) >= stable_s):
                return ep
            time.sleep(PERIOD_S)
        return self.episode(group, t_fault)

    def episode(self, group: str, t_fault: float) -> Episode:
        with self._lock:
            cloud, status, cli = list(self.samples), list(self.status_samples), list(self.cli_samples)
        return judge_samples(cloud, status, cli, group, t_fault, self.system.detection_window_s())


def _states(doc: dict[str, Any] | None, names: list[str]) -> dict[str, str | None]:
    found = {g.get("name"): g.get("state") for g in (doc or {}).get("groups", [])}
    return {n: found.get(n) for n in names}
