"""`connect()` that fails after kazoo started leaves no kazoo threads behind (a one-shot CLI
would not notice; a process that retries `connect` would pile them up)."""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoChildrenForEphemeralsError

from failover.config.models import ZookeeperConfig
from failover.coordination import connect
from harness.zk import ZkCluster


def _kazoo_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "zk_loop" in t.name or "_thread_worker" in t.name}


def test_a_root_that_cannot_be_created_releases_the_client(zk_server: ZkCluster, zk_root: str) -> None:
    other = KazooClient(hosts=zk_server.hosts)
    other.start(timeout=15)
    try:
        other.ensure_path(zk_root)
        other.create(f"{zk_root}/eph", ephemeral=True)  # no children allowed under it
        before = _kazoo_threads()
        cfg = ZookeeperConfig(hosts=zk_server.hosts, root=f"{zk_root}/eph/failover", connect_timeout_s=5)
        with pytest.raises(NoChildrenForEphemeralsError):
            connect(cfg, "ctl-x", environ={})
        deadline = time.monotonic() + 5
        while _kazoo_threads() - before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _kazoo_threads() - before, sorted(t.name for t in _kazoo_threads() - before)
    finally:
        other.stop()
        other.close()
