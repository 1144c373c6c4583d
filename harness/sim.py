"""The ECS/VPC emulator for tests: started in-process on 127.0.0.1 at a free port, from a world.

    with SimServer.from_world(small_world()) as sim:
        ecs = sim.ecs_client()          # official SDK clients, pointed at sim.endpoint
        sim.control.hang("i-primary")   # the /_sim/ control API
        sim.control.events()

`small_world()` is a two-instance world (primary + standby, one service ENI with an EIP) to copy
and adapt. Clients are built here only for convenience; the emulator itself never sees the SDK.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from failover.sim.hooks import Hooks
from failover.sim.server import Emulator
from failover.sim.world_file import load_world, read_world_file

AK, SECRET = "AKIDEXAMPLE", "SECRETEXAMPLE"


def managed_tags() -> dict[str, str]:
    """The tags the shipped RAM policy's conditions require (read from it, never restated):
    the test worlds stand for an account set up as the README says, so `validate --live`
    passes on them; a test removes a tag to see the finding."""
    from importlib import resources

    from failover.engine.ram_tags import tag_rules

    policy = json.loads(resources.files("failover.cloud").joinpath("ram-policy.json").read_text())
    return {r.key: r.values[0] for r in tag_rules(policy)}


MANAGED = managed_tags()

SMALL_WORLD: dict[str, Any] = {
    "region": "cn-hangzhou",
    "seed": 7,
    "access_keys": {AK: SECRET},
    "vpcs": [
        {
            "id": "vpc-a",
            "vswitches": [
                {"id": "vsw-a", "zone": "cn-hangzhou-h", "cidr": "192.168.1.0/24"},
                {"id": "vsw-b", "zone": "cn-hangzhou-i", "cidr": "192.168.2.0/24"},
            ],
        }
    ],
    "security_groups": [{"id": "sg-a", "vpc": "vpc-a"}],
    "instances": [
        {
            "id": "i-primary",
            "vswitch": "vsw-a",
            "status": "Running",
            "type": "ecs.g7.large",
            "primary_ip": "192.168.1.10",
            "max_enis": 3,
            "max_ips_per_eni": 10,
            "hotplug": True,
            "tags": MANAGED,
        },
        {
            "id": "i-standby",
            "vswitch": "vsw-a",
            "status": "Running",
            "type": "ecs.g7.large",
            "primary_ip": "192.168.1.11",
            "max_enis": 3,
            "max_ips_per_eni": 10,
            "hotplug": True,
            "tags": MANAGED,
        },
    ],
    "network_interfaces": [
        {
            "id": "eni-svc",
            "vswitch": "vsw-a",
            "security_groups": ["sg-a"],
            "primary_ip": "192.168.1.50",
            "secondary_ips": ["192.168.1.51"],
            "mac": "00:16:3e:00:00:50",
            "instance": "i-primary",
            "tags": MANAGED,
        },
    ],
    "eips": [
        {
            "id": "eip-a",
            "ip": "47.100.0.1",
            "network_interface": "eni-svc",
            "private_ip": "192.168.1.50",
            "mode": "NAT",
            "tags": MANAGED,
        }
    ],
    "timing": {"attach_s": 0.0, "detach_s": 0.0, "command_s": 0.0},
}


def small_world(**overrides: Any) -> dict[str, Any]:
    """A deep copy of SMALL_WORLD with top-level keys replaced."""
    world = copy.deepcopy(SMALL_WORLD)
    world.update(copy.deepcopy(overrides))
    return world


class SimControl:
    """A small client for the /_sim/ control API."""

    def __init__(self, endpoint: str) -> None:
        self.base = f"http://{endpoint}/_sim"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with self._opener.open(req, timeout=10) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as e:
            raise SimControlError(e.code, e.read().decode("utf-8", "replace")) from None

    def state(self) -> dict[str, Any]:
        return self.request("GET", "/state")

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/events?since={since}")["events"])

    def eni(self, eni_id: str) -> dict[str, Any]:
        return next(e for e in self.state()["enis"] if e["id"] == eni_id)

    def instance(self, instance_id: str) -> dict[str, Any]:
        return next(i for i in self.state()["instances"] if i["id"] == instance_id)

    def instance_action(self, instance_id: str, verb: str) -> dict[str, Any]:
        return self.request("POST", f"/instances/{instance_id}/{verb}", {})

    def crash(self, instance_id: str) -> dict[str, Any]:
        return self.instance_action(instance_id, "crash")

    def hang(self, instance_id: str) -> dict[str, Any]:
        return self.instance_action(instance_id, "hang")

    def unhang(self, instance_id: str) -> dict[str, Any]:
        return self.instance_action(instance_id, "unhang")

    def stop(self, instance_id: str) -> dict[str, Any]:
        return self.instance_action(instance_id, "stop")

    def start(self, instance_id: str) -> dict[str, Any]:
        return self.instance_action(instance_id, "start")

    def fault(self, **rule: Any) -> dict[str, Any]:
        """e.g. fault(action="AttachNetworkInterface", code="Throttling.User", retry_after_ms=500, count=1)"""
        return self.request("POST", "/faults", rule)

    def clear_faults(self) -> dict[str, Any]:
        return self.request("DELETE", "/faults")

    def latency(self, action: str, seconds: float) -> dict[str, Any]:
        return self.request("POST", "/latency", {"action": action, "seconds": seconds})

    def qps(self, action: str, limit: int | None) -> dict[str, Any]:
        return self.request("POST", "/qps", {"action": action, "limit": limit})

    def timing(self, **timing: Any) -> dict[str, Any]:
        return self.request("POST", "/timing", timing)

    def unstage(self) -> dict[str, Any]:
        return self.request("POST", "/unstage", {})

    def cloud_assistant(self, instance_id: str, online: bool) -> dict[str, Any]:
        return self.request("POST", f"/cloud_assistant/{instance_id}", {"online": online})

    def command_result(self, instance_id: str, exit_code: int, output: str = "") -> dict[str, Any]:
        return self.request(
            "POST", "/command_result", {"instance": instance_id, "exit_code": exit_code, "output": output}
        )

    def fail_next_attach(self, eni_id: str) -> dict[str, Any]:
        return self.request("POST", f"/enis/{eni_id}/fail_attach", {})

    def detach_by_hand(self, eni_id: str) -> dict[str, Any]:
        """The console's Detach on the ENI's current holder."""
        return self.request("POST", f"/enis/{eni_id}/detach", {})

    def move_by_hand(self, eni_id: str, to: str) -> dict[str, Any]:
        """Detach from the current holder, then attach to `to` once Available."""
        return self.request("POST", f"/enis/{eni_id}/move", {"to": to})

    def report_status(self, eni_id: str, status: str | None) -> dict[str, Any]:
        """Describe* report `status` for the ENI (None: its real status again)."""
        return self.request("POST", f"/enis/{eni_id}/status", {"status": status})


class SimControlError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class SimServer:
    """One running emulator; a context manager that always stops it."""

    def __init__(self, emulator: Emulator, world: dict[str, Any] | None = None) -> None:
        self.emulator = emulator
        self.world = world
        keys = emulator.state.world.access_keys
        self.access_key_id, self.access_key_secret = next(iter(keys.items()))
        self.region = emulator.state.world.region
        self.control = SimControl(self.endpoint)

    @classmethod
    def from_world(
        cls,
        world: dict[str, Any] | str | Path | None = None,
        hooks: Hooks | None = None,
        state_file: Path | None = None,
    ) -> SimServer:
        """Starts an emulator from a world dict (default `small_world()`) or a world file path."""
        if world is None:
            world = small_world()
        if isinstance(world, dict):
            built, raw = load_world(world), world
        else:
            built, raw = read_world_file(world), yaml.safe_load(Path(world).read_text())
        return cls(Emulator(built, "127.0.0.1", 0, hooks=hooks, state_file=state_file).start(), raw)

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint

    def sdk_config(
        self, signature_algorithm: str | None = None, secret: str | None = None, **kwargs: Any
    ) -> Any:
        from alibabacloud_tea_openapi import models as open_api_models

        settings: dict[str, Any] = {
            "access_key_id": self.access_key_id,
            "access_key_secret": secret or self.access_key_secret,
            "endpoint": self.endpoint,
            "protocol": "http",
            "region_id": self.region,
            "connect_timeout": 2000,
            "read_timeout": 10000,
        }
        cfg = open_api_models.Config(**{**settings, **kwargs})
        if signature_algorithm is not None:
            cfg.signature_algorithm = signature_algorithm
        return cfg

    def ecs_client(self, **kwargs: Any) -> Any:
        from alibabacloud_ecs20140526.client import Client

        return Client(self.sdk_config(**kwargs))

    def vpc_client(self, **kwargs: Any) -> Any:
        from alibabacloud_vpc20160428.client import Client

        return Client(self.sdk_config(**kwargs))

    def stop(self) -> None:
        self.emulator.stop()

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_sim(
    world: dict[str, Any] | str | Path | None = None, hooks: Hooks | None = None
) -> Iterator[SimServer]:
    sim = SimServer.from_world(world, hooks=hooks)
    try:
        yield sim
    finally:
        sim.stop()
