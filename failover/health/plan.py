"""What to probe: the group's checks turned into concrete probe specs (pure).

A round probes every check of every member at the member's primary IP; a
verify probes the new holder at each service IP. Placeholders `{ip}`,
`{instance}` and `{group}` are substituted here. A command string is split
like a shell would *before* substitution, so a value can never become extra
arguments; with `shell: true` each value is shell-quoted instead.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from failover.config import CommandCheck, EcsStatusCheck, GroupConfig, HttpCheck, TcpCheck
from failover.records import serving_key

AnyCheck = TcpCheck | HttpCheck | EcsStatusCheck | CommandCheck


@dataclass(frozen=True)
class TcpTarget:
    host: str
    port: int


@dataclass(frozen=True)
class HttpTarget:
    url: str
    expect_status: int = 200
    body_contains: str | None = None
    verify_tls: bool = True


@dataclass(frozen=True)
class CommandTarget:
    argv: tuple[str, ...]  # with shell: ("/bin/sh", "-c", script)


@dataclass(frozen=True)
class EcsTarget:
    instance: str


Target = TcpTarget | HttpTarget | CommandTarget | EcsTarget


@dataclass(frozen=True)
class ProbeSpec:
    group: str
    instance: str
    key: str  # unique per member: "0:tcp:80", "1:http", ...
    kind: str  # the check type, the `check` label of the metrics
    timeout_s: float
    target: Target


@dataclass(frozen=True)
class Skipped:
    """A check that cannot be probed this round (no evidence either way)."""

    group: str
    instance: str
    key: str
    kind: str
    reason: str


def substitute(text: str, *, ip: str, instance: str, group: str) -> str:
    return text.format_map({"ip": ip, "instance": instance, "group": group})


def check_label(check: AnyCheck) -> str:
    return f"tcp:{check.port}" if isinstance(check, TcpCheck) else check.type


def needs_ip(check: AnyCheck) -> bool:
    if isinstance(check, TcpCheck):
        return True
    if isinstance(check, HttpCheck):
        return "{ip}" in check.url
    if isinstance(check, CommandCheck):
        parts = [check.run] if isinstance(check.run, str) else check.run
        return any("{ip}" in p for p in parts)
    return False


def command_argv(check: CommandCheck, *, ip: str, instance: str, group: str) -> tuple[str, ...]:
    if check.shell:
        script = check.run if isinstance(check.run, str) else " ".join(check.run)
        quoted = {"ip": shlex.quote(ip), "instance": shlex.quote(instance), "group": shlex.quote(group)}
        return ("/bin/sh", "-c", script.format_map(quoted))
    words = shlex.split(check.run) if isinstance(check.run, str) else list(check.run)
    if not words:
        raise ValueError("command check: `run` is empty")
    return tuple(substitute(w, ip=ip, instance=instance, group=group) for w in words)


def target_for(check: AnyCheck, *, ip: str, instance: str, group: str) -> Target:
    if isinstance(check, TcpCheck):
        return TcpTarget(host=ip, port=check.port)
    if isinstance(check, HttpCheck):
        return HttpTarget(
            url=substitute(check.url, ip=ip, instance=instance, group=group),
            expect_status=check.expect_status,
            body_contains=check.body_contains,
            verify_tls=check.verify_tls,
        )
    if isinstance(check, CommandCheck):
        return CommandTarget(argv=command_argv(check, ip=ip, instance=instance, group=group))
    return EcsTarget(instance=instance)


def _timeout(check: AnyCheck, group: GroupConfig) -> float:
    own = check.timeout_s
    if own is None and isinstance(check, EcsStatusCheck) and check.interval_s is not None:
        # A faster status round must not inherit a timeout longer than itself.
        return min(group.health.timeout_s, check.interval_s / 2)
    return own if own is not None else group.health.timeout_s


def plan_round(
    groups: Sequence[GroupConfig], addresses: Mapping[str, str]
) -> tuple[list[ProbeSpec], list[Skipped]]:
    """Every check of every member at its primary IP (`addresses`: instance -> IP)."""
    specs: list[ProbeSpec] = []
    skipped: list[Skipped] = []
    for g in groups:
        for member in g.members:
            ip = addresses.get(member)
            for i, check in enumerate(g.checks):
                key = f"{i}:{check_label(check)}"
                if ip is None and needs_ip(check):
                    skipped.append(Skipped(g.name, member, key, check.type, "no address"))
                    continue
                target = target_for(check, ip=ip or "", instance=member, group=g.name)
                specs.append(ProbeSpec(g.name, member, key, check.type, _timeout(check, g), target))
    return specs, skipped


Holder = tuple[str, tuple[str, ...]]  # the ENI's holder and the ENI's private IPs


def plan_serving(groups: Sequence[GroupConfig], holders: Mapping[str, Holder | None]) -> list[ProbeSpec]:
    """The serving signal: each group's `{ip}` checks through its service IPs (the ENI's
    IPs when it names none, as verify does), with `{instance}` the ENI's holder as this
    replica's last read of the cloud shows it. A group without an `{ip}` check has none."""
    specs: list[ProbeSpec] = []
    for g in groups:
        found = holders.get(g.name)
        if found is None:
            continue
        holder, eni_ips = found
        for i, check in enumerate(g.checks):
            if not needs_ip(check):
                continue
            for ip in g.service_ips or eni_ips:
                target = target_for(check, ip=ip, instance=holder, group=g.name)
                specs.append(ProbeSpec(g.name, serving_key(holder), f"{i}:{check_label(check)}@{ip}",
                                       check.type, _timeout(check, g), target))
    return specs


def plan_verify(group: GroupConfig, instance: str, ips: Sequence[str]) -> list[ProbeSpec]:
    """The group's checks against a new holder, `{ip}` bound to each service IP.

    A check that does not mention `{ip}` (ecs_status, a fixed URL) runs once.
    """
    specs: list[ProbeSpec] = []
    for i, check in enumerate(group.checks):
        label = check_label(check)
        bound = list(ips) if needs_ip(check) else [""]
        for ip in bound:
            target = target_for(check, ip=ip, instance=instance, group=group.name)
            key = f"{i}:{label}@{ip}" if ip else f"{i}:{label}"
            specs.append(ProbeSpec(group.name, instance, key, check.type, _timeout(check, group), target))
    return specs
