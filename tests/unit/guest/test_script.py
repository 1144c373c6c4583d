"""The scripts: POSIX sh that dash accepts, bounded in size, no secret, one source of truth."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failover.guest import MAX_SCRIPT_BYTES, render_persistent, render_release, render_runtime
from failover.guest.persistent import CLOUD_INIT_GUARD, GUARD_CONTENT, SPECS
from failover.guest.script import _heredoc
from failover.guest.validate import LINUX_FAMILIES
from failover.model import GuestNetwork

TWENTY = tuple(f"192.168.1.{i}" for i in range(10, 30))


def _dash_accepts(script: str) -> None:
    r = subprocess.run(["/bin/sh", "-n"], input=script, text=True, capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("family", ["auto", *LINUX_FAMILIES])
def test_scripts_are_posix_sh(net: GuestNetwork, family: str) -> None:
    _dash_accepts(render_runtime(net, family))
    _dash_accepts(render_release(net, family))


@pytest.mark.parametrize("family", ["auto", *LINUX_FAMILIES, "windows"])
def test_twenty_ips_fit_cloud_assistant(net: GuestNetwork, family: str) -> None:
    script = render_runtime(replace(net, ips=TWENTY, device=None), family)
    assert len(script.encode()) <= MAX_SCRIPT_BYTES
    assert len(base64.b64encode(script.encode())) <= 24 * 1024
    # per-IP config is expanded by loops in the guest: 19 more IPs cost only their listing
    one = render_runtime(replace(net, ips=TWENTY[:1], device=None), family)
    assert len(script) - len(one) < 19 * 2 * 14


def test_no_secret_travels(net: GuestNetwork, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s3cr3t-value-xyz")
    monkeypatch.setenv("FAILOVER_ZK_AUTH", "user:zk-pass-123")
    for family in ("auto", "windows"):
        for script in (render_runtime(net, family), render_release(net, family)):
            assert "s3cr3t" not in script and "zk-pass" not in script
            assert os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"] not in script


def test_auto_carries_every_linux_family(net: GuestNetwork) -> None:
    script = render_runtime(net, "auto")
    for family in LINUX_FAMILIES:
        assert f"persist_{family.replace('-', '_')}() {{" in script
    assert "persist_rhel" not in render_runtime(net, "suse")


def test_here_documents_refuse_shell_syntax() -> None:
    with pytest.raises(ValueError, match="here-document"):
        _heredoc("rm $(pwd)\n", "")
    with pytest.raises(ValueError, match="here-document"):
        _heredoc("a `b`\n", "")
    assert _heredoc("IPADDR=@ip@\n", "  ") == ["  cat <<FAILOVER_EOF", "IPADDR=${ip}", "FAILOVER_EOF"]


def test_no_family_adds_a_main_table_default(net: GuestNetwork) -> None:
    for family in LINUX_FAMILIES:
        p = render_persistent(family, net)
        text = "\n".join([f.content for f in p.files] + list(p.commands))
        assert "gateway4" not in text and "GATEWAY=" not in text and "\ngateway " not in text
        assert "table 1001" in text or "table: 1001" in text or "table=1001" in text, family
    rhel = {f.path: f.content for f in render_persistent("rhel", net).files}
    assert "DEFROUTE=no" in rhel["/etc/sysconfig/network-scripts/ifcfg-eth1"]
    assert "IPADDR=192.168.1.52" in rhel["/etc/sysconfig/network-scripts/ifcfg-eth1:1"]
    suse = render_persistent("suse", net).files[0].content
    assert "IPADDR_2='192.168.1.52'" in suse and "LABEL_2='1'" in suse and "NETMASK_2='255.255.255.255'" in suse


# how each family writes one address, and the subnet prefix it would carry the route in main by
_ADDRESS_FORMS = (r"(\d+\.\d+\.\d+\.\d+)/(\d+)", r"NETMASK(?:_\d+)?='?([\d.]+)", r"netmask ([\d.]+)")


@pytest.mark.parametrize("family", LINUX_FAMILIES)
def test_no_family_gives_the_eni_a_subnet_route_in_main(net: GuestNetwork, family: str) -> None:
    """Every ENI address is a host (/32) address: no tool adds a connected route via the ENI to
    main, where (metric 0) it would beat the primary NIC's metric-100 route to the subnet."""
    p = render_persistent(family, net)
    lines = [line for f in p.files for line in f.content.splitlines()]
    lines += [m for c in p.commands for m in re.findall(r'ipv4\.addresses "([^"]*)"', c)]
    masks: list[str] = []
    for line in lines:
        if "table" in line or line.lstrip().startswith(("- to:", "#")):
            continue  # the ENI's own table holds the subnet; that is the point
        for form in _ADDRESS_FORMS:
            masks += [m[-1] if isinstance(m, tuple) else m for m in re.findall(form, line)]
    assert masks, family
    assert set(masks) <= {"32", "255.255.255.255"}, (family, masks)


def test_guard_only_where_the_docs_call_for_it(net: GuestNetwork) -> None:
    guarded = {f for f in SPECS if any(x.path == CLOUD_INIT_GUARD for x in render_persistent(f, net).files)}
    assert guarded == {"nmcli", "netplan", "netplan-legacy"}


def test_the_guard_keeps_new_instances_rendering_and_the_script_writes_the_same(net: GuestNetwork) -> None:
    """Disabling cloud-init's network config froze the first holder's primary MAC into images."""
    assert "config: disabled" not in GUARD_CONTENT and "boot-new-instance" in GUARD_CONTENT
    script = render_runtime(net, "netplan")
    assert f'write_file "$ROOT{CLOUD_INIT_GUARD}" 644 <<\'GUARD\'\n{GUARD_CONTENT}GUARD\n' in script


def test_addresses_get_no_main_prefix_route_unless_the_old_handling_is_asked_for(net: GuestNetwork) -> None:
    script = render_runtime(net, "auto")
    assert 'ip addr replace "$1/$PREFIX" brd + dev "$DEV" noprefixroute' in script
    assert 'OLD_ROUTES="${FAILOVER_OLD_ROUTES:-0}"' in script


@settings(max_examples=15, deadline=None)
@given(
    third=st.integers(0, 255), count=st.integers(1, 20), table=st.integers(1, 252),
    mac_tail=st.integers(0, 2**24 - 1),
)
def test_any_valid_network_renders_valid_sh(third: int, count: int, table: int, mac_tail: int) -> None:
    ips = tuple(f"10.{third}.0.{i}" for i in range(2, 2 + count))
    mac = "00:16:3e:" + ":".join(f"{(mac_tail >> s) & 0xFF:02x}" for s in (16, 8, 0))
    n = GuestNetwork(mac=mac, ips=ips, cidr=f"10.{third}.0.0/24", gateway=f"10.{third}.0.253", table=table)
    script = render_runtime(n, "auto")
    _dash_accepts(script)
    assert re.search(rf"^IPS='{' '.join(ips)}'$", script, re.M)
