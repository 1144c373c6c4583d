"""Metric names used by PromQL expressions, for comparison with `failover.metrics`."""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_METRIC = re.compile(r"\bfailover_[A-Za-z0-9_]+\b")


def metric_names(expr: str) -> set[str]:
    """Identifiers starting with failover_, outside string literals (label values)."""
    return set(_METRIC.findall(_STRING.sub('""', expr)))


def grafana_to_promql(expr: str) -> str:
    """Grafana's variables replaced by values promtool accepts."""
    for var, value in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")):
        expr = expr.replace(var, value)
    return re.sub(r"\$\{?[A-Za-z_]+\}?", ".*", expr)
