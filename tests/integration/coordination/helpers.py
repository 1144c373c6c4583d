"""Shared helpers for the coordination tests: replicas on a real ZooKeeper, waits, session kills."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from kazoo.client import KazooClient

from failover.config import ZkAuth, ZookeeperConfig
from failover.coordination import Coordination, connect

T = TypeVar("T")
SESSION_S = 2.0


def zk_config(hosts: str, root: str, session_s: float = SESSION_S, auth: ZkAuth | None = None
              ) -> ZookeeperConfig:
    return ZookeeperConfig(hosts=hosts, root=root, session_timeout_s=session_s,
                           connect_timeout_s=10.0, auth=auth)


@contextmanager
def replicas(hosts: str, root: str, ids: list[str], session_s: float = SESSION_S,
             join: bool = True) -> Iterator[dict[str, Coordination]]:
    out: dict[str, Coordination] = {}
    try:
        for cid in ids:
            out[cid] = connect(zk_config(hosts, root, session_s), cid)
            if join:
                out[cid].join()
        yield out
    finally:
        for c in out.values():
            with contextlib.suppress(Exception):
                c.close()


def leaders(reps: dict[str, Coordination]) -> list[str]:
    return [cid for cid, c in reps.items() if c.leadership.is_leader()]


def one_leader(reps: dict[str, Coordination]) -> str | None:
    found = leaders(reps)
    return found[0] if len(found) == 1 else None


def expire_session(hosts: str, coord: Coordination) -> None:
    """Expires a live session the way ZooKeeper does for a dead client.

    A second client attaches to the same session id and password and closes
    it; the server ends the session and deletes its ephemerals, and the owner
    learns it only when it reconnects (kazoo reports LOST). This is kazoo's
    own testing approach, with a real server.
    """
    cid = coord.session.client.client_id
    assert cid is not None, "session not live"
    thief = KazooClient(hosts=hosts, client_id=cid, timeout=SESSION_S)
    thief.start(timeout=10)
    thief.stop()
    thief.close()


def raw_client(hosts: str, auth: list[tuple[str, str]] | None = None) -> KazooClient:
    zk = KazooClient(hosts=hosts, timeout=4.0, auth_data=auth)
    zk.start(timeout=10)
    return zk
