"""The lab's plumbing without controllers: the ENI moves with its MAC, the real guest script
configures it, the client follows it, the root namespace stays out, and `down` removes all."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from failover.lab import analysis, netns, topology, vpcswitch
from failover.lab.bench import Client
from failover.lab.hooks import OLD_ROUTES_FLAG, LabHooks
from failover.lab.runtime import Lab
from harness.root import require_root

pytestmark = pytest.mark.lab


def guest_script(lab: Lab) -> str:
    eni = lab.spec.eni
    out = subprocess.run(
        [sys.executable, "-m", "failover", "guest", "render", "--os", "auto", "--mac", eni.mac,
         "--ips", ",".join(eni.ips), "--cidr", "192.168.1.0/24", "--gateway", "192.168.1.253", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    return str(json.loads(out)["script"])


def wait_answers(client: Client, who: str, n: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(a.answer == who for a in client.answers()) >= n:
            return True
        time.sleep(0.05)
    return False


def test_the_eni_moves_and_the_client_follows(lab: Lab) -> None:
    lab.up(controllers=False)
    spec, hooks = lab.spec, LabHooks(lab.spec)
    assert lab.holder() == "i-primary"
    client = Client(lab, spec.eni.service_ip, lab.dir / "client.jsonl")
    try:
        assert wait_answers(client, "i-primary", 10)
        moved_at = time.time()
        hooks.on_detach(spec.eni.eni_id, "i-primary")
        assert lab.holder() is None  # parked in the VPC namespace, like an Available ENI
        hooks.on_attach(spec.eni.eni_id, spec.eni.mac, "i-standby")
        code, output = hooks.run_command("i-standby", guest_script(lab), 30)
        assert code == 0, output
        assert wait_answers(client, "i-standby", 10)
    finally:
        answers = client.stop()
    assert lab.holder() == "i-standby"
    o = analysis.outage(answers, "i-primary", "i-standby", moved_at)
    assert o.rto_s is not None and o.stayed
    # the old primary keeps no rule for the ENI's addresses; the MAC travelled intact
    rules = netns.ip(spec.ns("i1"), "rule", "show")
    assert all(f"from {ip} " not in rules for ip in spec.eni.ips)
    assert spec.eni.mac in netns.ip(spec.ns("i2"), "link", "show", "dev", spec.eni.inner_name)
    # the ENI's port passed its addresses from the new holder: its allowed set moved with it
    assert vpcswitch.active(spec) and vpcswitch.drops(spec)[spec.eni_port] == 0


def test_the_root_namespace_holds_no_lab_address_or_link(lab: Lab) -> None:
    lab.up(controllers=False)
    root_addrs = netns.ip(None, "-o", "-4", "addr", "show")
    lab_ips = [m.ip for m in lab.spec.members] + list(lab.spec.eni.ips) + [lab.spec.client_ip]
    assert not [ip for ip in lab_ips if f" {ip}/" in root_addrs]
    assert lab.prefix not in netns.ip(None, "-o", "link", "show")
    # every lab process runs inside a lab namespace
    inside = {pid for ns in lab.spec.namespaces for pid in netns.netns_pids(ns)}
    recorded = set(topology.read_state(lab.prefix)["pids"].values())
    assert recorded and recorded <= inside


def test_down_cleans_up_after_a_lost_record_and_is_idempotent() -> None:
    require_root()
    lab = Lab()
    up = subprocess.run([sys.executable, "-m", "failover", "lab", "up", "--no-controllers", "--prefix", lab.prefix],
                        capture_output=True, text=True, timeout=120, check=False)
    try:
        assert up.returncode == 0, up.stderr
        assert len([n for n in netns.list_netns() if n.startswith(lab.prefix)]) == len(lab.spec.namespaces)
        Path(lab.spec.state_file).unlink()  # as if the machine lost the record mid-run
        # `lab down` without a prefix would find it by name too (not run here: it would also
        # remove labs other people run on this machine)
        assert lab.prefix in topology.known_prefixes()
        for _ in range(2):
            down = subprocess.run([sys.executable, "-m", "failover", "lab", "down", "--prefix", lab.prefix],
                                  capture_output=True, text=True, timeout=120, check=False)
            assert down.returncode == 0, down.stderr
        assert topology.leftovers(lab.prefix) == []
    finally:
        lab.down()


def _send_udp(ns: str, src: str, dst: str) -> None:
    code = ("import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.bind((sys.argv[1], 0)); [s.sendto(b'x', (sys.argv[2], 9)) for _ in range(3)]")
    netns.run(netns.in_ns(ns, [sys.executable, "-c", code, src, dst]))


def test_the_switch_passes_a_port_only_its_own_addresses(lab: Lab) -> None:
    """The VPC's source/destination check: the ENI's secondary IP leaves through the ENI, never
    through an instance's own NIC, and an instance's primary IP never through the ENI."""
    lab.up(controllers=False)
    spec = lab.spec
    before = vpcswitch.drops(spec)
    _send_udp(spec.ns("i1"), spec.eni.service_ip, spec.client_ip)  # via the ENI (policy rule)
    _send_udp(spec.ns("i1"), spec.members[0].ip, spec.client_ip)  # via eth0
    after = vpcswitch.drops(spec)
    assert after == before, "own addresses pass"
    # i2 claims the service IP on its own NIC (a copy, as a stale config would leave)
    netns.ip(spec.ns("i2"), "addr", "add", f"{spec.eni.service_ip}/32", "dev", "eth0")
    _send_udp(spec.ns("i2"), spec.eni.service_ip, spec.client_ip)
    # i1 sends its primary IP out of the ENI (what a main-table route via the ENI does)
    netns.ip(spec.ns("i1"), "rule", "add", "from", spec.members[0].ip, "lookup", "1001", "priority", "9000")
    _send_udp(spec.ns("i1"), spec.members[0].ip, spec.client_ip)
    dropped = vpcswitch.drops(spec)
    assert dropped["i2"] - before["i2"] >= 3
    assert dropped[spec.eni_port] - before[spec.eni_port] >= 3


def test_instances_have_metric_100_primary_routes_and_strict_rp_filter(lab: Lab) -> None:
    lab.up(controllers=False)
    ns = lab.spec.ns("i2")
    assert "metric 100" in netns.ip(ns, "-4", "route", "show", "dev", "eth0", "proto", "kernel")
    rp = netns.run(netns.in_ns(ns, ["sysctl", "-n", "net.ipv4.conf.all.rp_filter"])).strip()
    assert rp == "1"
    # the image's ENI state on the primary: no route via the ENI in main
    assert lab.spec.eni.inner_name not in netns.ip(lab.spec.ns("i1"), "-4", "route", "show", "table", "main")


def test_a_controller_reaches_the_new_holder_only_without_the_old_routes(lab: Lab) -> None:
    """The controllers probe members from the members' subnet: with the guest script's earlier
    metric-0 prefix route via the ENI, the new holder's primary IP goes dark to them."""
    lab.up(controllers=False)
    spec, hooks = lab.spec, LabHooks(lab.spec)
    ctl = spec.ns(spec.controllers[0].role)
    url = f"http://{spec.members[1].ip}/healthz"
    assert "ok" in lab.probe(ctl, "http", url)
    (lab.dir / OLD_ROUTES_FLAG).touch()
    hooks.on_detach(spec.eni.eni_id, "i-primary")
    hooks.on_attach(spec.eni.eni_id, spec.eni.mac, "i-standby")
    code, output = hooks.run_command("i-standby", guest_script(lab), 30)
    assert code == 0, output
    assert lab.probe(ctl, "--timeout", "1", "http", url) == ""
    (lab.dir / OLD_ROUTES_FLAG).unlink()
    code, output = hooks.run_command("i-standby", guest_script(lab), 30)  # the current script repairs it
    assert code == 0, output
    assert "ok" in lab.probe(ctl, "http", url)
