"""The guest network-namespace fixture (`guest_ns`): built per test, always torn down (also on failure)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from failover.guest import render_release, render_runtime
from failover.model import GuestNetwork
from tests.integration.guest.netlab import ENI_IPS, ENI_MAC, GATEWAY, SUBNET, GuestNetns


def _lab_possible() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


@pytest.fixture
def guest_ns() -> Iterator[GuestNetns]:
    why = _lab_possible()
    if why:
        pytest.fail(why)  # the namespaces are part of done: never skip them silently
    guest_ns = GuestNetns()
    try:
        guest_ns.up()
        yield guest_ns
    finally:
        guest_ns.down()


@pytest.fixture
def eni() -> GuestNetwork:
    return GuestNetwork(mac=ENI_MAC, ips=ENI_IPS, cidr=SUBNET, gateway=GATEWAY)


@pytest.fixture
def configure(eni: GuestNetwork) -> str:
    return render_runtime(eni, "auto")


@pytest.fixture
def release(eni: GuestNetwork) -> str:
    return render_release(eni)
