"""The runtime and release scripts, run for real with /bin/sh inside network namespaces.

The ENI is a veth that moves between instance namespaces keeping its MAC;
rp_filter is strict, so a client is answered only when policy routing sends
the replies back out of the ENI. Nothing is written to the host's /etc:
FAILOVER_PERSIST=0, or FAILOVER_ROOT pointing into a temp dir.
"""

from __future__ import annotations

import subprocess

import pytest

from failover.guest import render_runtime
from failover.model import GuestNetwork
from tests.integration.guest.netlab import ENI_IPS, ENI_NAME, GuestNetns, run

pytestmark = pytest.mark.lab
NO_PERSIST = {"FAILOVER_PERSIST": "0"}


def _ok(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def test_configure_brings_the_eni_up_and_replies_leave_through_it(guest_ns: GuestNetns, configure: str) -> None:
    guest_ns.attach("a")
    r = guest_ns.sh("a", configure, **NO_PERSIST)
    _ok(r)
    assert f"ENI 00:16:3e:77:00:50 is {ENI_NAME}" in r.stdout
    st = guest_ns.state("a")
    assert f"{ENI_NAME}    inet 192.168.77.50/24" in st["addrs"]
    assert "192.168.77.51/24" in st["addrs"]
    assert "10000:\tfrom 192.168.77.50 lookup 1001" in st["rules"]
    assert "10000:\tfrom 192.168.77.51 lookup 1001" in st["rules"]
    assert f"default via 192.168.77.1 dev {ENI_NAME}" in st["table"]
    defaults = [ln for ln in st["main"].splitlines() if ln.startswith("default")]
    assert defaults == ["default via 192.168.77.1 dev eth0 metric 100 "], "no second default in main"
    assert f"dev {ENI_NAME}" not in st["main"], "no main-table route via the ENI at all"

    guest_ns.serve("a")
    for ip in ENI_IPS:
        assert guest_ns.ask(ip) == f"a {ip}"


def test_running_twice_changes_nothing(guest_ns: GuestNetns, configure: str) -> None:
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    first = guest_ns.state("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    assert guest_ns.state("a") == first
    guest_ns.serve("a")
    assert guest_ns.ask(ENI_IPS[0]) == f"a {ENI_IPS[0]}"


def test_without_the_policy_rule_strict_rp_filter_drops_it(guest_ns: GuestNetns, configure: str) -> None:
    """Proves the test can fail: the rule is what makes the reply path work."""
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    guest_ns.serve("a")
    run("ip", "-n", guest_ns.ns("a"), "rule", "del", "from", ENI_IPS[0])
    assert guest_ns.ask(ENI_IPS[0], timeout=1.0).startswith("ERR")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))  # a rerun repairs it
    assert guest_ns.ask(ENI_IPS[0]) == f"a {ENI_IPS[0]}"


def test_stale_state_is_replaced(guest_ns: GuestNetns, eni: GuestNetwork, configure: str) -> None:
    """Old rules, a stale address on the ENI, a main-table default via it: all go."""
    guest_ns.attach("a")
    ns = guest_ns.ns("a")
    run("ip", "-n", ns, "link", "set", ENI_NAME, "up")
    run("ip", "-n", ns, "addr", "add", "192.168.77.99/24", "dev", ENI_NAME)  # e.g. from DHCP
    run("ip", "-n", ns, "addr", "add", f"{ENI_IPS[1]}/32", "dev", "eth0")  # a copy elsewhere
    run("ip", "-n", ns, "route", "add", "default", "via", "192.168.77.1", "dev", ENI_NAME, "metric", "200")
    run("ip", "-n", ns, "rule", "add", "from", ENI_IPS[0], "lookup", "1001", "priority", "500")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    st = guest_ns.state("a")
    assert "192.168.77.99" not in st["addrs"]
    assert f"eth0    inet {ENI_IPS[1]}" not in st["addrs"]
    assert "500:" not in st["rules"]
    assert f"dev {ENI_NAME}" not in "".join(ln for ln in st["main"].splitlines() if ln.startswith("default"))
    guest_ns.serve("a")
    assert guest_ns.ask(ENI_IPS[1]) == f"a {ENI_IPS[1]}"


def test_failover_release_and_move_back(guest_ns: GuestNetns, configure: str, release: str) -> None:
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    guest_ns.serve("a")
    assert guest_ns.ask(ENI_IPS[0]) == f"a {ENI_IPS[0]}"

    guest_ns.detach()
    # rules outlive the interface: exactly why the old holder needs the release script
    assert "from 192.168.77.50 lookup 1001" in guest_ns.state("a")["rules"]
    guest_ns.attach("b")
    _ok(guest_ns.sh("b", configure, **NO_PERSIST))
    guest_ns.serve("b")
    assert guest_ns.ask(ENI_IPS[0]) == f"b {ENI_IPS[0]}"

    r = guest_ns.sh("a", release, **NO_PERSIST)
    _ok(r)
    st = guest_ns.state("a")
    assert "192.168.77.5" not in st["addrs"]
    assert "lookup 1001" not in st["rules"]
    assert st["table"] == ""
    _ok(guest_ns.sh("a", release, **NO_PERSIST))  # releasing twice is fine

    # the ENI goes home: release B with the device still there, then configure A
    r = guest_ns.sh("b", release, **NO_PERSIST)
    _ok(r)
    assert f"removed 192.168.77.50/24 from {ENI_NAME}" in r.stdout
    st = guest_ns.state("b")
    assert "192.168.77.5" not in st["addrs"] and "lookup 1001" not in st["rules"] and st["table"] == ""
    guest_ns.detach()
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    assert guest_ns.ask(ENI_IPS[1]) == f"a {ENI_IPS[1]}"


def test_waits_for_a_late_hotplug(guest_ns: GuestNetns, configure: str) -> None:
    p = guest_ns.sh_async("a", configure, FAILOVER_WAIT_S="10", **NO_PERSIST)
    run("sleep", "0.7")
    assert p.poll() is None, "the script must still be waiting for the ENI"
    guest_ns.attach("a")
    code, out, err = guest_ns.wait_gone(p, timeout=10)
    assert code == 0, err
    assert f"is {ENI_NAME}" in out


def test_no_eni_fails_with_a_clear_message(guest_ns: GuestNetns, configure: str) -> None:
    r = guest_ns.sh("a", configure, FAILOVER_WAIT_S="1", **NO_PERSIST)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "failover-guest: error: no interface with MAC 00:16:3e:77:00:50 appeared within 1s "
        "(is the ENI attached here?)"
    )


def test_a_named_device_with_another_mac_is_refused(guest_ns: GuestNetns, eni: GuestNetwork) -> None:
    guest_ns.attach("a")
    script = render_runtime(GuestNetwork(**{**eni.__dict__, "device": "eth0"}), "auto")
    r = guest_ns.sh("a", script, FAILOVER_WAIT_S="1", **NO_PERSIST)
    assert r.returncode == 1
    assert "eth0 has MAC" in r.stderr and "not the ENI's 00:16:3e:77:00:50" in r.stderr
    assert "192.168.77.50" not in guest_ns.state("a")["addrs"]


def test_gratuitous_arp_corrects_a_neighbours_stale_entry(guest_ns: GuestNetns, configure: str) -> None:
    c = guest_ns.ns("c")
    run("ip", "-n", c, "neigh", "replace", ENI_IPS[0], "lladdr", "02:00:00:00:00:99", "dev", "eth0",
        "nud", "stale")
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    seen = ""
    for _ in range(40):
        seen = run("ip", "-n", c, "neigh", "show", ENI_IPS[0]).stdout
        if "00:16:3e:77:00:50" in seen:
            break
        run("sleep", "0.05")
    assert "lladdr 00:16:3e:77:00:50" in seen, seen


PRIMARY_A = "192.168.77.10"


def test_the_primary_ip_stays_reachable_from_its_subnet(guest_ns: GuestNetns, configure: str) -> None:
    """A controller probes the new holder's primary IP from the same subnet: its packets arrive on
    eth0, whose connected route has metric 100; the ENI must not take the subnet from it."""
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    guest_ns.serve("a", (PRIMARY_A, *ENI_IPS))
    assert guest_ns.ask(PRIMARY_A) == f"a {PRIMARY_A}"
    assert guest_ns.ask(ENI_IPS[1]) == f"a {ENI_IPS[1]}"
    # unbound traffic to the subnet leaves by the primary NIC, from the primary IP
    route = run("ip", "-n", guest_ns.ns("a"), "route", "get", "192.168.77.100").stdout
    assert "dev eth0" in route and f"src {PRIMARY_A}" in route, route


def test_the_old_handling_makes_the_primary_ip_unreachable(guest_ns: GuestNetns, configure: str) -> None:
    """Proves the test above can fail: a metric-0 prefix route via the ENI beats eth0's metric
    100, so the probe's packets arriving on eth0 fail strict rp_filter."""
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, FAILOVER_OLD_ROUTES="1", **NO_PERSIST))
    guest_ns.serve("a", (PRIMARY_A, *ENI_IPS))
    assert guest_ns.ask(PRIMARY_A, timeout=1.0).startswith("ERR")
    assert guest_ns.ask(ENI_IPS[1]) == f"a {ENI_IPS[1]}"  # the service itself still answers


def test_a_rerun_moves_old_addresses_off_the_main_table(guest_ns: GuestNetns, configure: str) -> None:
    """An ENI configured by the older script (or by DHCP) keeps its prefix route in main until its
    addresses are re-added: `ip addr replace` cannot change that flag."""
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, FAILOVER_OLD_ROUTES="1", **NO_PERSIST))
    assert f"dev {ENI_NAME}" in guest_ns.state("a")["main"]
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    st = guest_ns.state("a")
    assert f"dev {ENI_NAME}" not in st["main"]
    assert all(f"{ip}/24 " in st["addrs"] for ip in ENI_IPS)
    assert st["addrs"].count("noprefixroute") == len(ENI_IPS)
    guest_ns.serve("a", (PRIMARY_A, *ENI_IPS))
    assert guest_ns.ask(PRIMARY_A) == f"a {PRIMARY_A}"


def test_a_low_metric_route_via_the_eni_fails_the_check(guest_ns: GuestNetns, configure: str) -> None:
    """What NetworkManager's DHCP profile would leave: the script says so rather than succeed."""
    guest_ns.attach("a")
    _ok(guest_ns.sh("a", configure, **NO_PERSIST))
    run("ip", "-n", guest_ns.ns("a"), "route", "add", "192.168.77.0/25", "dev", ENI_NAME, "metric", "101")
    r = guest_ns.sh("a", configure.replace("\nmain\n", "\npreflight; wait_dev; verify_runtime\n"), **NO_PERSIST)
    assert r.returncode == 1
    assert f"the main table routes via {ENI_NAME} below metric 512" in r.stderr
