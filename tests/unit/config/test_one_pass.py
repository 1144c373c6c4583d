"""Config validation in one pass: every problem, structural and semantic, once, at the path the
user wrote; no library internals; ID, URL and `groups` checks; the environment the config
names; `validate --json` always a document; the JSON Schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from failover import config
from failover.cli import main
from tests.unit.config.test_config import BASE, ROOT, _second_group

ENV = {"AK": "id", "SK": "secret"}


def _invoke(doc: dict[str, Any], tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    return CliRunner().invoke(main, ["validate", "--config", str(path), *args], env=env)


def _problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(config.ConfigError) as e:
        config.parse(doc)
    return e.value.problems


def test_structural_errors_do_not_hide_semantic_ones() -> None:
    """The issue's example: a bad port hid `timeout_s >= interval_s` and `fall: 0`."""
    doc = copy.deepcopy(BASE)
    _second_group(doc, members=["i-7", "i-7"])
    doc["groups"][0]["checks"] = [{"type": "tcp", "port": 70000}, {"type": "http", "url": "http://{host}/"}]
    doc["groups"][0]["health"] = {"timeout_s": 2, "fall": 0}
    problems = _problems(doc)
    paths = [p.split(": ")[0] for p in problems]
    assert "groups[0].checks[0].port" in paths
    assert "groups[0].checks[1].url" in paths  # a semantic problem of the next check
    assert "groups[0].health.timeout_s" in paths and "groups[0].health.fall" in paths
    assert "groups[1].members[1]" in paths  # the valid group's semantic problem, right index
    assert len(paths) == len(set(paths)), problems


def test_errors_under_defaults_are_reported_once_at_defaults() -> None:
    doc = copy.deepcopy(BASE)
    doc["defaults"]["health"].update(interval_s="fast", fall=0)
    doc["defaults"]["policy"] = {"fence": "sometimes"}
    _second_group(doc)
    _second_group(doc, name="api", network_interface="eni-c", service_ips=["192.168.1.71"])
    problems = _problems(doc)
    assert problems == [
        "defaults.health.interval_s: Input should be a valid number, unable to parse string as a number",
        "defaults.policy.fence: Input should be 'never', 'on_detach_timeout' or 'always'",
        "defaults.health.fall: must be at least 1",
    ]


def test_a_group_overriding_its_section_is_named_itself() -> None:
    doc = copy.deepcopy(BASE)
    _second_group(doc, health={"interval_s": 0.4})  # with the default timeout_s 0.5
    assert _problems(doc) == [
        "groups[1].health.timeout_s: 0.5 must be shorter than interval_s (0.4) or probe rounds overlap"]


@pytest.mark.parametrize("quorum", [0, -1, "most"])
def test_no_pydantic_internals_in_messages(quorum: Any) -> None:
    doc = copy.deepcopy(BASE)
    doc["defaults"]["health"]["quorum"] = quorum
    (line,) = _problems(doc)
    assert line.startswith("defaults.health.quorum: "), line
    for internal in ("constrained", "literal[", "function-after", "int]", "union"):
        assert internal not in line, line


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda g: g.update(network_interface="i-notaneni"),
     "groups[0].network_interface: 'i-notaneni' is not an ENI id (eni-...)"),
    (lambda g: g.update(members=["web-a", "i-2"]), "groups[0].members[0]: 'web-a' is not an ECS instance id (i-...)"),
    (lambda g: g["checks"].append({"type": "http", "url": "ftp://{ip}/x"}),
     "groups[0].checks[1].url: 'ftp://{ip}/x' is not an http:// or https:// URL"),
    (lambda g: g["checks"].append({"type": "http", "url": "{ip}:8080/healthz"}),
     "groups[0].checks[1].url: '{ip}:8080/healthz' is not an http:// or https:// URL"),
])
def test_ids_and_url_schemes(mutate: Any, expected: str) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc["groups"][0])
    assert _problems(doc) == [expected]


def test_a_file_without_groups_is_an_error_but_an_empty_list_is_not() -> None:
    doc = copy.deepcopy(BASE)
    del doc["groups"]
    (line,) = _problems(doc)
    assert line.startswith("groups: missing (required)")
    doc["groups"] = []
    assert config.parse(doc).groups == []


def test_validate_checks_the_environment_the_config_names(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["cloud"]["credentials"] = {"access_key_id_env": "AK", "access_key_secret_env": "SK"}
    doc["zookeeper"]["auth"] = {"credential_env": "ZKA"}
    r = _invoke(doc, tmp_path, env={"AK": "", "SK": "s3cr3t-value", "ZKA": "nocolon"})
    assert r.exit_code == 2
    assert r.output.splitlines() == [
        "error: cloud.credentials.access_key_id_env: environment variable AK is not set",
        "error: zookeeper.auth.credential_env: environment variable ZKA is not in the form user:password",
    ]
    assert "s3cr3t" not in r.output and "nocolon" not in r.output  # never a value
    assert _invoke(doc, tmp_path, env={**ENV, "ZKA": "u:p"}).exit_code == 0
    assert _invoke(doc, tmp_path, "--skip-env", env={"AK": "", "SK": "", "ZKA": ""}).exit_code == 0


def test_validate_json_always_prints_a_document(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["groups"][0]["members"] = ["i-1"]
    doc["zookeeper"]["port"] = 1
    r = _invoke(doc, tmp_path, "--json")
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    assert out["ok"] is False
    assert {"path": "groups[0].members", "message": "needs at least 2 instances"} in out["errors"]
    assert {"path": "zookeeper.port", "message": "unknown key"} in out["errors"]
    r = CliRunner().invoke(main, ["validate", "--json", "--config", str(tmp_path / "none.yaml")])
    assert r.exit_code == 2 and json.loads(r.stdout)["ok"] is False
    r = _invoke(copy.deepcopy(BASE), tmp_path, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True


def test_the_schema_accepts_the_shipped_configs_and_rejects_an_unknown_key() -> None:
    r = CliRunner().invoke(main, ["config", "schema"])
    assert r.exit_code == 0
    schema = json.loads(r.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    for name in ("example.yaml", "local.yaml"):
        jsonschema.validate(yaml.safe_load((ROOT / "config" / name).read_text()), schema)
    bad = copy.deepcopy(BASE)
    bad["groups"][0]["member"] = ["i-1"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_validate_checks_the_zookeeper_tls_files(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    doc = copy.deepcopy(BASE)
    doc["zookeeper"]["tls"] = {"ca": str(ca), "cert": str(tmp_path / "gone.pem"), "key": str(ca)}
    r = _invoke(doc, tmp_path)
    assert r.exit_code == 2
    assert r.output.strip() == f"error: zookeeper.tls.cert: {tmp_path / 'gone.pem'} is not a readable file"
    doc["zookeeper"]["tls"] = {"ca": str(ca), "cert": str(ca)}
    assert _problems(doc) == ["zookeeper.tls: cert and key go together (a client certificate and its key)"]
