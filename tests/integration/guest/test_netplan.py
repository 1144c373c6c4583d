"""The netplan output, accepted by the real `netplan generate` (Debian's netplan.io) in a temp root."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from failover.guest import check_network, render_persistent
from failover.model import GuestNetwork

NET = GuestNetwork(
    mac="00:16:3e:00:00:50", ips=tuple(f"192.168.1.{i}" for i in range(50, 70)),
    cidr="192.168.1.0/24", gateway="192.168.1.253", device="eth1", table=1001,
)


def _generate(root: Path, content: str) -> subprocess.CompletedProcess[str]:
    path = root / "etc/netplan/60-failover-eth1.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    os.chmod(path, 0o600)
    return subprocess.run(["netplan", "generate", "--root-dir", str(root)],
                          capture_output=True, text=True, timeout=60)


def _sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    out: list[tuple[str, dict[str, list[str]]]] = []
    for line in text.splitlines():
        if line.startswith("["):
            out.append((line.strip("[]"), {}))
        elif "=" in line and out:
            k, v = line.split("=", 1)
            out[-1][1].setdefault(k, []).append(v)
    return out


@pytest.mark.parametrize("family", ["netplan", "netplan-legacy"])
def test_netplan_generate_accepts_it(tmp_path: Path, family: str) -> None:
    f = render_persistent(family, check_network(NET)).files[0]
    assert f.path == "/etc/netplan/60-failover-eth1.yaml"
    r = _generate(tmp_path, f.content)
    assert r.returncode == 0, r.stderr
    network = (tmp_path / "run/systemd/network/10-netplan-eth1.network").read_text()
    link = (tmp_path / "run/systemd/network/10-netplan-eth1.link").read_text()
    sections = _sections(network)
    match = dict(sections[0][1])
    assert match["PermanentMACAddress"] == ["00:16:3e:00:00:50"]
    net = next(s for name, s in sections if name == "Network")
    # host addresses: networkd adds no connected route via the ENI to main (see persistent.py)
    assert net["Address"] == [f"{ip}/32" for ip in NET.ips]
    assert "Gateway" not in net, "no default route in the main table"
    # optional: a former holder (or an image of one) boots without the ENI and is still online
    assert next(s for name, s in sections if name == "Link")["RequiredForOnline"] == ["no"]
    routes = [s for name, s in sections if name == "Route"]
    assert all(r["Table"] == ["1001"] for r in routes)
    assert [r["Destination"] for r in routes if "Gateway" not in r] == [["192.168.1.0/24"]]
    defaults = [r for r in routes if "Gateway" in r]
    assert defaults == [{"Destination": ["0.0.0.0/0"], "Gateway": ["192.168.1.253"], "GatewayOnLink": ["true"],
                         "Table": ["1001"]}]
    rules = [s for name, s in sections if name == "RoutingPolicyRule"]
    assert [r["From"][0] for r in rules] == list(NET.ips)
    assert all(r["Table"] == ["1001"] and r["Priority"] == ["10000"] for r in rules)
    assert "Name=eth1" in link  # set-name


def test_broken_yaml_is_refused(tmp_path: Path) -> None:
    content = render_persistent("netplan", check_network(NET)).files[0].content
    r = _generate(tmp_path, content.replace("table: 1001", "table: banana", 1))
    assert r.returncode != 0
    assert "banana" in r.stderr or "table" in r.stderr


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    content = render_persistent("netplan", check_network(NET)).files[0].content
    r = _generate(tmp_path, content.replace("dhcp4: false", "dhcp4: false\n      gateway9: 1.2.3.4"))
    assert r.returncode != 0

