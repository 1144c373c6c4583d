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

from failover import __version__, metrics, quorum
from failover.cloud.adapter import EcsCloud
from failover.config import Config, ConfigError, GroupConfig
from failover.coordination import ApiShareWatch, Coordination, connect, journal_admin
from failover.coordination.journal_admin import JournalEntry
from failover.engine.execute import Collaborators
from failover.engine.loop import Engine
from failover.engine.observe import EniObserver
from failover.engine.readiness import GroupFacts, ReadinessTracker, StandbyReadiness, evaluate, read_facts
from failover.engine.status import StatusParts, build_status, status_inputs
from failover.engine.view import EniSeen
from failover.guest.executors import CloudAssistantGuest, NoopGuest
from failover.guest.prestage import Stager
from failover.health.addresses import MemberAddresses
from failover.health.jobs import round_cadence_s
from failover.health.monitor import HealthMonitor
from failover.health.notice import NoticeReceiver
from failover.health.verify import ProbeVerifier
from failover.model import CloudError, EniStatus
from failover.ports import GuestConfigurator, GuestStager, SystemClock
from failover.server import CachedDocument, Encoded, OpsServer, SelfPart

log = logging.getLogger("failover.app")

# The session worker's tick: /status is never older than that. A bound of half the quickest
# detection window (0.275 s at the trials' 0.2 s rounds) was tried this stop and withdrawn:
# with it, replicas intermittently stopped counting every vote for a few seconds (members
# up=null, state "degraded" before any fault; trials P2-P4, P9 and the drill-progress test
# failed), seen in about half the runs against none of 4 with 1 s; the cause was not found.
STATUS_MAX_AGE_S = 1.0


def guest_factory(cloud: EcsCloud) -> Callable[[GroupConfig], GuestConfigurator]:
    cache: dict[tuple[str, str, bool], GuestConfigurator] = {}

    def guest_for(group: GroupConfig) -> GuestConfigurator:
        key = (group.guest.method, group.guest.os, group.guest.persist)
        if key not in cache:
            cache[key] = (CloudAssistantGuest(cloud, group.guest.os, persist=group.guest.persist)
                          if group.guest.method == "cloud_assistant" else NoopGuest())
        return cache[key]

    return guest_for


# What an operator command gets to talk to the cloud: one adapter serving every cloud port.
CommandCloud = EcsCloud


def guest_stager() -> GuestStager:
    """What renders the pre-staged guest configuration (provision, validate --live)."""
    return Stager()


def open_cloud(cfg: Config) -> CommandCloud:
    """The cloud adapter alone, for a command that needs no ZooKeeper session (provision,
    validate --live); raises ConfigError for credentials or a proxy it cannot use."""
    return EcsCloud(cfg.cloud)


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
        facts, enis = self.facts()
        readiness = None if facts is None else {g.name: evaluate(g, facts[g.name]) for g in self.cfg.groups}
        reads = c.status_reads([g.name for g in self.cfg.groups])  # O(groups), not O(records)
        return build_status(self.cfg, c.leadership, reads, c.observations.snapshot(),
                            readiness=readiness, enis=enis, paused=c.pauses.paused())

    def facts(self, groups: list[GroupConfig] | None = None,
              ) -> tuple[dict[str, GroupFacts] | None, dict[str, EniSeen]]:
        """The groups' cloud facts read live, and the look at each ENI they give (one batched
        round); (None, every ENI unknown with the error) if the cloud cannot say."""
        chosen = self.cfg.groups if groups is None else groups
        started = time.monotonic()
        try:
            facts = read_facts(self.cloud, self.cloud, chosen)
        except (CloudError, ConfigError) as e:
            log.warning("could not read the cloud", extra={"error": str(e)})
            error = f"the ENI read failed: {e}"
            return None, {g.network_interface: EniSeen(None, None, started, error) for g in chosen}
        return facts, {g.network_interface: EniSeen.of(facts[g.name].eni, started) for g in chosen}

    def readiness(self, groups: list[GroupConfig] | None = None,
                  ) -> dict[str, dict[str, StandbyReadiness]] | None:
        """Standby readiness read live for an operator command; None if the cloud cannot say."""
        chosen = self.cfg.groups if groups is None else groups
        facts, _ = self.facts(chosen)
        return None if facts is None else {g.name: evaluate(g, facts[g.name]) for g in chosen}

    def inspect_journal(self) -> list[JournalEntry]:
        """Every journal znode, decoded or named corrupt (`failover journal inspect`)."""
        return journal_admin.inspect(self.coordination.session)

    def reset_journal(self, failover_id: str | None, *, groups: bool) -> int:
        """Removes one record, or all (and the group state with `groups`); the znode count."""
        return journal_admin.reset(self.coordination.session, failover_id, groups=groups)


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
        try:
            self.coordination.secure()  # ACLs repaired under the root, or one warning without auth
        except Exception:
            self.coordination.close()
            raise
        self.addresses = MemberAddresses(self.cloud, cfg.instances, SystemClock())
        # The account's per-action limit, split by the live replicas (see cloud/budget.py).
        self.api_share = ApiShareWatch(self.coordination.session, self.cloud.budget)
        self._stop = threading.Event()
        self._status_parts = StatusParts()
        self._status = CachedDocument(self._build_status, STATUS_MAX_AGE_S,
                                      fresh=SelfPart(self._self_status, "health", self._own_health))
        self._engine_thread: threading.Thread | None = None
        self._readiness_thread: threading.Thread | None = None
        self._eni_thread: threading.Thread | None = None
        self._holders_made: tuple[object, object, dict[str, tuple[str, tuple[str, ...]] | None]] | None = None
        self._parts_stop = threading.Event()
        self._build(cfg)
        self.server = OpsServer(
            cfg.controller.listen_host, cfg.controller.listen_port,
            liveness=self._liveness, ready=self._ready, status=self._status,
            notice=NoticeReceiver(self._notice_keys, self._going_down),
        )
        metrics.set_build_info(__version__, cfg.controller.id)

    # A reload rebuilds the addresses and the monitor: the notice receiver asks the current ones.
    def _notice_keys(self) -> Mapping[str, str]:
        return self.addresses.notice_keys()

    def _going_down(self, instance: str) -> None:
        self.health.going_down(instance)

    def _build(self, cfg: Config) -> None:
        # Every replica reads the ENIs: the leader decides on them, every /status reports them,
        # and the serving signal probes through the service IPs on the holder they show.
        self.eni_observer = EniObserver(cfg.groups, self.cloud, SystemClock(),
                                        leading=self.coordination.leadership.is_leader,
                                        rate_per_s=cfg.cloud.api_rate_per_s)
        deps = self._build_parts(cfg)
        c = self.coordination
        self.engine = Engine(cfg, deps, c.observations, c.requests,
                             readiness=self.standby_readiness.ready_map,
                             recheck_readiness=self.standby_readiness.recheck,
                             observer=self.eni_observer, paused=c.pauses.paused,
                             readiness_read_at=self.standby_readiness.read_at)

    def _build_parts(self, cfg: Config) -> Collaborators:
        """What a reload rebuilds: health, verify, readiness (the engine lives on)."""
        c = self.coordination
        c.observations.set_vote_ages({g.name: quorum.vote_max_age(round_cadence_s(g))
                                      for g in cfg.groups})
        self.health = HealthMonitor(cfg.groups, controller_id=cfg.controller.id,
                                    addresses=self.addresses.get, sink=c.observations.publish,
                                    cloud=self.cloud, missing=self.addresses.missing,
                                    holders=self._holders)
        verifier = ProbeVerifier(cfg.groups, cloud=self.cloud, addresses=self.addresses.get)
        # ROUTINE reads on a slow interval, in their own thread: never in a failover's way.
        self.standby_readiness = ReadinessTracker(cfg.groups, self.cloud, self.cloud, SystemClock())
        return Collaborators(self.cloud, c.leadership, c.journal, guest_factory(self.cloud), verifier,
                             SystemClock())

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.server.start()
        self.coordination.join()
        self.api_share.join()
        self._start_workers()
        log.info("replica running", extra={"controller": self.cfg.controller.id,
                                           "groups": len(self.cfg.groups),
                                           "listen": self.cfg.controller.listen})

    def _start_workers(self) -> None:
        self.addresses.start()
        self._stop = threading.Event()
        self._engine_thread = threading.Thread(target=self.engine.run_forever, args=(self._stop,),
                                               name="engine", daemon=True)
        self._engine_thread.start()
        self._start_parts()
        self._eni_thread = threading.Thread(target=self.eni_observer.run_forever, args=(self._stop,),
                                            name="eni-observer", daemon=True)
        self._eni_thread.start()

    def _start_parts(self) -> None:
        self.health.start()
        self._parts_stop = threading.Event()
        self._readiness_thread = threading.Thread(target=self.standby_readiness.run_forever,
                                                  args=(self._parts_stop,), name="readiness",
                                                  daemon=True)
        self._readiness_thread.start()

    def _stop_parts(self) -> None:
        self._parts_stop.set()
        if self._readiness_thread is not None:
            self._readiness_thread.join(timeout=5)
        self.health.stop()

    def _stop_workers(self, grace_s: float) -> None:
        self._stop.set()
        if self._engine_thread is not None:
            self._engine_thread.join(timeout=5)
        if self._eni_thread is not None:
            self.eni_observer.wake()
            self._eni_thread.join(timeout=5)
        self.engine.shutdown(grace_s)
        self._stop_parts()
        self.addresses.stop()

    def stop(self, grace_s: float = 30.0) -> None:
        """Graceful: running failovers finish their step, then leadership is released at once."""
        log.info("stopping replica", extra={"controller": self.cfg.controller.id})
        self._stop_workers(grace_s)
        self.coordination.close()  # resigns: the leader gauge drops with it
        self.server.stop()

    def reload(self, cfg: Config) -> list[str]:
        """Applies a new config's groups; returns what needs a restart instead."""
        fixed = [k for k in ("controller", "zookeeper", "cloud")
                 if getattr(cfg, k) != getattr(self.cfg, k)]
        # The engine lives on (its running failovers and releases with it): two engines would
        # run the same failover twice and forget the releases in flight.
        self._stop_parts()
        self.cfg = cfg
        self.addresses.stop()
        self.addresses = MemberAddresses(self.cloud, cfg.instances, SystemClock())
        deps = self._build_parts(cfg)
        self.engine.reconfigure(cfg, deps, self.standby_readiness.ready_map,
                                self.standby_readiness.recheck, self.standby_readiness.read_at)
        self.addresses.start()
        self._start_parts()
        return fixed

    def _holders(self) -> dict[str, tuple[str, tuple[str, ...]] | None]:
        """group -> the ENI's holder and IPs as this replica last read them (serving signal).
        Made again only for a new read or new groups: every probe round asks (12 a second at
        1,000 groups), the ENIs are read once a second."""
        seen, groups = self.eni_observer.seen(), self.cfg.groups
        made = self._holders_made
        if made is not None and made[0] is seen and made[1] is groups:
            return made[2]
        out: dict[str, tuple[str, tuple[str, ...]] | None] = {}
        for g in groups:
            eni = seen.get(g.network_interface)
            if eni is not None and eni.status is EniStatus.IN_USE and eni.instance is not None:
                out[g.name] = (eni.instance, eni.ips)
            else:
                out[g.name] = None  # Available or moving: nobody to probe through the ENI
        self._holders_made = (seen, groups, out)
        return out

    # --------------------------------------------------------------- probes

    def _liveness(self) -> tuple[bool, str]:
        if self._engine_thread is not None and not self._engine_thread.is_alive():
            return False, "engine thread died"
        age, limit = self.engine.loop_age(), self.cfg.controller.liveness_max_tick_age_s
        if age > limit:
            return False, f"engine loop stuck: no round for {age:.0f} s (limit {limit:g} s)"
        return True, ""

    def _ready(self) -> tuple[bool, str]:
        if not self.coordination.session.connected:
            return False, f"zookeeper {self.coordination.session.state}"
        return True, ""

    def status(self) -> dict[str, Any]:
        """The /status document, built at most once per STATUS_MAX_AGE_S (see CachedDocument)."""
        return self._status()

    def _build_status(self) -> Encoded:
        c = self.coordination
        pace = self._status_parts.pace
        reads = c.status.view([g.name for g in self.cfg.groups], pace)  # no read per group
        head, inputs = status_inputs(self.cfg, c.leadership, reads, c.observations.snapshot(),
                                     readiness=self.standby_readiness.answers(),
                                     enis=self.eni_observer.seen(), paused=c.pauses.paused(),
                                     pace=pace)
        # Built by parts: only the groups whose inputs changed since the last document.
        doc, body = self._status_parts.encode(head, inputs, {"as_of": time.time()})
        return Encoded(doc, body)

    def _self_status(self) -> dict[str, Any]:
        """This replica's own part of /status: `leader` read on every request, its health
        verdicts at most 0.1 s old (`SelfPart`)."""
        return {"id": self.cfg.controller.id, "leader": self.coordination.leadership.is_leader()}

    def _own_health(self) -> dict[str, dict[str, bool | None]]:
        return {g: {m: h.up for m, h in members.items()}
                for g, members in self.health.verdicts().items()}
