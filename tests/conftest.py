"""Shared fixtures: real ZooKeeper (one node, or an ensemble on request) and a safe environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.zk import ZkCluster

# The SDK's credential chain would ask the ECS metadata address; proxies would
# hijack loopback calls. Neither may ever happen in a test.
os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
os.environ.setdefault("ALIBABA_CLOUD_ACCESS_KEY_ID", "AKIDEXAMPLE")
os.environ.setdefault("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "SECRETEXAMPLE")
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZkCluster]:
    """One ZooKeeper node for the whole session; tests isolate themselves by znode root."""
    cluster = ZkCluster(tmp_path_factory.mktemp("zk1"), size=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def zk_ensemble(tmp_path: Path) -> Iterator[ZkCluster]:
    """A fresh 3-node ensemble for one test (fault tests stop and restart members)."""
    cluster = ZkCluster(tmp_path / "ens", size=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def zk_root(request: pytest.FixtureRequest) -> str:
    """A znode root unique to the test, so tests share one server safely."""
    safe = "".join(c if c.isalnum() else "_" for c in request.node.name)[:80]
    return f"/t/{safe}_{os.getpid()}"
