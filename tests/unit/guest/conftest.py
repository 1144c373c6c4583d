"""A fixed ENI the unit tests render for."""

from __future__ import annotations

import pytest

from failover.model import GuestNetwork


@pytest.fixture
def net() -> GuestNetwork:
    return GuestNetwork(
        mac="00:16:3e:00:00:50", ips=("192.168.1.50", "192.168.1.51", "192.168.1.52"),
        cidr="192.168.1.0/24", gateway="192.168.1.253", device="eth1", table=1001,
    )
