"""Semantic checks: the mistakes operators actually make, which types cannot catch."""

from __future__ import annotations

import ipaddress
import os
import string
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from failover.config.models import (
    MAX_SECONDARY_IPS,
    PLACEHOLDERS,
    CommandCheck,
    Config,
    EcsStatusCheck,
    EnvCredentials,
    HttpCheck,
)


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
        if not g.network_interface.startswith("eni-"):
            out.append(f"{p}.network_interface: {g.network_interface!r} is not an ENI id (eni-...)")
        seen_members: set[str] = set()
        for j, m in enumerate(g.members):
            if not m.startswith("i-"):
                out.append(f"{p}.members[{j}]: {m!r} is not an ECS instance id (i-...)")
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
                parts = urlsplit(c.url)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    out.append(f"{p}.checks[{j}].url: {c.url!r} is not an http:// or https:// URL")
            elif isinstance(c, CommandCheck):
                texts = (
                    [("run", c.run)] if isinstance(c.run, str)
                    else [(f"run[{k}]", a) for k, a in enumerate(c.run)]
                )
            if isinstance(c, EcsStatusCheck) and c.timeout_s is not None \
                    and c.timeout_s >= (c.interval_s or h.interval_s):
                out.append(f"{p}.checks[{j}].timeout_s: {c.timeout_s} must be shorter than the "
                           f"check's interval ({c.interval_s or h.interval_s}) or status rounds "
                           "overlap")
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
        if g.guest.prestage and (g.guest.os == "windows" or g.guest.method == "none"):
            out.append(f"{p}.guest.prestage: pre-staging needs a Linux guest configured by the "
                       f"controller (os {g.guest.os}, method {g.guest.method}); windows keeps the "
                       "RunCommand guest step")
        if g.guest.stop_notice and not g.guest.prestage:
            out.append(f"{p}.guest.stop_notice: the notice is sent by the pre-staged unit; "
                       "set guest.prestage: true")
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


def environment_problems(cfg: Config, environ: Mapping[str, str]) -> list[str]:
    """The environment variables the config names, as `run` and `status` will need them.
    Values are never shown: only whether each is set and has the expected shape."""
    out: list[str] = []
    creds = cfg.cloud.credentials
    if isinstance(creds, EnvCredentials):
        named = [("access_key_id_env", creds.access_key_id_env),
                 ("access_key_secret_env", creds.access_key_secret_env)]
        if creds.security_token_env:
            named.append(("security_token_env", creds.security_token_env))
        for key, var in named:
            if not environ.get(var):
                out.append(f"cloud.credentials.{key}: environment variable {var} is not set")
    tls = cfg.zookeeper.tls
    if tls is not None:
        for key in ("ca", "cert", "key"):
            path = getattr(tls, key)
            if path is not None and not os.access(path, os.R_OK):
                out.append(f"zookeeper.tls.{key}: {path} is not a readable file")
    auth = cfg.zookeeper.auth
    if auth is not None:
        var = auth.credential_env
        user, sep, password = environ.get(var, "").partition(":")
        if not environ.get(var):
            out.append(f"zookeeper.auth.credential_env: environment variable {var} is not set")
        elif not (user and sep and password):
            out.append(f"zookeeper.auth.credential_env: environment variable {var} is not in the form "
                       "user:password")
    return out


def warnings(cfg: Config) -> list[str]:
    """Suspicious but legal settings: printed, never fatal."""
    out: list[str] = []
    if cfg.cloud.api_burst > cfg.cloud.api_rate_per_s:
        out.append(
            f"cloud.api_burst: {cfg.cloud.api_burst} calls at once is more than api_rate_per_s "
            f"({cfg.cloud.api_rate_per_s:g}) allows in a second; a gateway counting each second "
            "throttles the excess"
        )
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
