"""The configuration contract: what loads, and every mistake named by its key path."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from failover import config
from failover.cli import main

ROOT = Path(__file__).resolve().parents[3]

BASE: dict[str, Any] = {
    "zookeeper": {"hosts": "127.0.0.1:2181", "session_timeout_s": 6},
    "cloud": {"region": "cn-hangzhou", "endpoint": "127.0.0.1:18765", "protocol": "http"},
    "defaults": {"health": {"interval_s": 1, "timeout_s": 0.5, "fall": 3, "rise": 2}},
    "groups": [
        {
            "name": "web",
            "network_interface": "eni-a",
            "members": ["i-1", "i-2"],
            "service_ips": ["192.168.1.51"],
            "checks": [{"type": "tcp", "port": 80}],
        }
    ],
}


def _with(mutate: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    return doc


def _second_group(doc: dict[str, Any], **over: Any) -> None:
    g = copy.deepcopy(doc["groups"][0])
    g.update({"name": "db", "network_interface": "eni-b", "service_ips": ["192.168.1.61"]})
    g.update(over)
    doc["groups"].append(g)


BROKEN: list[tuple[str, Any, str]] = [
    ("wrong type", lambda d: d["zookeeper"].update(session_timeout_s="six"), "zookeeper.session_timeout_s:"),
    ("interval not a number", lambda d: d["defaults"]["health"].update(interval_s="fast"),
     "defaults.health.interval_s: Input should be a valid number"),
    ("quorum not a number", lambda d: d["defaults"]["health"].update(quorum=0),
     "defaults.health.quorum:"),
    ("missing region", lambda d: d["cloud"].pop("region"), "cloud.region: missing"),
    ("missing cloud", lambda d: d.pop("cloud"), "cloud: missing"),
    ("unknown top key", lambda d: d.update(extra=1), "extra: unknown key"),
    ("unknown nested key", lambda d: d["groups"][0].update(member=["i-1"]), "groups[0].member: unknown key"),
    ("one member", lambda d: d["groups"][0].update(members=["i-1"]),
     "groups[0].members: needs at least 2 instances"),
    ("duplicate group", lambda d: _second_group(d, name="web"), "groups[1].name: duplicate group name"),
    ("eni in two groups", lambda d: _second_group(d, network_interface="eni-a"),
     "groups[1].network_interface: eni-a is already used by groups[0]"),
    ("instance twice", lambda d: d["groups"][0].update(members=["i-1", "i-2", "i-1"]),
     "groups[0].members[2]: instance i-1 is listed twice"),
    ("ipv6 service ip", lambda d: d["groups"][0].update(service_ips=["fe80::1"]),
     "groups[0].service_ips[0]: 'fe80::1' is not an IPv4 address"),
    ("garbage service ip", lambda d: d["groups"][0].update(service_ips=["300.1.1.1"]),
     "groups[0].service_ips[0]: '300.1.1.1' is not an IPv4 address"),
    ("20 service ips", lambda d: d["groups"][0].update(service_ips=[f"192.168.1.{i}" for i in range(100, 120)]),
     "groups[0].service_ips: 20 IPs"),
    ("timeout >= interval", lambda d: d["defaults"]["health"].update(timeout_s=1),
     "defaults.health.timeout_s: 1"),
    ("status timeout >= its interval", lambda d: d["groups"][0]["checks"].append(
        {"type": "ecs_status", "interval_s": 0.25, "timeout_s": 0.3}),
     "groups[0].checks[1].timeout_s: 0.3 must be shorter than the check's interval (0.25)"),
    ("status interval too short", lambda d: d["groups"][0]["checks"].append(
        {"type": "ecs_status", "interval_s": 0.01}), "groups[0].checks[1].interval_s:"),
    ("fall 0", lambda d: d["defaults"]["health"].update(fall=0), "defaults.health.fall: must be at least 1"),
    ("rise 0", lambda d: d["groups"][0].update(health={"rise": 0}), "groups[0].health.rise: must be at least 1"),
    ("unknown placeholder", lambda d: d["groups"][0]["checks"].append(
        {"type": "http", "url": "http://{host}/"}), "groups[0].checks[1].url: unknown placeholder {host}"),
    ("unknown placeholder in argv", lambda d: d["groups"][0]["checks"].append(
        {"type": "command", "run": ["check", "{node}"]}), "groups[0].checks[1].run[1]: unknown placeholder {node}"),
    ("unknown check type", lambda d: d["groups"][0]["checks"].append({"type": "ping"}),
     "groups[0].checks[1]: unknown check type"),
    ("bad port", lambda d: d["groups"][0]["checks"].append({"type": "tcp", "port": 70000}),
     "groups[0].checks[1].port:"),
    ("session too short", lambda d: d["zookeeper"].update(session_timeout_s=1),
     "zookeeper.session_timeout_s: 1.0 is too short"),
    ("bad quorum", lambda d: d["defaults"]["health"].update(quorum="most"), "defaults.health.quorum:"),
    ("endpoint with scheme", lambda d: d["cloud"].update(endpoint="http://127.0.0.1:1"),
     "cloud.endpoint: give host[:port] only"),
    ("bad zk hosts", lambda d: d["zookeeper"].update(hosts="zk1,zk2"), "zookeeper.hosts:"),
    ("bad fence", lambda d: d["defaults"].update(policy={"fence": "sometimes"}), "defaults.policy.fence:"),
    ("groups not a list", lambda d: d.update(groups={"web": {}}), "groups:"),
    ("stop notice without prestage", lambda d: d["groups"][0].update(guest={"stop_notice": ["10.0.0.2:9108"]}),
     "groups[0].guest.stop_notice: the notice is sent by the pre-staged unit"),
    ("stop notice not host:port", lambda d: d["groups"][0].update(
        guest={"prestage": True, "stop_notice": ["10.0.0.2"]}), "groups[0].guest.stop_notice:"),
]


@pytest.mark.parametrize(("label", "mutate", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_names_the_key_path(label: str, mutate: Any, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_with(mutate)))
    result = CliRunner().invoke(main, ["--config", str(path), "validate"])
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output


def test_example_and_local_configs_are_valid() -> None:
    for name in ("example.yaml", "local.yaml"):
        cfg = config.load(ROOT / "config" / name)
        assert cfg.groups


def test_the_example_configs_step_timeouts_are_not_below_the_defaults() -> None:
    """The defaults follow the public tools' waits (attach 2 min, detach 1 min); an example
    that sets less teaches operators to fail good attaches (the old 30 s was the assumed p99)."""
    from failover.config.models import PolicyConfig

    floor = PolicyConfig()
    paths = [ROOT / "config" / "example.yaml", ROOT / "deploy/kubernetes/base/config.yaml",
             ROOT / "deploy/kubernetes/overlays/example/config.yaml"]
    for path in paths:
        doc = yaml.safe_load(path.read_text())
        policy = doc.get("defaults", {}).get("policy", {})
        for key in ("attach_timeout_s", "detach_timeout_s"):
            assert float(policy.get(key, getattr(floor, key))) >= getattr(floor, key), (path, key)


def test_groups_inherit_defaults_field_by_field() -> None:
    doc = _with(lambda d: d["groups"][0].update(health={"fall": 5}))
    doc["defaults"]["policy"] = {"cooldown_s": 42, "fence": "always"}
    doc["groups"][0]["policy"] = {"fence": "never"}
    cfg = config.parse(doc)
    g = cfg.groups[0]
    assert (g.health.fall, g.health.rise, g.health.interval_s) == (5, 2, 1)
    assert (g.policy.cooldown_s, g.policy.fence) == (42, "never")


def test_models_are_immutable() -> None:
    cfg = config.parse(copy.deepcopy(BASE))
    with pytest.raises(Exception, match="frozen"):
        cfg.groups[0].name = "other"


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    doc = _with(lambda d: d["groups"][0].update(members=["i-1", "i-1"], service_ips=["x"]))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(main, ["--config", str(path), "validate"])
    assert result.exit_code == 2
    assert "members[1]: instance i-1 is listed twice" in result.output
    assert "service_ips[0]: 'x' is not an IPv4 address" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [("cloud: [unclosed", "YAML syntax error"), ("- just\n- a list\n", "must be a mapping")],
)
def test_unparseable_files(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["--config", str(path), "validate"])
    assert result.exit_code == 2
    assert expected in result.output


def test_missing_file_and_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "failover", "validate", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: --config: file not found: {tmp_path / 'nope.yaml'}"


def test_protocol_warnings() -> None:
    loopback_https = config.parse(_with(lambda d: d["cloud"].update(protocol="https")))
    assert any("loopback" in w for w in config.warnings(loopback_https))
    public_http = config.parse(_with(lambda d: d["cloud"].update(endpoint="47.1.2.3:80")))
    assert any("unencrypted" in w for w in config.warnings(public_http))
    assert config.warnings(config.parse(copy.deepcopy(BASE))) == []


def test_a_burst_above_the_rate_is_warned_about() -> None:
    bursty = config.parse(_with(lambda d: d["cloud"].update(api_rate_per_s=10, api_burst=11)))
    assert [w.split(":")[0] for w in config.warnings(bursty)] == ["cloud.api_burst"]
    even = config.parse(_with(lambda d: d["cloud"].update(api_rate_per_s=10, api_burst=10)))
    assert config.warnings(even) == []


def test_validate_ok_line_and_json(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    result = CliRunner().invoke(main, ["--config", str(path), "validate"])
    assert (result.exit_code, result.output.strip()) == (0, "ok: 1 groups, 2 instances")
    result = CliRunner().invoke(main, ["validate", "--config", str(path), "--json"])
    assert result.exit_code == 0
    assert '"instances": 2' in result.output


def test_every_contract_command_is_registered() -> None:
    for name in ("run", "status", "drill", "history", "validate", "ack", "journal", "provision",
                 "guest", "sim", "lab", "demo"):
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_controller_id_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = copy.deepcopy(BASE)
    doc["controller"] = {"id": "from-file"}
    assert config.parse(copy.deepcopy(doc)).controller.id == "from-file"
    monkeypatch.setenv("FAILOVER_CONTROLLER_ID", "pod-7")
    assert config.parse(doc).controller.id == "pod-7"


@pytest.mark.parametrize("key", ["bad\rkey", "line\nbreak", "int", "[x"])
def test_odd_unknown_keys_are_named_on_one_line(key: str, tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["groups"][0][key] = 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(main, ["--config", str(path), "validate"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    shown = key if key.isprintable() else repr(key)
    assert lines[0] == f"error: groups[0].{shown}: unknown key"
