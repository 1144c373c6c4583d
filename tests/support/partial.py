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

`Watch` samples the emulator and one replica's `/status` side by side every `PERIOD_S` and, in
a second thread, `failover status --json` through the CLI; `Watch.episode` turns the samples
after a fault into the trial's figures: when the group was served again, and how long the
status called it healthy or degraded while nothing served it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.chaos import ChaosSystem, Group, Spec, _ip
from tests.support.replicas import Replica, wait_for
from tests.support.zk import ZkCluster

PERIOD_S = 0.1
CLI_PAUSE_S = 0.5  # between `failover status` processes: each costs a Python start on shared cores
CLAIMS_SERVED = ("healthy", "degraded")
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
        """One detection window: `fall` probe rounds plus the round that notices, plus sampling."""
        health = {"interval_s": 0.2, "fall": 2, **self.spec.health}
        return (float(health["fall"]) + 1) * float(health["interval_s"]) + SAMPLE_SLACK_S


# ------------------------------------------------------------------ the guest model


@dataclass
class _Eni:
    """Where one ENI is InUse according to the event log, and whether the guest step ran there."""

    mac: str
    on: str | None = None
    attaching: str | None = None
    configured: bool = False


class GuestModel:
    """Follows the emulator's event log: attaches, detaches, configure and release scripts."""

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
                which = "configure" if "# --- configure:" in script else (
                    "release" if "# --- release:" in script else "other")
                self.scripts[str(e["id"])] = (which, mac.group(1).lower() if mac else None, float(e["t"]))
            elif kind == "records" and e.get("to") == "Success":
                invoke, _, instance = str(e["id"]).partition("/")
                self._script_done(invoke, instance)

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


@dataclass(frozen=True)
class Sample:
    t: float
    served: dict[str, bool]
    state: dict[str, str | None]  # the status document's group state (None: no answer)
    holder: dict[str, str | None]  # where the cloud has the ENI InUse


@dataclass(frozen=True)
class CliSample:
    t0: float
    t1: float
    state: dict[str, str | None]


@dataclass
class Episode:
    """One fault, judged from the samples: figures in seconds."""

    t_fault: float
    served_after_s: float | None  # until the stable served stretch began; None: never served
    unserved_s: float
    lying_s: float  # /status said healthy/degraded while nothing served the group
    lying_beyond_s: float  # ... while nothing had served it for longer than one detection window
    cli_lies: int  # `failover status --json` answers that did the same
    cli_samples: int
    states: list[str] = field(default_factory=list)  # the status states seen, in order, deduplicated
    timeline: list[str] = field(default_factory=list)  # "+1.23 s unserved (ENI on i-b), status healthy"

    def figures(self) -> dict[str, Any]:
        return {"served_after_s": None if self.served_after_s is None else round(self.served_after_s, 2),
                "unserved_s": round(self.unserved_s, 2), "lying_s": round(self.lying_s, 2),
                "lying_beyond_window_s": round(self.lying_beyond_s, 2), "cli_lies": self.cli_lies,
                "cli_samples": self.cli_samples, "states": self.states}


class Watch:
    def __init__(self, system: PartialSystem, cli: bool = True) -> None:
        self.system = system
        self.names = [g.name for g in system.groups]
        self.model = GuestModel(system.s.control.state(), [g.eni for g in system.groups])
        self.samples: list[Sample] = []
        self.cli_samples: list[CliSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name="partial-watch", daemon=True)]
        if cli:
            self._threads.append(threading.Thread(target=self._cli_loop, name="partial-cli", daemon=True))
        self._replica: Replica | None = None
        self.errors: list[str] = []  # sampling errors, for a trial's diagnosis

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    # ---------------------------------------------------------------- sampling

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._sample()
            except Exception as e:  # the emulator goes away at close; else the next round tries again
                self.errors.append(f"{e.__class__.__name__}: {e}")
            self._stop.wait(max(0.0, PERIOD_S - (time.monotonic() - started)))

    def _sample(self) -> None:
        t = time.time()
        states = self._status_states()
        ctl = self.system.s.control
        self.model.feed(ctl.events(self.model.since))
        world = ctl.state()
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
            self.samples.append(Sample(t, served, states, holder))

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

    def _status_states(self) -> dict[str, str | None]:
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
        return _states(doc, self.names)

    def _cli_loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.time()
            try:
                out = self.system.f.cli("status", "--json", timeout=30)
                doc = json.loads(out.stdout) if out.returncode == 0 else None
            except Exception:
                doc = None
            with self._lock:
                self.cli_samples.append(CliSample(t0, time.time(), _states(doc, self.names)))
            self._stop.wait(CLI_PAUSE_S)

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
            if (ep.unserved_s > 0 and ep.served_after_s is not None
                    and time.time() - (t_fault + ep.served_after_s) >= stable_s):
                return ep
            time.sleep(PERIOD_S)
        return self.episode(group, t_fault)

    def episode(self, group: str, t_fault: float) -> Episode:
        with self._lock:
            samples = list(self.samples)
            cli = list(self.cli_samples)
        return judge_samples(samples, cli, group, t_fault, self.system.detection_window_s())


def judge_samples(samples: list[Sample], cli: list[CliSample], group: str, t_fault: float,
                  window: float) -> Episode:
    """One fault's figures from the samples (pure): a sample's verdict holds until the next one."""
    last_served = max((s.t for s in samples if s.t < t_fault and s.served[group]), default=t_fault)
    after = [s for s in samples if s.t >= t_fault]
    unserved = lying = beyond = 0.0
    states: list[str] = []
    for a, b in itertools.pairwise(after):
        dt = b.t - a.t
        st = a.state[group]
        if st is not None and (not states or states[-1] != st):
            states.append(st)
        if a.served[group]:
            last_served = a.t
            continue
        unserved += dt
        if st in CLAIMS_SERVED:
            lying += dt
            if a.t - last_served > window:
                beyond += dt
    served_at = _stable_start(after, group)
    lies = sum(1 for c in cli if c.t1 >= t_fault and c.state[group] in CLAIMS_SERVED
               and not _served_between(samples, group, c.t0 - window, c.t1))
    if len(states) > 8:  # a retry loop flips between two states: keep the story readable
        states = [*states[:6], f"... ({len(states) - 7} more)", states[-1]]
    return Episode(t_fault, None if served_at is None else served_at - t_fault, unserved, lying,
                   beyond, lies, sum(1 for c in cli if c.t1 >= t_fault), states,
                   _timeline(after, group, t_fault))


def _timeline(after: list[Sample], group: str, t_fault: float, limit: int = 16) -> list[str]:
    """Each change of (served, cloud holder, status state), relative to the fault."""
    out: list[str] = []
    last: tuple[bool, str | None, str | None] | None = None
    for s in after:
        key = (s.served[group], s.holder[group], s.state[group])
        if key != last:
            out.append(f"+{s.t - t_fault:.2f} s {'served' if key[0] else 'unserved'} "
                       f"(ENI InUse on {key[1]}), status {key[2]}")
            last = key
    return out if len(out) <= limit else [*out[:limit - 2], f"... ({len(out) - limit + 1} more)", out[-1]]


def _states(doc: dict[str, Any] | None, names: list[str]) -> dict[str, str | None]:
    found = {g.get("name"): g.get("state") for g in (doc or {}).get("groups", [])}
    return {n: found.get(n) for n in names}


def _stable_start(after: list[Sample], group: str) -> float | None:
    """The start of the served stretch that lasts to the last sample, if the group was unserved
    at some point before it (else the fault never interrupted it: the first sample's time)."""
    if not after or not after[-1].served[group]:
        return None
    k = len(after) - 1
    while k > 0 and after[k - 1].served[group]:
        k -= 1
    return after[k].t if k > 0 else after[0].t


def _served_between(samples: list[Sample], group: str, t0: float, t1: float) -> bool:
    return any(s.served[group] for s in samples if t0 <= s.t <= t1)
