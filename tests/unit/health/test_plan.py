"""Probe planning: targets, placeholders, and no way for a value to become arguments."""

from __future__ import annotations

from typing import Any

from failover.config import CommandCheck, GroupConfig
from failover.health.plan import (
    CommandTarget,
    EcsTarget,
    HttpTarget,
    TcpTarget,
    command_argv,
    plan_round,
    plan_verify,
)


def group(**over: Any) -> GroupConfig:
    doc: dict[str, Any] = {
        "name": "web",
        "network_interface": "eni-a",
        "members": ["i-1", "i-2"],
        "service_ips": ["10.0.0.51", "10.0.0.52"],
        "checks": [
            {"type": "tcp", "port": 80},
            {"type": "http", "url": "http://{ip}:8080/healthz?g={group}", "timeout_s": 0.3},
            {"type": "ecs_status"},
            {"type": "command", "run": "/bin/check --host {ip} --id {instance}"},
        ],
        "health": {"timeout_s": 0.4},
    }
    doc.update(over)
    return GroupConfig.model_validate(doc)


def test_round_probes_every_check_of_every_member_at_its_primary_ip() -> None:
    specs, skipped = plan_round([group()], {"i-1": "127.0.0.11", "i-2": "127.0.0.12"})
    assert not skipped
    assert len(specs) == 8
    one = {s.key: s for s in specs if s.instance == "i-1"}
    assert one["0:tcp:80"].target == TcpTarget("127.0.0.11", 80)
    assert one["0:tcp:80"].timeout_s == 0.4  # the group's timeout
    http = one["1:http"]
    assert isinstance(http.target, HttpTarget)
    assert http.target.url == "http://127.0.0.11:8080/healthz?g=web"
    assert http.timeout_s == 0.3  # the check's own timeout wins
    assert one["2:ecs_status"].target == EcsTarget("i-1")
    assert one["3:command"].target == CommandTarget(("/bin/check", "--host", "127.0.0.11", "--id", "i-1"))


def test_member_without_an_address_skips_only_the_checks_that_need_one() -> None:
    specs, skipped = plan_round([group()], {"i-1": "127.0.0.11"})
    assert {(s.instance, s.key) for s in skipped} == {
        ("i-2", "0:tcp:80"), ("i-2", "1:http"), ("i-2", "3:command")
    }
    assert {s.reason for s in skipped} == {"no address"}
    assert ("i-2", "2:ecs_status") in {(s.instance, s.key) for s in specs}


def test_a_value_never_becomes_extra_arguments() -> None:
    check = CommandCheck(type="command", run="check {ip} --flag")
    argv = command_argv(check, ip="1.2.3.4; rm -rf / #", instance="i-1", group="g")
    assert argv == ("check", "1.2.3.4; rm -rf / #", "--flag")


def test_list_form_substitutes_each_argument() -> None:
    check = CommandCheck(type="command", run=["probe", "--target={ip}:80", "{group}"])
    assert command_argv(check, ip="127.0.0.1", instance="i", group="g") == (
        "probe", "--target=127.0.0.1:80", "g"
    )


def test_shell_form_quotes_values() -> None:
    check = CommandCheck(type="command", run="test {ip} = x && echo ok", shell=True)
    argv = command_argv(check, ip="a; touch /tmp/pwned", instance="i", group="g")
    assert argv == ("/bin/sh", "-c", "test 'a; touch /tmp/pwned' = x && echo ok")


def test_verify_binds_ip_to_each_service_ip_and_runs_ip_free_checks_once() -> None:
    g = group(checks=[
        {"type": "tcp", "port": 443},
        {"type": "http", "url": "http://127.0.0.1:9/fixed"},
        {"type": "ecs_status"},
    ])
    specs = plan_verify(g, "i-2", ["127.0.0.51", "127.0.0.52"])
    assert [s.key for s in specs] == [
        "0:tcp:443@127.0.0.51", "0:tcp:443@127.0.0.52", "1:http", "2:ecs_status"
    ]
    assert {s.instance for s in specs} == {"i-2"}
