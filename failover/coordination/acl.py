"""Who may write under the root: verified and repaired when a replica starts.

kazoo's default ACL applies to znodes created from then on. A deployment that turns
`zookeeper.auth` on for an existing root keeps every older znode `world:anyone`: an
anonymous client could file drills, vote, bump the epoch or forge journal records a
resume would execute. So a replica with auth walks the tree under the root once at start
and sets our ACL wherever another one is found. A znode it may not change (owned by
another identity) stops the start with one line saying how to fix it. Without auth the
replica says once that the tree is open.
"""

from __future__ import annotations

import logging
from typing import Any

from kazoo.exceptions import BadVersionError, NoAuthError, NoNodeError
from kazoo.security import ACL

from failover.coordination.session import ZkSession

log = logging.getLogger(__name__)
RACE_ROUNDS = 5  # replicas starting together: a few re-reads settle it


class ZkAclError(ValueError):
    """A znode under the root cannot be given our ACL (never names the credential)."""


def _same(found: list[ACL], wanted: list[ACL]) -> bool:
    return sorted(map(tuple, found)) == sorted(map(tuple, wanted))


def _foreign(coord: ZkSession, path: str) -> ZkAclError:
    return ZkAclError(
        f"zookeeper.auth: znode {path} belongs to another identity and cannot get this "
        f"replica's ACL; as its owner (or ZooKeeper's super user) run "
        f"`setAcl -R {coord.layout.root} digest:<user>:<hash>:cdrwa` in zkCli, or use "
        f"a new zookeeper.root")


def secure_tree(coord: ZkSession) -> int:
    """Gives every znode under (and including) the root our ACL; returns how many changed.

    No-op without auth. Breadth-first, one pipelined round per level.
    """
    wanted = coord.acl
    if wanted is None:
        return 0
    repaired = 0
    level = [coord.layout.root]
    while level:
        repaired += _secure_level(coord, level, wanted)
        kids = coord.many(coord.client.get_children_async, [(p,) for p in level])
        level = [f"{p.rstrip('/')}/{k}" for p, names in zip(level, kids, strict=True)
                 if isinstance(names, list) for k in names if f"{p}/{k}" != "//zookeeper"]
    if repaired:
        log.warning("zookeeper.auth: set this replica's ACL on %d znodes under %s that were open "
                    "to other identities", repaired, coord.layout.root)
    return repaired


def _secure_level(coord: ZkSession, paths: list[str], wanted: Any) -> int:
    """Our ACL on `paths`; how many changed. Replicas starting together race here: a set that
    finds the ACL's version moved is read and judged again (the racer, of the same identity,
    normally set ours already)."""
    repaired = 0
    for _ in range(RACE_ROUNDS):
        acls = coord.many(coord.client.get_acls_async, [(p,) for p in paths])
        fixes: list[tuple[str, Any]] = []
        for path, got in zip(paths, acls, strict=True):
            if isinstance(got, NoNodeError):
                continue
            if isinstance(got, NoAuthError):
                raise _foreign(coord, path)
            if isinstance(got, Exception):
                raise got
            acl, stat = got
            if not _same(acl, wanted):
                fixes.append((path, stat.aversion))
        done = coord.many(coord.client.set_acls_async,
                          [(p, wanted, version) for p, version in fixes])
        raced: list[str] = []
        for (path, _), res in zip(fixes, done, strict=True):
            if isinstance(res, NoAuthError):
                raise _foreign(coord, path)
            if isinstance(res, BadVersionError):
                raced.append(path)
            elif isinstance(res, Exception) and not isinstance(res, NoNodeError):
                raise res
            elif not isinstance(res, NoNodeError):
                repaired += 1
        if not raced:
            return repaired
        paths = raced
    raise BadVersionError(f"zookeeper.auth: the ACLs of {paths[:3]} kept changing while this "
                          "replica set them")


def check_at_start(coord: ZkSession) -> int:
    """A replica's start: repair the ACLs with auth, warn once without."""
    if coord.acl is None:
        log.warning("zookeeper.auth is not set: anyone who reaches ZooKeeper at %s can register "
                    "controllers, vote, file drills and forge journal records under %s; set "
                    "zookeeper.auth (digest) for production", coord.config.hosts, coord.layout.root)
        return 0
    return secure_tree(coord)
