"""The switch's source/destination check as data, and nft's own parser on the ruleset."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.lab import stability, vpcswitch
from failover.lab.spec import LabSpec

SPEC = LabSpec("flab0001")


def test_every_port_has_its_own_addresses_and_the_eni_port_all_of_the_enis() -> None:
    ports = vpcswitch.port_sources(SPEC)
    assert ports[SPEC.eni_port] == (SPEC.eni.primary_ip, SPEC.eni.service_ip)  # secondaries too
    for m in SPEC.members:
        assert ports[m.role] == (m.ip,)  # never the ENI's addresses on an instance's own NIC
    for k in SPEC.vrrp:
        assert ports[k.role] == (k.ip, SPEC.vip)  # keepalived's VIP as a HaVip
    every_port = [*(m.role for m in (*SPEC.members, *SPEC.vrrp)), *(c.role for c in SPEC.controllers),
                  "cli", SPEC.eni_port]
    assert sorted(ports) == sorted(every_port)


def test_nft_accepts_the_ruleset() -> None:
    nft = shutil.which("nft") or vpcswitch.NFT
    r = subprocess.run([nft, "-c", "-f", "-"], input=vpcswitch.ruleset(SPEC), capture_output=True, text=True,
                       timeout=20, check=False)
    if r.returncode != 0 and "Operation not permitted" in r.stderr:
        pytest.fail("nft -c needs root (CAP_NET_ADMIN), as the lab does")
    assert r.returncode == 0, r.stderr


def test_a_stability_only_run_does_not_overwrite_the_full_bench() -> None:
    st = {"guest_routes": "noprefixroute"}
    assert stability.result_name({"failover": {}, "stability": st}) == "stability.json"
    assert stability.result_name({"failover": {"crash": {}}, "stability": st}) == "rto.json"
    assert stability.result_name({"stability": {"guest_routes": "old"}}) == "stability_before.json"
    assert stability.result_name({"failover": {"crash": {}}}) == "rto.json"


@pytest.mark.parametrize("parts", ["rto,stability", "stability,noise"])
def test_the_before_run_takes_the_stability_part_alone(parts: str) -> None:
    """Bad input: one line naming the option, exit 2, no lab built (it fails before any bring-up)."""
    if os.geteuid() != 0:
        pytest.fail("the lab command checks root first, as CI runs it")
    result = CliRunner().invoke(main, ["lab", "bench", "--parts", parts, "--old-guest-routes"])
    assert result.exit_code == 2
    assert "--old-guest-routes: the 'before' run takes --parts stability alone" in result.output
