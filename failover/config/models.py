"""The configuration contract of DESIGN.md as typed, immutable pydantic models."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLACEHOLDERS = frozenset({"ip", "instance", "group"})
MAX_SECONDARY_IPS = 19  # 20 private IPs per ENI, one of them the primary
CHECK_TYPES = ("tcp", "http", "https", "ecs_status", "command")
# Shared and burstable families: an ENI attaches to them only while they are Stopped.
STOP_TO_ATTACH_TYPES = ("ecs.t5", "ecs.t6", "ecs.s6", "ecs.xn4", "ecs.n4", "ecs.mn4", "ecs.e4",
                        "ecs.e")


class ConfigError(Exception):
    """The configuration is unusable; `problems` holds one line per finding."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------ sections


class ControllerConfig(_Model):
    id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=64)
    listen: str = "127.0.0.1:9108"
    # A zone outage fails many groups at once. The API budget (slots booked first come first
    # served, the reserve) is what keeps the account's limit; this bounds the threads. Enough
    # to keep the limit busy: ~20 calls/s x ~3 s of cloud time per failover. At 16, 100 groups
    # of a 1,000-group fleet failed over in 20 s against a 5 s rate bound (10 s at 100).
    max_parallel_failovers: int = Field(default=64, ge=1, le=256)
    tick_s: float = Field(default=0.05, gt=0, le=5)  # how often the leader re-decides
    # How many replicas are deployed: quorums are counted against at least this many, so a
    # partition cannot shrink the electorate to the replicas left. None: the live ones (weaker).
    replicas: int | None = Field(default=None, ge=1, le=9)
    # /healthz fails (the kubelet restarts the pod) when the engine loop has not come round
    # for this long: a wedged loop, not a slow one.
    liveness_max_tick_age_s: float = Field(default=60.0, ge=5)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        split_host_port(v)
        return v

    @property
    def listen_host(self) -> str:
        return split_host_port(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return split_host_port(self.listen)[1]


class ZkAuth(_Model):
    scheme: Literal["digest"] = "digest"
    credential_env: str = Field(min_length=1)  # the variable holding "user:password"


class ZkTls(_Model):
    """Client TLS to ZooKeeper's secureClientPort: PEM files (digest credentials then never
    cross the network in clear). `cert`/`key` only when the ensemble wants client certs."""

    ca: str = Field(min_length=1)  # the CA that signed the servers' certificates
    cert: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> ZkTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together (a client certificate and its key)")
        return self


class ZookeeperConfig(_Model):
    hosts: str = "127.0.0.1:2181"
    root: str = "/failover"
    session_timeout_s: float = Field(default=6.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    auth: ZkAuth | None = None
    tls: ZkTls | None = None
    journal_retention: int = Field(default=200, ge=1)  # finished failovers kept per group

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: str) -> str:
        for part in v.split(","):
            split_host_port(part.strip())
        return v

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        if not v.startswith("/") or (len(v) > 1 and v.endswith("/")) or "//" in v:
            raise ValueError("must be an absolute znode path like /failover")
        return v


class EnvCredentials(_Model):
    """Static keys read from named environment variables (never from the file)."""

    access_key_id_env: str = "ALIBABA_CLOUD_ACCESS_KEY_ID"
    access_key_secret_env: str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name
    security_token_env: str | None = None


class CloudConfig(_Model):
    region: str = Field(min_length=1)
    endpoint: str | None = None
    protocol: Literal["http", "https"] = "https"
    credentials: Literal["default"] | EnvCredentials = "default"
    connect_timeout_s: float = Field(default=2.0, gt=0)
    read_timeout_s: float = Field(default=5.0, gt=0)
    # The API budget per action, shared by the process: at most api_burst calls in any
    # api_burst / api_rate_per_s seconds, with a share that only failover steps may spend.
    # A burst equal to the account's calls per second matches a gateway counting each second.
    api_rate_per_s: float = Field(default=20.0, gt=0)
    api_burst: int = Field(default=20, ge=1)
    failover_reserve: float = Field(default=0.3, ge=0, lt=1)
    # Waits for attach/detach poll every poll_dense_s around the expected completion, so a
    # finished step is noticed that late at most; poll_max bounds the describes per wait.
    poll_dense_s: float = Field(default=0.2, ge=0.02, le=5)
    poll_max: int = Field(default=200, ge=5, le=1000)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "://" in v:
            raise ValueError("give host[:port] only; set the scheme with cloud.protocol")
        return v


class HealthConfig(_Model):
    interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=0.5, gt=0)
    fall: int = 3
    rise: int = 2
    quorum: Literal["majority", "all"] | Annotated[int, Field(ge=1)] = "majority"
    jitter_s: float = Field(default=0.0, ge=0)


class PolicyConfig(_Model):
    cooldown_s: float = Field(default=300.0, ge=0)
    fence: Literal["never", "on_detach_timeout", "always"] = "on_detach_timeout"
    # terraform-provider-alicloud's waits: 1 min for a detach, 2 min for an attach (30 s was
    # only the assumed p99: 1 % of healthy moves would time out). A detach still Detaching
    # is re-sent after detach_retry_s and escalates (fence) at detach_timeout_s.
    detach_timeout_s: float = Field(default=60.0, gt=0)
    attach_timeout_s: float = Field(default=120.0, gt=0)
    detach_retry_s: float = Field(default=10.0, gt=0)  # re-issue a stalled detach after this
    stop_timeout_s: float = Field(default=60.0, gt=0)
    # Starting a cold standby (Stopped) before the guest step: Running, then Cloud Assistant
    # online. Assumed (no public figure): the emulator's realistic start is 20 s / p99 60 s.
    start_timeout_s: float = Field(default=180.0, gt=0)
    guest_timeout_s: float = Field(default=60.0, gt=0)
    verify_timeout_s: float = Field(default=30.0, gt=0)
    flap_max_failovers: int = Field(default=3, ge=1)
    flap_window_s: float = Field(default=3600.0, gt=0)
    # Instance types whose ENIs change only while Stopped. The API has no such flag, so
    # this list is ours: the shared, burstable and economy (ecs.e) families the ENI docs
    # name. A prefix matches a type that equals it or continues with "." or "-"
    # (ecs.t6 -> ecs.t6-c1m1.large, ecs.e -> ecs.e-c1m2.large, not ecs.ebmg7).
    stop_to_attach_types: list[str] = Field(default_factory=lambda: list(STOP_TO_ATTACH_TYPES))
    # How often every replica re-checks that each standby could take the ENI (cloud reads).
    readiness_interval_s: float = Field(default=30.0, ge=1, le=3600)
    # FailoverGroupPausedTooLong fires when the group has been paused (`failover pause`) for
    # longer; exported as failover_group_pause_alert_after_seconds, read by the alert.
    pause_alert_after_s: float = Field(default=14400.0, gt=0)

    @field_validator("stop_to_attach_types")
    @classmethod
    def _type_prefixes(cls, v: list[str]) -> list[str]:
        for prefix in v:
            if not prefix.startswith("ecs.") or len(prefix) < 5:
                raise ValueError(f"{prefix!r} is not an instance-type prefix like ecs.t6")
        return v


class GuestConfig(_Model):
    method: Literal["cloud_assistant", "none"] = "cloud_assistant"
    os: Literal[
        "auto", "nmcli", "netplan", "netplan-legacy", "rhel", "debian", "suse", "windows"
    ] = "auto"
    cidr: str | None = None  # default: the ENI vSwitch's CIDR, read from the cloud
    gateway: str | None = None  # default: the vSwitch gateway, x.x.x.253 in a /24 (Alibaba's rule)
    table: int = Field(default=1001, ge=1, le=252_000_000)
    # Write the OS's own network files so a reboot keeps the ENI up. The lab
    # turns it off: its "instances" are namespaces sharing the host's /etc.
    persist: bool = True
    # Pre-staged configuration (`failover provision` installs a hot-plug trigger per ENI on every
    # member): after the attach the guest step first checks the service IPs for up to
    # `prestage_wait_s`, and only then sends the script over Cloud Assistant.
    prestage: bool = False
    prestage_wait_s: float = Field(default=2.0, gt=0, le=60)
    # Graceful stops (with prestage): the replicas' `controller.listen` addresses as the members
    # reach them (host:port). The staged unit's stop hook, on a shutdown of the ENI's holder,
    # sends each a notice signed with the member's own key (README, "Graceful stops").
    stop_notice: list[str] = Field(default_factory=list, max_length=9)

    @field_validator("stop_notice")
    @classmethod
    def _stop_notice(cls, v: list[str]) -> list[str]:
        for to in v:
            split_host_port(to)
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: int) -> int:
        if 253 <= v <= 255:
            raise ValueError("tables 253-255 are the kernel's default, main and local tables")
        return v

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.IPv4Network(v, strict=True)
        return v


class TcpCheck(_Model):
    type: Literal["tcp"]
    port: int = Field(ge=1, le=65535)
    timeout_s: float | None = Field(default=None, gt=0)


class HttpCheck(_Model):
    type: Literal["http", "https"]
    url: str
    expect_status: int = Field(default=200, ge=100, le=599)
    body_contains: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    verify_tls: bool = True


class EcsStatusCheck(_Model):
    type: Literal["ecs_status"]
    # Its own cadence (default: the group's health interval). One batched call per round
    # covers every member of every group, and Stopping/Stopped needs no `fall` rounds, so a
    # short interval here catches an instance being stopped sooner at little API cost.
    interval_s: float | None = Field(default=None, ge=0.1)
    timeout_s: float | None = Field(default=None, gt=0)


class CommandCheck(_Model):
    type: Literal["command"]
    run: str | list[str]  # a string is split like a shell would, but no shell runs
    shell: bool = False
    timeout_s: float | None = Field(default=None, gt=0)


Check = Annotated[TcpCheck | HttpCheck | EcsStatusCheck | CommandCheck, Field(discriminator="type")]


class Defaults(_Model):
    health: HealthConfig = HealthConfig()
    policy: PolicyConfig = PolicyConfig()
    guest: GuestConfig = GuestConfig()


class GroupConfig(_Model):
    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    network_interface: str = Field(min_length=1)
    members: list[str] = Field(min_length=2)
    service_ips: list[str] = Field(default_factory=list)
    eips: list[str] = Field(default_factory=list)
    checks: list[Check] = Field(min_length=1)
    health: HealthConfig = HealthConfig()
    policy: PolicyConfig = PolicyConfig()
    guest: GuestConfig = GuestConfig()


class Config(_Model):
    controller: ControllerConfig = ControllerConfig()
    zookeeper: ZookeeperConfig = ZookeeperConfig()
    cloud: CloudConfig
    defaults: Defaults = Defaults()
    groups: list[GroupConfig] = Field(default_factory=list)

    def group(self, name: str) -> GroupConfig:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    @property
    def instances(self) -> list[str]:
        seen: dict[str, None] = {}
        for g in self.groups:
            for m in g.members:
                seen.setdefault(m, None)
        return list(seen)


# ------------------------------------------------------------------- helpers


def split_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)
