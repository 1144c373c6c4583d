"""Writes prometheusrule.yaml: deploy/prometheus/alerts.yaml as a PrometheusRule (one source)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE.parents[2] / "prometheus" / "alerts.yaml"
OUT = HERE / "prometheusrule.yaml"
HEADER = "# Generated from deploy/prometheus/alerts.yaml by sync_rules.py: edit that file, not this one.\n"


def rule_document() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "failover",
                     "labels": {"app.kubernetes.io/name": "failover", "release": "kube-prometheus-stack"}},
        "spec": {"groups": yaml.safe_load(ALERTS.read_text())["groups"]},
    }


def render() -> str:
    return HEADER + yaml.safe_dump(rule_document(), sort_keys=False, width=100)


if __name__ == "__main__":
    OUT.write_text(render())
    sys.stdout.write(f"wrote {OUT}\n")
