"""The namespace lab fixture: built per test, always torn down (also on failure)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from failover.guest import render_release, render_runtime
from failover.model import GuestNetwork
from tests.integration.guest.netlab import ENI_IPS, ENI_MAC, GATEWAY, SUBNET, Lab


def _lab_possible() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


@pytest.fixture
def lab() -> Iterator[Lab]:
    why = _lab_possible()
    if why:
        pytest.fail(why)  # the lab is part of done: never skip it silently
    lab = Lab()
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture
def eni() -> GuestNetwork:
    return GuestNetwork(mac=ENI_MAC, ips=ENI_IPS, cidr=SUBNET, gateway=GATEWAY)


@pytest.fixture
def configure(eni: GuestNetwork) -> str:
    return render_runtime(eni, "auto")


@pytest.fixture
def release(eni: GuestNetwork) -> str:
    return render_release(eni)
