"""Alert rules: promtool checks and unit tests, metric names, required alerts, runbook links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from failover import metrics
from tests.integration.deploy.promql import metric_names
from tests.integration.deploy.tools import ALERTS, DEPLOY, REPO, run_tool

RULES_TESTS = DEPLOY / "prometheus" / "alerts_test.yaml"
# Absolute links: the base is Prometheus's external label `runbook_base` (see alerts.yaml).
RUNBOOK_BASE = '{{ or $externalLabels.runbook_base "https://runbooks.invalid/failover" }}/'

# The list, alert by alert.
REQUIRED = {
    "FailoverNoLeader",                 # no leader for 1 min
    "FailoverFailed",                   # a failover failed
    "FailoverNoHealthyStandby",         # a group without a healthy standby
    "FailoverGroupBlocked",             # a group blocked by flapping
    "FailoverCloudApiThrottled",        # sustained API throttling
    "FailoverZooKeeperDisconnected",    # ZooKeeper disconnected
    "FailoverPrimaryDownNoFailover",    # a primary down with no failover started
    "FailoverTargetDown",               # a replica's scrape target down (a weaker quorum)
    "FailoverConfigReloadFailed",       # a SIGHUP reload refused
    "FailoverGroupPausedTooLong",       # `failover pause` forgotten
}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_promtool_check_rules() -> None:
    out = run_tool(["promtool", "check", "rules", str(ALERTS)])
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in out.stdout


def test_promtool_unit_tests_pass() -> None:
    out = run_tool(["promtool", "test", "rules", RULES_TESTS.name], cwd=RULES_TESTS.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_vm_pair_prometheus_config_is_valid() -> None:
    cfg = DEPLOY / "prometheus" / "prometheus-vm-pair.yaml"
    out = run_tool(["promtool", "check", "config", cfg.name], cwd=cfg.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    base = yaml.safe_load(cfg.read_text())["global"]["external_labels"]["runbook_base"]
    assert base.startswith("https://") and not base.endswith("/")


def test_every_rule_aggregates_by_deployment() -> None:
    """Two deployments in one Prometheus must never add up: each aggregation keeps job and
    namespace (alerts_test.yaml's "two deployments" cases prove the behaviour)."""
    for rule in _rules():
        for by in re.findall(r"\b(?:by|on) \(([^)]*)\)", rule["expr"]):
            labels = {x.strip() for x in by.split(",")}
            assert {"job", "namespace"} <= labels, f"{rule['alert']}: aggregates by ({by}) across deployments"
        for agg in re.findall(r"\b(sum|max|min|count|avg)\s*\(", rule["expr"]):
            pytest.fail(f"{rule['alert']}: {agg}(...) without by (namespace, job)")


def test_the_required_alerts_exist() -> None:
    names = {r["alert"] for r in _rules()}
    assert names >= REQUIRED, f"missing alerts: {sorted(REQUIRED - names)}"


def test_alert_expressions_use_only_exported_metrics() -> None:
    exported = metrics.exported_names()
    for rule in _rules():
        used = metric_names(rule["expr"])
        assert used, f"{rule['alert']}: no failover_ metric in its expression"
        assert used <= exported, f"{rule['alert']}: not exported by failover.metrics: {sorted(used - exported)}"


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    doc = yaml.safe_load(RULES_TESTS.read_text())
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in _rules()}
    assert names <= firing, f"no firing case for {sorted(names - firing)}"
    assert names <= quiet, f"no quiet case for {sorted(names - quiet)}"


def _anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for line in md.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return out


def test_every_alert_links_an_existing_runbook_section() -> None:
    for rule in _rules():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOK_BASE), f"{rule['alert']}: runbook_url not under the base: {url}"
        path, _, anchor = url.removeprefix(RUNBOOK_BASE).partition("#")
        md = REPO / "runbooks" / path
        assert md.is_file(), f"{rule['alert']}: runbook {path} does not exist"
        if anchor:
            assert anchor in _anchors(md), f"{rule['alert']}: no section #{anchor} in {path}"
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"]
