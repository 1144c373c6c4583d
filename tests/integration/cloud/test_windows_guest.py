"""A Windows standby through Cloud Assistant: its PowerShell goes out as RunPowerShellScript.

The emulator checks the command type against the instance's OS as Alibaba does, so a
PowerShell script sent as a shell script (or to a Linux instance) is refused.
"""

from __future__ import annotations

import copy

import pytest

from failover.cloud.sdk import ApiError
from failover.guest import CloudAssistantGuest
from failover.model import GuestNetwork
from harness.cloud import new_cloud
from harness.sim import SMALL_WORLD, SimServer, small_world

NET = GuestNetwork(mac="00:16:3e:00:00:50", ips=("192.168.1.50", "192.168.1.51"),
                   cidr="192.168.1.0/24", gateway="192.168.1.253", table=1001)


def world_with_windows() -> dict[str, object]:
    win = copy.deepcopy(SMALL_WORLD["instances"][1])
    win.update({"id": "i-win", "primary_ip": "192.168.1.12", "os_type": "windows"})
    return small_world(instances=[*SMALL_WORLD["instances"], win])


def test_windows_guest_runs_its_powershell_and_a_linux_one_is_refused_it() -> None:
    with SimServer.from_world(world_with_windows()) as sim:
        cloud = new_cloud(sim)
        guest = CloudAssistantGuest(cloud, "windows")
        assert guest.configure("i-win", NET, timeout_s=10).ok
        created = [e for e in sim.control.events() if e["kind"] == "invocations" and e["to"] == "Created"]
        assert "Get-NetAdapter" in created[-1]["script"]
        # The same PowerShell to a Linux instance: the cloud refuses the command type.
        with pytest.raises(ApiError) as err:
            guest.configure("i-standby", NET, timeout_s=10)
        assert err.value.code == "InvalidInstance.NotMatch"
        assert "RunPowerShellScript" in str(err.value)
