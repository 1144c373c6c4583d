"""The metrics contract in code: packages record only through metrics.py's functions, and each
series is written from one module."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from failover import metrics

PKG = Path(metrics.__file__).resolve().parent
METRIC_NAMES = {name for name in vars(metrics) if name.isupper() and any(
    getattr(metrics, name) is m for m in metrics.ALL_METRICS)}
# The exporter serves the registry; expose_api_actions creates series at 0 before any call
# (the cloud adapter names its actions) and writes no value; expose_failovers likewise creates
# the failover counters at 0 per configured group (run.py knows the config), adding nothing.
READS = {"REGISTRY", "ECS_INSTANCE", "ALL_METRICS", "expose_api_actions", "expose_failovers",
         "expose_guest_paths", "expose_stop_notices"}


def _modules() -> dict[str, ast.Module]:
    return {p.relative_to(PKG.parent).as_posix(): ast.parse(p.read_text(), str(p))
            for p in PKG.rglob("*.py") if p.name != "metrics.py" or p.parent != PKG}


def _metrics_used(tree: ast.AST) -> set[str]:
    """Names of metrics.py reached as `metrics.X` or imported from it."""
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "metrics":
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "failover.metrics":
            used |= {a.name for a in node.names}
    return used


def _helper_writes() -> dict[str, set[str]]:
    """metrics.py's function -> the metric objects it touches."""
    tree = ast.parse(Path(metrics.__file__).read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            out[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in METRIC_NAMES}
    return out


def test_no_package_touches_a_metric_object() -> None:
    assert len(METRIC_NAMES) == len(metrics.ALL_METRICS)
    direct = {path: sorted(used & METRIC_NAMES) for path, tree in _modules().items()
              if (used := _metrics_used(tree)) & METRIC_NAMES}
    assert not direct, f"record through metrics.py's functions: {direct}"


def test_every_series_has_one_writing_module() -> None:
    writes = _helper_writes()
    writers: dict[str, set[str]] = defaultdict(set)
    for path, tree in _modules().items():
        for name in _metrics_used(tree) - READS:
            for metric in writes.get(name, set()):
                writers[metric].add(path)
    shared = {m: sorted(paths) for m, paths in writers.items() if len(paths) > 1}
    assert not shared, f"series written from more than one module: {shared}"
    # the check saw the writers it should (an empty map would pass it too)
    assert writers["LEADER"] == {"failover/coordination/leadership.py"}
    assert writers["ENI_HOLDER"] == {"failover/engine/exports.py"}
