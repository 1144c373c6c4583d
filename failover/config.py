"""The configuration file: YAML in, validated, typed, immutable models out.

Owns the configuration contract of DESIGN.md. Every problem is reported as
one line naming its key path (`groups[0].members: needs at least 2 instances`),
all problems at once, so an operator fixes the file in one pass.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import string
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PLACEHOLDERS = frozenset({"ip", "instance", "group"})
MAX_SECONDARY_IPS = 19  # 20 private IPs per ENI, one of them the primary
CHECK_TYPES = ("tcp", "http", "https", "ecs_status", "command")
# Shared and burstable families: an ENI attaches to them only while they are Stopped.
STOP_TO_ATTACH_TYPES = ("ecs.t5", "ecs.t6", "ecs.s6", "ecs.xn4", "ecs.n4", "ecs.mn4", "ecs.e4")


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
    # A zone outage fails many groups at once; bounded so the API budget holds.
    max_parallel_failovers: int = Field(default=16, ge=1, le=256)
    tick_s: float = Field(default=0.05, gt=0, le=5)  # how often the leader re-decides

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


class ZookeeperConfig(_Model):
    hosts: str = "127.0.0.1:2181"
    root: str = "/failover"
    session_timeout_s: float = Field(default=6.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    auth: ZkAuth | None = None
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
    # The API budget: a token bucket per action shared by the process, with a
    # share that only failover steps may spend.
    api_rate_per_s: float = Field(default=20.0, gt=0)
    api_burst: int = Field(default=40, ge=1)
    failover_reserve: float = Field(default=0.3, ge=0, lt=1)

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
    detach_timeout_s: float = Field(default=30.0, gt=0)
    attach_timeout_s: float = Field(default=30.0, gt=0)
    detach_retry_s: float = Field(default=10.0, gt=0)  # re-issue a stalled detach after this
    stop_timeout_s: float = Field(default=60.0, gt=0)
    guest_timeout_s: float = Field(default=60.0, gt=0)
    verify_timeout_s: float = Field(default=30.0, gt=0)
    flap_max_failovers: int = Field(default=3, ge=1)
    flap_window_s: float = Field(default=3600.0, gt=0)
    # Instance types whose ENIs change only while Stopped. The API has no such flag, so
    # this list is ours: the shared and burstable families the ENI docs name. A prefix
    # matches a type that equals it or continues with "." or "-" (ecs.t6 -> ecs.t6-c1m1.large).
    stop_to_attach_types: list[str] = Field(default_factory=lambda: list(STOP_TO_ATTACH_TYPES))
    # How often every replica re-checks that each standby could take the ENI (cloud reads).
    readiness_interval_s: float = Field(default=30.0, ge=1, le=3600)

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


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    items = list(loc)
    for i, part in enumerate(items):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in CHECK_TYPES and i > 0 and isinstance(items[i - 1], int):
            continue  # pydantic's discriminator tag: not a key the operator wrote
        elif "function-after" in part or part.startswith(("literal[", "int", "str")):
            continue  # union branch labels
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


_FRIENDLY = {
    "missing": "missing (required)",
    "extra_forbidden": "unknown key",
    "union_tag_invalid": "unknown check type; use one of " + ", ".join(CHECK_TYPES),
    "union_tag_not_found": "needs a 'type' (one of " + ", ".join(CHECK_TYPES) + ")",
}


def _pydantic_problems(err: ValidationError) -> list[str]:
    problems: dict[str, str] = {}
    for e in err.errors():
        path = _path(e["loc"])
        if e["type"] in _FRIENDLY:
            msg = _FRIENDLY[e["type"]]
        elif e["type"] == "too_short" and path.endswith("members"):
            msg = "needs at least 2 instances"
        elif e["type"] == "too_short" and path.endswith("checks"):
            msg = "needs at least one check"
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
        # A union reports each branch; the first message per path is enough.
        problems.setdefault(path, msg)
    return [f"{p}: {m}" for p, m in problems.items()]


def _merge_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Groups inherit `defaults` and override them field by field."""
    defaults = raw.get("defaults") or {}
    groups = raw.get("groups")
    if not isinstance(defaults, dict) or not isinstance(groups, list):
        return raw
    merged = []
    for group in groups:
        if isinstance(group, dict):
            group = {**group}  # noqa: PLW2901 - a merged copy replaces the raw one
            for section in ("health", "policy", "guest"):
                base = defaults.get(section)
                own = group.get(section)
                if isinstance(base, dict) and (own is None or isinstance(own, dict)):
                    group[section] = {**base, **(own or {})}
        merged.append(group)
    return {**raw, "groups": merged}


def _placeholders(text: str) -> Iterator[str]:
    try:
        for _, name, _, _ in string.Formatter().parse(text):
            if name is not None:
                yield name
    except ValueError:
        yield "{"  # an unbalanced brace


def semantic_problems(cfg: Config) -> list[str]:
    """What types cannot catch: the mistakes operators actually make."""
    out: list[str] = []
    names: dict[str, int] = {}
    enis: dict[str, int] = {}
    ip_owner: dict[str, int] = {}
    longest_interval = 0.0
    for i, g in enumerate(cfg.groups):
        p = f"groups[{i}]"
        if g.name in names:
            out.append(f"{p}.name: duplicate group name {g.name!r} (also groups[{names[g.name]}])")
        names.setdefault(g.name, i)
        if g.network_interface in enis:
            out.append(
                f"{p}.network_interface: {g.network_interface} is already used by "
                f"groups[{enis[g.network_interface]}]; an ENI belongs to one group"
            )
        enis.setdefault(g.network_interface, i)
        seen_members: set[str] = set()
        for j, m in enumerate(g.members):
            if m in seen_members:
                out.append(f"{p}.members[{j}]: instance {m} is listed twice")
            seen_members.add(m)
        for j, ip in enumerate(g.service_ips):
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                out.append(f"{p}.service_ips[{j}]: {ip!r} is not an IPv4 address")
                continue
            if addr.version != 4:
                out.append(f"{p}.service_ips[{j}]: {ip!r} is not an IPv4 address")
            elif ip in ip_owner and ip_owner[ip] != i:
                out.append(f"{p}.service_ips[{j}]: {ip} is also a service IP of groups[{ip_owner[ip]}]")
            ip_owner.setdefault(ip, i)
        if len(g.service_ips) > MAX_SECONDARY_IPS:
            out.append(
                f"{p}.service_ips: {len(g.service_ips)} IPs; an ENI holds at most "
                f"{MAX_SECONDARY_IPS} secondary IPs (20 with its primary)"
            )
        if len(set(g.service_ips)) != len(g.service_ips):
            out.append(f"{p}.service_ips: an IP is listed twice")
        for j, eip in enumerate(g.eips):
            try:
                ipaddress.IPv4Address(eip)
            except ValueError:
                out.append(f"{p}.eips[{j}]: {eip!r} is not an IPv4 address")
        h = g.health
        if h.timeout_s >= h.interval_s:
            out.append(
                f"{p}.health.timeout_s: {h.timeout_s} must be shorter than interval_s "
                f"({h.interval_s}) or probe rounds overlap"
            )
        if h.fall < 1:
            out.append(f"{p}.health.fall: must be at least 1")
        if h.rise < 1:
            out.append(f"{p}.health.rise: must be at least 1")
        longest_interval = max(longest_interval, h.interval_s)
        for j, c in enumerate(g.checks):
            texts: list[tuple[str, str]] = []
            if isinstance(c, HttpCheck):
                texts = [("url", c.url)]
            elif isinstance(c, CommandCheck):
                texts = (
                    [("run", c.run)] if isinstance(c.run, str)
                    else [(f"run[{k}]", a) for k, a in enumerate(c.run)]
                )
            for key, text in texts:
                for name in _placeholders(text):
                    if name not in PLACEHOLDERS:
                        out.append(
                            f"{p}.checks[{j}].{key}: unknown placeholder {{{name}}}; "
                            "use {ip}, {instance} or {group}"
                        )
        if g.guest.cidr and g.guest.gateway:
            try:
                if ipaddress.IPv4Address(g.guest.gateway) not in ipaddress.IPv4Network(g.guest.cidr):
                    out.append(f"{p}.guest.gateway: {g.guest.gateway} is outside {g.guest.cidr}")
            except ValueError:
                out.append(f"{p}.guest.gateway: {g.guest.gateway!r} is not an IPv4 address")
        if isinstance(h.quorum, int) and h.quorum > 9:
            out.append(f"{p}.health.quorum: {h.quorum} voters is more replicas than make sense")
    zk = cfg.zookeeper
    if cfg.groups and zk.session_timeout_s < 2 * longest_interval:
        out.append(
            f"zookeeper.session_timeout_s: {zk.session_timeout_s} is too short for a health "
            f"interval_s of {longest_interval}; use at least {2 * longest_interval:g} so a "
            "replica is not declared dead between two probe rounds"
        )
    return out


def warnings(cfg: Config) -> list[str]:
    """Suspicious but legal settings: printed, never fatal."""
    out: list[str] = []
    ep = cfg.cloud.endpoint
    if ep:
        host = ep.rsplit(":", 1)[0].strip("[]") if ":" in ep else ep
        loopback = host == "localhost" or _is_loopback(host)
        if loopback and cfg.cloud.protocol == "https":
            out.append(
                f"cloud.protocol: https with a loopback endpoint ({ep}); the emulator speaks http"
            )
        if not loopback and not _is_private(host) and cfg.cloud.protocol == "http":
            out.append(
                f"cloud.protocol: http to a public endpoint ({ep}) sends requests unencrypted"
            )
    return out


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False


def parse(raw: Any, source: str = "config") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError([f"(top level): {source} must be a mapping of sections"])
    # Replicas share one file (a ConfigMap); each takes its id from its environment.
    env_id = os.environ.get("FAILOVER_CONTROLLER_ID")
    if env_id and isinstance(raw.get("controller", {}), dict):
        raw = {**raw, "controller": {**(raw.get("controller") or {}), "id": env_id}}
    try:
        cfg = Config.model_validate(_merge_defaults(raw))
    except ValidationError as err:
        raise ConfigError(_pydantic_problems(err)) from None
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def default_path() -> Path:
    return Path(os.environ.get("FAILOVER_CONFIG") or "config/local.yaml")


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"--config: file not found: {p}"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"--config: cannot read {p}: {e.__class__.__name__}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ConfigError([f"{p}{where}: YAML syntax error: {problem}"]) from None
    return parse(raw, str(p))
