"""The composition root: builds adapters from config and wires them together.

The only module that knows every adapter. `failover run` gets a `Replica`
(health, coordination, engine and the ops server of one controller);
operator commands get a `Client` (a ZooKeeper session that never joins the
election, plus the cloud when a command needs it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from failover import __version__, metrics
from failover.cloud.adapter import EcsCloud
from failover.cloud.waiting import SystemClock
from failover.config import Config, ConfigError, GroupConfig
from failover.coordination import Coordination, connect
from failover.engine.execute import Collaborators
from failover.engine.loop import Engine
from failover.engine.readiness import ReadinessTracker, StandbyReadiness, evaluate, read_facts
from failover.engine.status import build_status
from failover.guest.executors import CloudAssistantGuest, NoopGuest
from failover.health.monitor import HealthMonitor
from failover.health.verify import ProbeVerifier
from failover.model import CloudError
from failover.ports import GuestConfigurator
from failover.server import OpsServer

log = logging.getLogger("failover.app")

ADDRESS_REFRESH_S = 60.0


class MemberAddresses:
    """Members' primary IPs for the probes, read from the cloud and refreshed slowly."""

    def __init__(self, cloud: EcsCloud, instances: list[str]) -> None:
        self._cloud = cloud
        self._instances = instances
        self._addresses: dict[str, str] = {}
        self._lock = threading.Lock()
        self._loaded_at = 0.0

    def get(self) -> Mapping[str, str]:
        with self._lock:
            stale = time.monotonic() - self._loaded_at > ADDRESS_REFRESH_S
            current = self._addresses
        if stale or not current:
            self.refresh()
        with self._lock:
            return self._addresses

    def refresh(self) -> None:
        try:
            found = self._cloud.describe_instances(self._instances)
        except CloudError as e:
            log.warning("could not read member addresses; keeping the last ones",
                        extra={"error": str(e)})
            with self._lock:
                self._loaded_at = time.monotonic() - ADDRESS_REFRESH_S + 5  # retry in 5 s
            return
        with self._lock:
            self._addresses = {i: info.primary_ip for i, info in found.items() if info.primary_ip}
            self._loaded_at = time.monotonic()


def guest_factory(cloud: EcsCloud) -> Callable[[GroupConfig], GuestConfigurator]:
    cache: dict[tuple[str, str, bool], GuestConfigurator] = {}

    def guest_for(group: GroupConfig) -> GuestConfigurator:
        key = (group.guest.method, group.guest.os, group.guest.persist)
        if key not in cache:
            cache[key] = (CloudAssistantGuest(cloud, group.guest.os, persist=group.guest.persist)
                          if group.guest.method == "cloud_assistant" else NoopGuest())
        return cache[key]

    return guest_for


@dataclass
class Client:
    """What an operator command needs: coordination without joining, the cloud on demand."""

    cfg: Config
    coordination: Coordination
    _cloud: EcsCloud | None = None

    @property
    def cloud(self) -> EcsCloud:
        if self._cloud is None:
            self._cloud = EcsCloud(self.cfg.cloud)
        return self._cloud

    def status(self) -> dict[str, Any]:
        c = self.coordination
        return build_status(self.cfg, c.leadership, c.journal, c.observations.snapshot(),
                            readiness=self.readiness(), paused=c.pauses.paused())

    def readiness(self, groups: list[GroupConfig] | None = None,
                  ) -> dict[str, dict[str, StandbyReadiness]] | None:
        """Standby readiness read live for an operator command; None if the cloud cannot say."""
        chosen = self.cfg.groups if groups is None else groups
        try:
            facts = read_facts(self.cloud, self.cloud, chosen)
        except (CloudError, ConfigError) as e:
            log.warning("could not read standby readiness", extra={"error": str(e)})
            return None
        return {g.name: evaluate(g, facts[g.name]) for g in chosen}


@contextmanager
def client(cfg: Config) -> Iterator[Client]:
    coordination = connect(cfg.zookeeper, f"cli-{cfg.controller.id}",
                           retention=cfg.zookeeper.journal_retention)
    try:
        yield Client(cfg, coordination)
    finally:
        coordination.close()


class Replica:
    """One controller process: health on every replica, the engine acting on the leader."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.cloud = EcsCloud(cfg.cloud)
        self.coordination = connect(cfg.zookeeper, cfg.controller.id,
                                    retention=cfg.zookeeper.journal_retention)
        self.addresses = MemberAddresses(self.cloud, cfg.instances)
        self._stop = threading.Event()
        self._engine_thread: threading.Thread | None = None
        self._readiness_thread: threading.Thread | None = None
        self._build(cfg)
        self.server = OpsServer(
            cfg.controller.listen_host, cfg.controller.listen_port,
            liveness=self._liveness, readiness=self._readiness, status=self.status,
        )
        metrics.BUILD_INFO.labels(version=__version__, controller=cfg.controller.id).set(1)

    def _build(self, cfg: Config) -> None:
        c = self.coordination
        self.health = HealthMonitor(cfg.groups, controller_id=cfg.controller.id,
                                    addresses=self.addresses.get, sink=c.observations.publish,
                                    cloud=self.cloud)
        verifier = ProbeVerifier(cfg.groups, cloud=self.cloud, addresses=self.addresses.get)
        deps = Collaborators(self.cloud, c.leadership, c.journal, guest_factory(self.cloud), verifier,
                             SystemClock())
        # ROUTINE reads on a slow interval, in their own thread: never in a failover's way.
        self.standby_readiness = ReadinessTracker(cfg.groups, self.cloud, self.cloud, SystemClock())
        self.engine = Engine(cfg, deps, c.observations, c.requests,
                             readiness=self.standby_readiness.ready_map,
                             recheck_readiness=self.standby_readiness.recheck,
                             paused=c.pauses.paused)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.server.start()
        self.coordination.join()
        self._start_workers()
        log.info("replica running", extra={"controller": self.cfg.controller.id,
                                           "groups": len(self.cfg.groups),
                                           "listen": self.cfg.controller.listen})

    def _start_workers(self) -> None:
        self.health.start()
        self._stop = threading.Event()
        self._engine_thread = threading.Thread(target=self.engine.run_forever, args=(self._stop,),
                                               name="engine", daemon=True)
        self._engine_thread.start()
        self._readiness_thread = threading.Thread(target=self.standby_readiness.run_forever,
                                                  args=(self._stop,), name="readiness", daemon=True)
        self._readiness_thread.start()

    def _stop_workers(self, grace_s: float) -> None:
        self._stop.set()
        if self._engine_thread is not None:
            self._engine_thread.join(timeout=5)
        if self._readiness_thread is not None:
            self._readiness_thread.join(timeout=5)
        self.engine.shutdown(grace_s)
        self.health.stop()

    def stop(self, grace_s: float = 30.0) -> None:
        """Graceful: running failovers finish their step, then leadership is released at once."""
        log.info("stopping replica", extra={"controller": self.cfg.controller.id})
        self._stop_workers(grace_s)
        self.coordination.close()
        metrics.set_leader(False)
        self.server.stop()

    def reload(self, cfg: Config) -> list[str]:
        """Applies a new config's groups; returns what needs a restart instead."""
        fixed = [k for k in ("controller", "zookeeper", "cloud")
                 if getattr(cfg, k) != getattr(self.cfg, k)]
        self._stop_workers(grace_s=60.0)
        self.cfg = cfg
        self.addresses = MemberAddresses(self.cloud, cfg.instances)
        self._build(cfg)
        self._start_workers()
        return fixed

    # --------------------------------------------------------------- probes

    def _liveness(self) -> tuple[bool, str]:
        if self._engine_thread is not None and not self._engine_thread.is_alive():
            return False, "engine thread died"
        age, limit = self.engine.loop_age(), self.cfg.controller.liveness_max_tick_age_s
        if age > limit:
            return False, f"engine loop stuck: no round for {age:.0f} s (limit {limit:g} s)"
        return True, ""

    def _readiness(self) -> tuple[bool, str]:
        if not self.coordination.session.connected:
            return False, f"zookeeper {self.coordination.session.state}"
        return True, ""

    def status(self) -> dict[str, Any]:
        c = self.coordination
        doc = build_status(self.cfg, c.leadership, c.journal, c.observations.snapshot(),
                           readiness=self.standby_readiness.snapshot(), paused=c.pauses.paused())
        doc["self"] = {"id": self.cfg.controller.id, "leader": c.leadership.is_leader(),
                       "health": {g: {m: h.up for m, h in members.items()}
                                  for g, members in self.health.snapshot().items()}}
        return doc
