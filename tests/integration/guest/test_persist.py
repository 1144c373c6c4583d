"""`os: auto` for real: the script detects the family and writes its files under FAILOVER_ROOT.

The bytes the guest writes must be the bytes `render_persistent` shows (one
source of truth), foreign files are backed up once, a second run changes
nothing, and release restores the originals. Never the host's /etc.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from failover.guest import render_persistent, render_runtime
from failover.guest.persistent import CLOUD_INIT_GUARD, GUARD_CONTENT
from failover.model import GuestNetwork
from tests.integration.guest.netlab import ENI_NAME, GuestNetns

pytestmark = pytest.mark.lab

ROOTS = {
    "rhel": {
        "etc/os-release": 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.9"\n',
        f"etc/sysconfig/network-scripts/ifcfg-{ENI_NAME}": f"DEVICE={ENI_NAME}\nBOOTPROTO=dhcp\n",
    },
    "debian": {
        "etc/os-release": 'ID=debian\nVERSION_ID="11"\n',
        "etc/network/interfaces": "auto lo\niface lo inet loopback\n",
    },
    "suse": {
        "etc/os-release": 'ID="sles"\nID_LIKE="suse"\nVERSION_ID="15.5"\n',
        "etc/sysconfig/network/config": "NETCONFIG_DNS_POLICY=auto\n",
    },
    "netplan": {
        "etc/os-release": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n',
        "etc/netplan/50-cloud-init.yaml": "network:\n  version: 2\n",
        "etc/cloud/cloud.cfg": "users: []\n",
    },
    "netplan-legacy": {
        "etc/os-release": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="20.04"\n',
        "etc/netplan/50-cloud-init.yaml": "network:\n  version: 2\n",
        "etc/cloud/cloud.cfg": "users: []\n",
    },
}

BACKED_UP = {
    "rhel": {f"etc/sysconfig/network-scripts/ifcfg-{ENI_NAME}.failover-bak"},
    "debian": {"etc/network/interfaces.failover-bak"},  # the `source` line was missing
    "suse": set(),
    "netplan": set(),
    "netplan-legacy": set(),
}


def _make_root(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (p.read_text(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def _ok(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"


@pytest.mark.parametrize("family", sorted(ROOTS))
def test_auto_detects_and_writes_what_render_shows(
    guest_ns: GuestNetns, eni: GuestNetwork, configure: str, release: str, tmp_path: Path, family: str
) -> None:
    root = tmp_path / "root"
    _make_root(root, ROOTS[family])
    original = _snapshot(root)
    guest_ns.attach("a")
    env = {"FAILOVER_ROOT": str(root)}

    r = guest_ns.sh("a", configure, **env)
    _ok(r)
    assert f"persistent configuration: {family}\n" in r.stdout
    assert "warning" not in r.stderr
    expected = render_persistent(family, eni, dev=ENI_NAME)
    for f in expected.files:
        if f.path == CLOUD_INIT_GUARD and "etc/cloud/cloud.cfg" not in ROOTS[family]:
            continue
        written = root / f.path.lstrip("/")
        assert written.read_text() == f.content, f.path
        assert oct(written.stat().st_mode & 0o777) == oct(int(f.mode, 8)), f.path
    for rel, text in ROOTS[family].items():
        if (root / rel).read_text() != text:  # we changed a foreign file: its original is kept
            assert (root / f"{rel}.failover-bak").read_text() == text
    backups = {k for k in _snapshot(root) if k.endswith(".failover-bak")}
    assert backups == BACKED_UP[family]
    if family.startswith("netplan"):
        assert (root / CLOUD_INIT_GUARD.lstrip("/")).read_text() == GUARD_CONTENT
        # generated now: a networkd restart finds the ENI's rules in its own config
        network = (root / f"run/systemd/network/10-netplan-{ENI_NAME}.network").read_text()
        assert all(f"From={ip}" in network for ip in eni.ips)
    after_first = _snapshot(root)

    _ok(guest_ns.sh("a", configure, **env))
    assert _snapshot(root) == after_first, "a second run must change nothing"

    if family.startswith("netplan"):
        gen = subprocess.run(["netplan", "generate", "--root-dir", str(root)],
                             capture_output=True, text=True, timeout=60)
        assert gen.returncode == 0, gen.stderr
        assert (root / f"run/systemd/network/10-netplan-{ENI_NAME}.network").exists()
        for p in (root / "run").rglob("*"):
            p.unlink() if p.is_file() else None

    _ok(guest_ns.sh("a", release, **env))
    left = {k: v for k, v in _snapshot(root).items() if not k.startswith("run/")}
    guard = CLOUD_INIT_GUARD.lstrip("/")
    left.pop(guard, None)  # the cloud-init guard stays: other config may rely on it
    if family == "debian":
        # the `source` line stays (harmless); its backup is the untouched original
        assert left.pop("etc/network/interfaces.failover-bak")[0] == ROOTS["debian"]["etc/network/interfaces"]
        assert "source /etc/network/interfaces.d/failover-*.cfg" in left.pop("etc/network/interfaces")[0]
        original.pop("etc/network/interfaces")
    assert left == original, "release leaves the originals and nothing of ours"


@pytest.mark.parametrize("family", ["rhel", "debian", "suse", "netplan"])
def test_an_explicit_family_writes_its_files_without_detection(
    guest_ns: GuestNetns, eni: GuestNetwork, tmp_path: Path, family: str
) -> None:
    root = tmp_path / "root"
    (root / "etc/network").mkdir(parents=True)
    (root / "etc/network/interfaces").write_text("source /etc/network/interfaces.d/*\n")
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", render_runtime(eni, family), FAILOVER_ROOT=str(root)))
    for f in render_persistent(family, eni, dev=ENI_NAME).files:
        if f.path != CLOUD_INIT_GUARD:
            assert (root / f.path.lstrip("/")).read_text() == f.content
    assert not (root / "etc/network/interfaces.failover-bak").exists()


def test_unknown_family_warns_but_the_eni_still_works(guest_ns: GuestNetns, configure: str, tmp_path: Path) -> None:
    guest_ns.attach("a")
    r = guest_ns.sh("a", configure, FAILOVER_ROOT=str(tmp_path))
    _ok(r)
    assert "warning: cannot tell this OS's network configuration family" in r.stderr
    guest_ns.serve("a")
    assert guest_ns.ask("192.168.77.50") == "a 192.168.77.50"
    assert os.listdir(tmp_path) == []
