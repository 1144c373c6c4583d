"""Pure renderers of the lab's files: the emulator's world, the controllers' configs, zoo.cfg.

The controllers run the lab's own fast settings unless told otherwise (`lab_health`:
interval 0.2 s, timeout 0.15 s, fall 3, quorum majority; polling every 50 ms against an
instant cloud), which suit the demo and the tests. They are NOT the product's defaults
(`product_health`: interval 1 s, timeout 0.5 s, fall 3; `cloud.poll_dense_s` 0.2 s): the bench
names the settings of every row it measures. Checks: HTTP, because a hung service still
completes TCP handshakes in the kernel, so only an HTTP answer tells a hang from a live
service; and ecs_status, which sees a graceful stop (Stopping) in one round.
"""

from __future__ import annotations

from typing import Any

from failover.config.models import CloudConfig, HealthConfig
from failover.lab.spec import CONTROL_IP, HTTP_PORT, METRICS_PORT, SIM_PORT, SUBNET, ZK_PORT, LabSpec

REGION = "cn-hangzhou"
ZONE = "cn-hangzhou-h"
GROUP = "web"
EIP = "47.100.0.1"  # NAT mode: never configured in any OS, only checked to follow the ENI
LAB_POLL_DENSE_S = 0.05  # the lab's; the product's default is CloudConfig's `poll_dense_s`
KEY_ID_ENV = "ALIBABA_CLOUD_ACCESS_KEY_ID"
KEY_SECRET_ENV = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name


# The lab's account is set up as the README says: every resource tagged as deploy/ram-policy.json
# requires (tests/integration/readiness/test_validate_tags.py checks the two agree).
MANAGED_TAGS = {"failover": "managed"}


def world(spec: LabSpec, key_id: str, key_secret: str, api_latency_s: float = 0.0) -> dict[str, Any]:
    return {
        "region": REGION,
        "access_keys": {key_id: key_secret},
        "vpcs": [{"id": "vpc-lab", "vswitches": [{"id": "vsw-lab", "zone": ZONE, "cidr": SUBNET}]}],
        "security_groups": [{"id": "sg-lab", "vpc": "vpc-lab"}],
        "instances": [
            {"id": m.instance_id, "vswitch": "vsw-lab", "status": "Running", "type": "ecs.g7.large",
             "primary_ip": m.ip, "max_enis": 3, "max_ips_per_eni": 10, "hotplug": True,
             "tags": MANAGED_TAGS}
            for m in spec.members
        ],
        "network_interfaces": [{
            "id": spec.eni.eni_id, "vswitch": "vsw-lab", "security_groups": ["sg-lab"],
            "primary_ip": spec.eni.primary_ip, "secondary_ips": [spec.eni.service_ip],
            "mac": spec.eni.mac, "instance": spec.members[0].instance_id, "tags": MANAGED_TAGS,
        }],
        "eips": [{"id": "eip-lab", "ip": EIP, "network_interface": spec.eni.eni_id,
                  "private_ip": spec.eni.primary_ip, "mode": "NAT", "tags": MANAGED_TAGS}],
        # "no emulated API latency": every transition is instant unless asked otherwise
        "timing": {"attach_s": api_latency_s, "detach_s": api_latency_s, "command_s": 0.0},
    }


def controller_config(spec: LabSpec, controller_id: str, health: dict[str, Any],
                      policy: dict[str, Any] | None = None,
                      cloud: dict[str, Any] | None = None, *,
                      status_interval_s: float | None = None,
                      guest: dict[str, Any] | None = None) -> dict[str, Any]:
    """`policy` and `cloud` override the lab's own keys; a `None` in `cloud` removes one (the
    product's default then applies). `status_interval_s` gives the ecs_status check its own
    cadence."""
    status: dict[str, Any] = {"type": "ecs_status"}
    if status_interval_s is not None:
        status["interval_s"] = status_interval_s
    c = spec.controller(controller_id)
    doc: dict[str, Any] = {
        # every leg: the members' stop notices come from the VPC side (stop_notice_guest)
        "controller": {"id": c.controller_id, "listen": f"0.0.0.0:{METRICS_PORT}"},
        "zookeeper": {"hosts": f"{CONTROL_IP}:{ZK_PORT}", "root": f"/failover/{spec.prefix}",
                      "session_timeout_s": 4},
        # The lab's emulator answers at once: poll densely so a finished step is seen at once
        # (the lab's setting, not the product's 0.2 s; the bench sets its own per row).
        "cloud": {"region": REGION, "endpoint": f"{CONTROL_IP}:{SIM_PORT}", "protocol": "http",
                  "poll_dense_s": LAB_POLL_DENSE_S,
                  "credentials": {"access_key_id_env": KEY_ID_ENV, "access_key_secret_env": KEY_SECRET_ENV}},
        "defaults": {
            "health": health,
            # the bench fails the group over and back dozens of times in a few minutes
            "policy": {"cooldown_s": 1, "detach_timeout_s": 10, "attach_timeout_s": 10,
                       "guest_timeout_s": 20, "verify_timeout_s": 10,
                       "flap_max_failovers": 1000, "flap_window_s": 60, **(policy or {})},
            # Instances are namespaces sharing the host's /etc: never write OS network files.
            "guest": {"method": "cloud_assistant", "os": "auto", "persist": False, **(guest or {})},
        },
        "groups": [{
            "name": GROUP,
            "network_interface": spec.eni.eni_id,
            "members": [m.instance_id for m in spec.members],
            "service_ips": [spec.eni.service_ip],
            "eips": [EIP],
            "checks": [{"type": "http", "url": f"http://{{ip}}:{HTTP_PORT}/healthz", "expect_status": 200},
                       status],
        }],
    }
    section: dict[str, Any] = doc["cloud"]
    for key, value in (cloud or {}).items():
        if value is None:
            section.pop(key, None)
        else:
            section[key] = value
    return doc


def stop_notice_guest(spec: LabSpec) -> dict[str, Any]:
    """Pre-staged guest configuration whose unit tells every replica of a graceful stop."""
    return {"prestage": True,
            "stop_notice": [f"{c.vpc_ip}:{METRICS_PORT}" for c in spec.controllers]}


def default_health(interval_s: float = 0.2, timeout_s: float = 0.15, fall: int = 3,
                   rise: int = 2) -> dict[str, Any]:
    """The lab's health settings (its fast defaults; see the module's docstring)."""
    return {"interval_s": interval_s, "timeout_s": timeout_s, "fall": fall, "rise": rise,
            "quorum": "majority"}


lab_health = default_health


def product_health() -> dict[str, Any]:
    """`defaults.health` as the product ships it: read from the config model, not restated."""
    h = HealthConfig.model_fields
    return default_health(h["interval_s"].default, h["timeout_s"].default, h["fall"].default,
                          h["rise"].default)


def product_poll_dense_s() -> float:
    return float(CloudConfig.model_fields["poll_dense_s"].default)


def zoo_cfg(data_dir: str) -> str:
    return "\n".join([
        "tickTime=500", "initLimit=10", "syncLimit=5", f"dataDir={data_dir}",
        f"clientPort={ZK_PORT}", f"clientPortAddress={CONTROL_IP}", "admin.enableServer=false",
        "maxSessionTimeout=60000", "minSessionTimeout=1000", "standaloneEnabled=true",
        "4lw.commands.whitelist=ruok,srvr,stat,mntr",
    ]) + "\n"
