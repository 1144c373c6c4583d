"""ZooKeeper coordination via kazoo: election, fencing epoch, observations, journal, requests.

The only package that imports kazoo. `connect()` builds one replica's session
and its role objects; each role implements one port of `failover.ports`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from failover.config import ZookeeperConfig
from failover.coordination.journal import DEFAULT_RETENTION, ZkJournal
from failover.coordination.leadership import ZkLeadership
from failover.coordination.observations import ZkObservations
from failover.coordination.pauses import ZkPauses
from failover.coordination.registry import ControllerRegistry
from failover.coordination.requests import RequestStatus, ZkRequests
from failover.coordination.session import Coordinator, ZkAuthError, ZkUnavailable

__all__ = [
    "Coordination", "Coordinator", "RequestStatus", "ZkAuthError", "ZkJournal", "ZkLeadership",
    "ZkObservations", "ZkPauses", "ZkRequests", "ZkUnavailable", "connect",
]


@dataclass(frozen=True)
class Coordination:
    """The roles of one session, for the composition root to hand out port by port."""

    session: Coordinator
    registry: ControllerRegistry
    leadership: ZkLeadership
    observations: ZkObservations
    journal: ZkJournal
    requests: ZkRequests
    pauses: ZkPauses

    def join(self) -> None:
        """Become a replica: register, publish, contend (the CLI never calls this)."""
        self.registry.join()
        self.leadership.join()
        self.observations.join()
        self.session.run_worker()

    def close(self) -> None:
        self.session.close()


def connect(
    config: ZookeeperConfig, controller_id: str, *, retention: int = DEFAULT_RETENTION,
    environ: Mapping[str, str] | None = None,
) -> Coordination:
    """Opens the session (raises ZkUnavailable / ZkAuthError) and builds the roles."""
    session = Coordinator(config, controller_id, environ)
    session.start()
    registry = ControllerRegistry(session)
    return Coordination(
        session, registry, ZkLeadership(session, registry), ZkObservations(session, registry),
        ZkJournal(session, retention), ZkRequests(session), ZkPauses(session),
    )
