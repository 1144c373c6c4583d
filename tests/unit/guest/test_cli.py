"""`failover guest render`: what operators see, and one clear line (exit 2) on bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from failover.cli import main

BASE = ["guest", "render", "--mac", "00:16:3e:00:00:50", "--ips", "192.168.1.50,192.168.1.51",
        "--cidr", "192.168.1.0/24", "--gateway", "192.168.1.253"]


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_render_prints_script_and_files() -> None:
    code, out, _ = _run(*BASE, "--os", "rhel", "--device", "eth1")
    assert code == 0
    assert "#!/bin/sh" in out
    assert "# ===== file /etc/sysconfig/network-scripts/ifcfg-eth1 (mode 644) =====" in out
    assert "# ===== file /etc/sysconfig/network-scripts/ifcfg-eth1:0 (mode 644) =====" in out


def test_render_json_both_ways() -> None:
    for args in ([*BASE, "--os", "netplan", "--json"], ["--json", *BASE, "--os", "netplan"]):
        code, out, _ = _run(*args)
        assert code == 0
        doc = json.loads(out)
        assert doc["os"] == "netplan" and doc["network"]["ips"] == ["192.168.1.50", "192.168.1.51"]
        assert doc["files"][0]["path"] == "/etc/netplan/60-failover-${DEV}.yaml"
        assert doc["script_bytes"] == len(doc["script"].encode())


def test_release_flag_prints_the_release_script() -> None:
    code, out, _ = _run(*BASE, "--os", "auto", "--release")
    assert code == 0 and "# failover guest release" in out and "===== file" not in out


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (["--ips", "192.168.1.50,192.168.2.9"], "error: --ips: 192.168.2.9 is outside --cidr 192.168.1.0/24"),
        (["--ips", ",".join(f"192.168.1.{i}" for i in range(10, 31))],
         "error: --ips: 21 IPs; an ENI holds at most 20"),
        (["--mac", "00:16:3e:00:00"],
         "error: --mac: '00:16:3e:00:00' is not a MAC address like 00:16:3e:12:34:56"),
        (["--os", "plan9"], "error: --os: unknown family 'plan9'; use one of auto, nmcli, netplan, "
                            "netplan-legacy, rhel, debian, suse, windows"),
        (["--table", "main"], "error: --table: 'main' is not a number"),
        (["--device", "eth 1"],
         "error: --device: 'eth 1' is not an interface name (1-15 of A-Z a-z 0-9 _ . -, no ':')"),
    ],
)
def test_bad_input_is_one_line_exit_2(change: list[str], line: str) -> None:
    args = [*BASE, "--os", "rhel"]
    for i in range(0, len(change), 2):
        if change[i] in args:
            args[args.index(change[i]) + 1] = change[i + 1]
        else:
            args += change[i:i + 2]
    code, out, err = _run(*args)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [line]
