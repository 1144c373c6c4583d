"""Digest authentication: only the configured identity can read or write below the root."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import OPEN_ACL_UNSAFE

from failover.config import ZkAuth
from failover.coordination import ZkAclError, ZkAuthError, connect
from failover.records import Observation
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.coordination.helpers import raw_client, zk_config

SECRET = "s3cret-pw-XYZ"


def test_only_the_configured_identity_can_touch_the_tree(
    zk_server: ZkCluster, zk_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = zk_config(zk_server.hosts, zk_root + "/secure", auth=ZkAuth(credential_env="ZK_CRED"))
    rep = connect(cfg, "a", environ={"ZK_CRED": f"failover:{SECRET}"})
    try:
        rep.join()
        wait_for(rep.leadership.is_leader, what="a to lead")
        rep.observations.publish(Observation("a", "web", "i-a", True, 1.0))
        wait_for(lambda: rep.observations.snapshot().get("web"), what="the vote")
        assert SECRET not in repr(rep.session)
        outsider = raw_client(zk_server.hosts)
        wrong = raw_client(zk_server.hosts, auth=[("digest", "failover:wrong")])
        try:
            for client in (outsider, wrong):
                with pytest.raises(NoAuthError):
                    client.get(cfg.root + "/epoch")
                with pytest.raises(NoAuthError):
                    client.create(cfg.root + "/intruder", b"x")
                with pytest.raises(NoAuthError):
                    client.set(cfg.root + "/epoch", b"{}")
            acl, _ = rep.session.client.get_acls(cfg.root + "/epoch")
            assert [a.id.scheme for a in acl] == ["digest"]
            assert acl[0].id.id.startswith("failover:") and SECRET not in acl[0].id.id
        finally:
            for client in (outsider, wrong):
                client.stop()
                client.close()
    finally:
        rep.close()
    assert SECRET not in caplog.text


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "ZK_CRED is not set"),
    ({"ZK_CRED": "no-colon-here"}, "must hold user:password"),
    ({"ZK_CRED": ":pw"}, "must hold user:password"),
])
def test_bad_credential_names_the_variable_never_the_value(
    zk_server: ZkCluster, zk_root: str, environ: dict[str, str], expected: str
) -> None:
    cfg = zk_config(zk_server.hosts, zk_root, auth=ZkAuth(credential_env="ZK_CRED"))
    with pytest.raises(ZkAuthError, match=expected) as err:
        connect(cfg, "a", environ=environ)
    assert "zookeeper.auth.credential_env" in str(err.value)
    assert "no-colon-here" not in str(err.value)


def test_turning_auth_on_repairs_the_open_tree_at_start(
    zk_server: ZkCluster, zk_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    root = zk_root + "/upgrade"
    open_cfg = zk_config(zk_server.hosts, root)
    before = connect(open_cfg, "a")
    try:
        assert before.secure() == 0
        before.join()
        wait_for(before.leadership.is_leader, what="a to lead without auth")
        before.observations.publish(Observation("a", "web", "i-a", True, 1.0))
        wait_for(lambda: before.observations.snapshot().get("web"), what="the vote")
    finally:
        before.close()
    assert caplog.text.count("zookeeper.auth is not set") == 1
    cfg = zk_config(zk_server.hosts, root, auth=ZkAuth(credential_env="ZK_CRED"))
    after = connect(cfg, "a", environ={"ZK_CRED": f"failover:{SECRET}"})
    try:
        assert after.secure() >= 4  # root, epoch, controllers, observations/...
        assert after.secure() == 0  # nothing left open
        outsider = raw_client(zk_server.hosts)
        try:
            refused = 0
            paths = [root, *(f"{root}/{k}" for k in after.session.client.get_children(root))]
            for path in paths:
                writes: tuple[Callable[[str], object], ...] = (
                    lambda p: outsider.create(p + "/intruder", b"x"),
                    lambda p: outsider.set(p, b"{}"),
                    lambda p: outsider.set_acls(p, OPEN_ACL_UNSAFE))
                for write in writes:
                    with pytest.raises(NoAuthError):
                        write(path)
                    refused += 1
            assert refused == 3 * len(paths) and len(paths) >= 4
        finally:
            outsider.stop()
            outsider.close()
    finally:
        after.close()
    assert SECRET not in caplog.text


def test_a_znode_of_another_identity_stops_the_start_with_one_line(
    zk_server: ZkCluster, zk_root: str
) -> None:
    root = zk_root + "/foreign"
    other = connect(zk_config(zk_server.hosts, root, auth=ZkAuth(credential_env="ZK_CRED")), "x",
                    environ={"ZK_CRED": "someone:else-pw"})
    try:
        other.session.ensure_path(root + "/journal")
    finally:
        other.close()
    cfg = zk_config(zk_server.hosts, root, auth=ZkAuth(credential_env="ZK_CRED"))
    ours = connect(cfg, "a", environ={"ZK_CRED": f"failover:{SECRET}"})
    try:
        with pytest.raises(ZkAclError) as err:
            ours.secure()
    finally:
        ours.close()
    text = str(err.value)
    assert "\n" not in text and SECRET not in text
    assert f"znode {root} belongs to another identity" in text and "setAcl -R" in text
