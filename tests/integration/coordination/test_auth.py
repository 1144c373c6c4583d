"""Digest authentication: only the configured identity can read or write below the root."""

from __future__ import annotations

import logging

import pytest
from kazoo.exceptions import NoAuthError

from failover.config import ZkAuth
from failover.coordination import ZkAuthError, connect
from failover.records import Observation
from tests.integration.coordination.helpers import raw_client, wait_for, zk_config
from tests.support.zk import ZkCluster

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
