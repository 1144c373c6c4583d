"""Persistent config checked by the distributions' own parsers, offline: ifupdown's `ifquery` and
NetworkManager's `nmcli --offline` (NM >= 1.36). Each is used where installed, or from a
package unpacked under $FAILOVER_DISTRO_TOOLS (`apt-get download ifupdown network-manager
libnm0` and `dpkg -x` each there): unpacking touches no system configuration, which installing
either on a shared machine would. `make test` unpacks them (the Makefile's distro-tools target)
and points $FAILOVER_DISTRO_TOOLS there; a bare pytest without the tool skips, saying which one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from failover.guest import check_network, render_persistent
from failover.model import GuestNetwork

NET = check_network(GuestNetwork(
    mac="00:16:3e:00:00:50", ips=("192.168.1.50", "192.168.1.51", "192.168.1.52"),
    cidr="192.168.1.0/24", gateway="192.168.1.253", device="eth1", table=1001,
))


def _tool(name: str, *paths: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    root = os.environ.get("FAILOVER_DISTRO_TOOLS")
    if root:
        for rel in paths:
            if (Path(root) / rel).exists():
                env["LD_LIBRARY_PATH"] = str(Path(root) / "usr/lib/x86_64-linux-gnu")
                return [str(Path(root) / rel)], env
    found = shutil.which(name) or next((p for p in (f"/sbin/{name}", f"/usr/sbin/{name}") if os.path.exists(p)), None)
    if not found:
        pytest.skip(f"{name} is not installed (set FAILOVER_DISTRO_TOOLS to an unpacked package)")
    return [found], env


def test_ifquery_parses_the_debian_stanza(tmp_path: Path) -> None:
    ifquery, env = _tool("ifquery", "sbin/ifquery")
    f = render_persistent("debian", NET).files[0]
    interfaces = tmp_path / "interfaces"
    interfaces.write_text(f.content)

    def q(*args: str) -> str:
        r = subprocess.run([*ifquery, "-i", str(interfaces), "--state-dir", str(tmp_path), *args],
                           capture_output=True, text=True, timeout=20, env=env, check=False)
        assert r.returncode == 0, r.stderr
        return r.stdout

    opts = q("eth1")
    assert "address: 192.168.1.50\n" in opts and "netmask: 255.255.255.255\n" in opts
    # ifquery shows post-up as up
    assert "up: ip addr replace 192.168.1.52/32 dev eth1\n" in opts
    assert "up: ip rule del from 192.168.1.51 table 1001" in opts
    # started by hot-plug only: a boot without the ENI does not fail networking.service
    assert q("--allow", "hotplug", "--list").split() == ["eth1"]
    assert "eth1" not in q("--list").split()


def test_nmcli_offline_builds_the_profile(tmp_path: Path) -> None:
    nmcli, env = _tool("nmcli", "usr/bin/nmcli")
    probe = subprocess.run([*nmcli, "--offline", "connection", "add", "type", "dummy", "ifname", "d0"],
                           capture_output=True, text=True, timeout=20, env=env, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this nmcli has no --offline (NetworkManager 1.36+): {probe.stderr.strip()[:100]}")
    command = render_persistent("nmcli", NET).commands[0]
    add = re.search(r"nmcli connection add (.*?); fi$", command)
    assert add is not None, command
    r = subprocess.run(f'"$NMCLI" --offline connection add {add.group(1)}', shell=True, capture_output=True,
                       text=True, timeout=20, env={**env, "NMCLI": nmcli[0]}, check=False)
    assert r.returncode == 0, r.stderr
    keyfile = r.stdout
    assert "mac-address=00:16:3E:00:00:50" in keyfile
    assert [ln for ln in keyfile.splitlines() if ln.startswith("address")] == [
        "address1=192.168.1.50/32", "address2=192.168.1.51/32", "address3=192.168.1.52/32"]
    assert "never-default=true" in keyfile
    assert "route1=192.168.1.0/24\nroute1_options=src=192.168.1.50,table=1001" in keyfile
    assert "route2=0.0.0.0/0,192.168.1.253\nroute2_options=onlink=true,table=1001" in keyfile
    rules = [ln for ln in keyfile.splitlines() if ln.startswith("routing-rule")]
    assert rules == [f"routing-rule{k}=priority 10000 from {ip} table 1001" for k, ip in enumerate(NET.ips, 1)]
    assert "autoconnect-priority=100" in keyfile
