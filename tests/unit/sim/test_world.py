"""World file validation: every problem names its key path; the implicit primary ENIs."""

from __future__ import annotations

from typing import Any

import pytest

from failover.sim.world_file import WorldError, load_world, read_world_file
from harness.sim import small_world


def test_contract_world_loads_with_primary_enis() -> None:
    w = load_world(small_world())
    assert set(w.enis) == {"eni-p-i-primary", "eni-p-i-standby", "eni-svc"}
    primary = w.enis["eni-p-i-primary"]
    assert (primary.type, primary.status, primary.instance, primary.primary_ip) == (
        "Primary",
        "InUse",
        "i-primary",
        "192.168.1.10",
    )
    assert w.enis["eni-svc"].device_index == 1 and w.limits == {
        "available_ips": 10,
        "security_group_ips": 2000,
    }


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda w: w.update(vpcs="nope"), "vpcs"),
        (lambda w: w["vpcs"][0]["vswitches"][0].update(cidr="300.1.1.0/24"), "vpcs[0].vswitches[0].cidr"),
        (lambda w: w["instances"][0].update(vswitch="vsw-zz"), "instances[0].vswitch"),
        (lambda w: w["instances"][0].update(status="Exploded"), "instances[0].status"),
        (lambda w: w["instances"][0].update(hotplug="yes"), "instances[0].hotplug"),
        (lambda w: w["instances"][1].update(max_enis=5), "instances[1].max_enis"),  # same type, other limits
        (lambda w: w["network_interfaces"][0].update(instance="i-zz"), "network_interfaces[0].instance"),
        (
            lambda w: w["network_interfaces"][0].update(security_groups=["sg-zz"]),
            "network_interfaces[0].security_groups[0]",
        ),
        (
            lambda w: w["network_interfaces"][0].update(secondary_ips=["192.168.1.10"]),
            "network_interfaces.eni-svc",
        ),
        (lambda w: w["eips"][0].update(private_ip="192.168.1.99"), "eips[0].private_ip"),
        (lambda w: w.update(limits={"bogus": 1}), "limits.bogus"),
        (lambda w: w.update(timing={"profile": "nope"}), "timing.profile"),
        (lambda w: w.update(seed="x"), "seed"),
    ],
)
def test_errors_name_the_key(change: Any, path: str) -> None:
    w = small_world()
    change(w)
    with pytest.raises(WorldError) as info:
        load_world(w)
    assert info.value.path == path, str(info.value)


def test_unreadable_and_non_yaml_files(tmp_path: Any) -> None:
    with pytest.raises(WorldError, match="cannot read"):
        read_world_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [")
    with pytest.raises(WorldError, match="not valid YAML"):
        read_world_file(bad)
