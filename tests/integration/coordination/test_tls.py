"""ZooKeeper client TLS (`zookeeper.tls`) against Debian's ZooKeeper on a secure client port
(Netty, PEM key and trust stores), with certificates made by openssl for the test."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from failover.config import ZkTls
from failover.coordination import ZkUnavailable, connect
from harness.zk import free_port, require_zookeeper
from tests.integration.coordination.helpers import zk_config

NETTY_CODEC = "/usr/share/java/netty-codec.jar"  # not in zookeeper.jar's manifest class path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"),
             "-out", str(d / f"{name}.pem"), "-days", "2", "-subj", f"/CN={name}")


def _signed(d: Path, name: str, ca: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"),
             "-out", str(d / f"{name}.csr"), "-subj", f"/CN={name}")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{ca}.pem"),
             "-CAkey", str(d / f"{ca}.key"), "-CAcreateserial", "-out", str(d / f"{name}.pem"),
             "-days", "2", "-extfile", str(d / "san.cnf"))


@pytest.fixture(scope="module")
def tls_zk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl missing: apt-get install -y openssl", pytrace=False)
    d = tmp_path_factory.mktemp("zktls")
    _ca(d, "ca")
    _ca(d, "other-ca")
    _signed(d, "server", "ca")
    _signed(d, "client", "ca")
    (d / "server-keystore.pem").write_text((d / "server.key").read_text() + (d / "server.pem").read_text())
    (d / "data").mkdir()
    plain, secure = free_port(), free_port()
    (d / "zoo.cfg").write_text(f"tickTime=500\ndataDir={d / 'data'}\nclientPort={plain}\n"
                               f"secureClientPort={secure}\nadmin.enableServer=false\n")
    java, *rest = require_zookeeper()
    cp = rest.index("-cp") + 1
    rest[cp] += ":" + NETTY_CODEC
    props = {"zookeeper.serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
             "zookeeper.ssl.keyStore.location": str(d / "server-keystore.pem"),
             "zookeeper.ssl.keyStore.type": "PEM",
             "zookeeper.ssl.trustStore.location": str(d / "ca.pem"),
             "zookeeper.ssl.trustStore.type": "PEM"}
    main = rest.pop()
    cmd = [java, *rest, *(f"-D{k}={v}" for k, v in props.items()), main, str(d / "zoo.cfg")]
    with open(d / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while b"bound to port" not in (d / "server.log").read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, (d / "server.log").read_text()[-2000:]
            time.sleep(0.2)
        yield d, secure
    finally:
        proc.kill()
        proc.wait(10)


def test_a_replica_coordinates_over_tls(tls_zk: tuple[Path, int]) -> None:
    d, port = tls_zk
    tls = ZkTls(ca=str(d / "ca.pem"), cert=str(d / "client.pem"), key=str(d / "client.key"))
    cfg = zk_config(f"127.0.0.1:{port}", "/tls-test", session_s=4.0).model_copy(update={"tls": tls})
    coord = connect(cfg, "ctl-tls")
    try:
        assert coord.pauses.pause("web", "test")
        assert set(coord.pauses.paused()) == {"web"}
        assert coord.session.client.client_state == "CONNECTED"
    finally:
        coord.close()


def test_plain_tcp_or_an_unknown_ca_cannot_connect_to_the_secure_port(tls_zk: tuple[Path, int]) -> None:
    d, port = tls_zk
    plain = zk_config(f"127.0.0.1:{port}", "/tls-test", session_s=2.0).model_copy(
        update={"connect_timeout_s": 3.0})
    with pytest.raises(ZkUnavailable):
        connect(plain, "ctl-plain").close()
    wrong = plain.model_copy(update={"tls": ZkTls(ca=str(d / "other-ca.pem"))})
    with pytest.raises(ZkUnavailable):
        connect(wrong, "ctl-wrong-ca").close()


def test_tls_config_is_checked() -> None:
    with pytest.raises(ValueError, match="cert and key go together"):
        ZkTls(ca="/ca.pem", cert="/c.pem")
