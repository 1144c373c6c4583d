"""Bad input is refused with one error naming the field; good input is normalised."""

from __future__ import annotations

from dataclasses import replace

import pytest

from failover.guest import GuestInputError, check_family, check_network
from failover.model import GuestNetwork


def test_normalises_mac_case_and_separator(net: GuestNetwork) -> None:
    out = check_network(replace(net, mac="00-16-3E-00-00-50"))
    assert out.mac == "00:16:3e:00:00:50"
    assert out.ips == net.ips


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"ips": ("192.168.1.50", "192.168.2.9")}, "ips", "192.168.2.9 is outside cidr 192.168.1.0/24"),
        ({"ips": tuple(f"192.168.1.{i}" for i in range(10, 31))}, "ips", "21 IPs; an ENI holds at most 20"),
        ({"ips": ()}, "ips", "at least one"),
        ({"ips": ("192.168.1.50", "192.168.1.50")}, "ips", "listed twice"),
        ({"ips": ("192.168.1.0",)}, "ips", "network or broadcast"),
        ({"ips": ("fe80::1",)}, "ips", "not an IPv4 address"),
        ({"mac": "00:16:3e:00:00"}, "mac", "not a MAC address"),
        ({"mac": "00:16:3e:00:00:5g"}, "mac", "not a MAC address"),
        ({"mac": "01:00:5e:00:00:01"}, "mac", "multicast"),
        ({"cidr": "192.168.1.1/24"}, "cidr", "host bits set; the vSwitch CIDR is 192.168.1.0/24"),
        ({"cidr": "banana"}, "cidr", "not an IPv4 CIDR"),
        ({"gateway": "10.0.0.1"}, "gateway", "outside cidr"),
        ({"gateway": "192.168.1.50"}, "gateway", "also one of the ENI's IPs"),
        ({"device": "eth1:0"}, "device", "not an interface name"),
        ({"device": "a" * 16}, "device", "not an interface name"),
        ({"device": "eth1; rm -rf /"}, "device", "not an interface name"),
        ({"table": 254}, "table", "kernel table"),
        ({"table": 0}, "table", "not a table id"),
    ],
)
def test_bad_input_names_the_field(
    net: GuestNetwork, change: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(GuestInputError) as err:
        check_network(replace(net, **change))  # type: ignore[arg-type]  # fields by name from the table: values mypy cannot tie to them
    assert err.value.field == field
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_twenty_ips_are_fine(net: GuestNetwork) -> None:
    ips = tuple(f"192.168.1.{i}" for i in range(10, 30))
    assert check_network(replace(net, ips=ips)).ips == ips


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(GuestInputError, match="unknown family 'bsd'; use one of auto, nmcli"):
        check_family("bsd")
    assert check_family("netplan-legacy") == "netplan-legacy"


def test_labels_follow_the_caller(net: GuestNetwork) -> None:
    with pytest.raises(GuestInputError) as err:
        check_network(replace(net, ips=("192.168.2.9",)), label=lambda f: f"--{f}")
    assert str(err.value) == "--ips: 192.168.2.9 is outside --cidr 192.168.1.0/24"
