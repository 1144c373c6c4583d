"""ZooKeeper coordination via kazoo: election, fencing epoch, observations, journal, requests.

The only package that imports kazoo. `connect()` builds one replica's session
and its role objects; each role implements one port of `failover.ports`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from failover.config import ZookeeperConfig
from failover.coordination.acl import ZkAclError, check_at_start
from failover.coordination.api_share import ApiShareWatch
from failover.coordination.journal import DEFAULT_RETENTION, ZkJournal
from failover.coordination.leadership import ZkLeadership
from failover.coordination.observations import ZkObservations
from failover.coordination.pauses import ZkPauses
from failover.coordination.registry import ControllerRegistry
from failover.coordination.requests import ZkRequests
from failover.coordination.session import ZkAuthError, ZkSession, ZkUnavailable
from failover.coordination.status_reads import StatusMirror, StatusReads, StatusView

__all__ = [
    "ApiShareWatch",
    "Coordination",
    "StatusMirror",
    "StatusReads",
    "StatusView",
    "ZkAclError",
    "ZkAuthError",
    "ZkJournal",
    "ZkLeadership",
    "ZkObservations",
    "ZkPauses",
    "ZkRequests",
    "ZkSession",
    "ZkUnavailable",
    "connect",
]


@dataclass(frozen=True)
class Coordination:
    """The roles of one session, for the composition root to hand out port by port."""

    session: ZkSession
    registry: ControllerRegistry
    leadership: ZkLeadership
    observations: ZkObservations
    journal: ZkJournal
    requests: ZkRequests
    status: StatusMirror  # what a replica's /status reads (the CLI uses `status_reads`)
    pauses: ZkPauses

    def secure(self) -> int:
        """A replica's start: our ACL on every znode under the root (auth on; raises ZkAclError
        when one cannot be changed), or one warning that the tree is open (auth off)."""
        return check_at_start(self.session)

    def status_reads(self, groups: list[str]) -> StatusReads:
        """The journal as one status document needs it, read in a few pipelined rounds."""
        return StatusReads(self.session, self.journal, groups)

    def join(self) -> None:
        """Become a replica: register, publish, contend (the CLI never calls this)."""
        self.registry.join()
        self.leadership.join()
        self.observations.join()
        self.session.run_worker()

    def close(self) -> None:
        self.status.close()
        self.session.close()


def connect(
    config: ZookeeperConfig, controller_id: str, *, retention: int = DEFAULT_RETENTION,
    environ: Mapping[str, str] | None = None,
) -> Coordination:
    """Opens the session (raises ZkUnavailable / ZkAuthError) and builds the roles."""
    session = ZkSession(config, controller_id, environ)
    session.start()
    try:
        registry = ControllerRegistry(session)
        leadership = ZkLeadership(session, registry)
        journal = ZkJournal(session, retention)
        return Coordination(
            session, registry, leadership, ZkObservations(session, registry),
            journal, ZkRequests(session, fence=leadership.fence), StatusMirror(session, journal),
            ZkPauses(session),
        )
    except BaseException:
        session.close()  # the session's threads go with the failure
        raise
