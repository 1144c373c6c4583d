"""The dashboard: valid JSON, every metric exported by the code, the required topics covered,
and every expression accepted by Prometheus's own parser (promtool)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from failover import metrics
from tests.integration.deploy.promql import grafana_to_promql, metric_names
from tests.integration.deploy.tools import DASHBOARD, run_tool


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def _exprs(dash: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) for every query: panel targets, template variables, annotations."""
    out = [(p["title"], t["expr"]) for p in _panels(dash) for t in p.get("targets", []) if "expr" in t]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["query"]["query"]))
    out += [(f"annotation {a['name']}", a["expr"]) for a in dash["annotations"]["list"] if "expr" in a]
    return out


def test_every_metric_in_the_dashboard_is_exported_by_the_code() -> None:
    exported = metrics.exported_names()
    exprs = _exprs(_dashboard())
    assert len(exprs) > 20
    for where, expr in exprs:
        used = metric_names(expr)
        assert used, f"{where}: no failover_ metric in {expr!r}"
        assert used <= exported, f"{where}: not exported by failover.metrics: {sorted(used - exported)}"


def test_every_metric_family_is_on_the_dashboard() -> None:
    """A metric nobody can see is a metric nobody watches."""
    used = {name for _, e in _exprs(_dashboard()) for name in metric_names(e)}
    families = {fam.name for m in metrics.ALL_METRICS for fam in m.describe()}
    unseen = {f for f in families if not any(u == f or u.startswith(f + "_") for u in used)}
    assert not unseen, f"metrics missing from the dashboard: {sorted(unseen)}"


# topic of the issue -> (a title word, a pattern an expression of that panel must match)
TOPICS = {
    "leader": ("Leader", r"\bfailover_leader\b"),
    "health per group and member": ("Health", r"^(?=.*failover_(quorum|health)_up\b)(?=.*\bgroup\b)(?=.*ecs_instance)"),
    "failovers": ("Failovers", r"failover_failovers_total"),
    "failover duration by step": ("step", r"^(?=.*failover_step_duration_seconds_bucket)(?=.*\bby \(le, step\))"),
    "API calls": ("API calls", r"failover_cloud_api_calls_total"),
    "API errors": ("errors", r'failover_cloud_api_calls_total\{[^}]*code!="OK"'),
    "throttling": ("throttling", r"failover_cloud_api_throttled_total"),
    "ZooKeeper connection": ("ZooKeeper", r"failover_zk_connected"),
}


def test_the_dashboard_covers_every_required_topic() -> None:
    panels = [p for p in _panels(_dashboard()) if p["type"] != "row"]
    for topic, (word, pattern) in TOPICS.items():
        hits = [
            p["title"] for p in panels
            if word.lower() in p["title"].lower()
            and any(re.search(pattern, t.get("expr", "")) for t in p.get("targets", []))
        ]
        assert hits, f"no panel for {topic!r} (title with {word!r}, query matching {pattern!r})"


def test_panels_are_well_formed() -> None:
    dash = _dashboard()
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    titles = [p["title"] for p in _panels(dash)]
    assert len(titles) == len(set(titles)), "duplicate panel titles (runbooks name panels by title)"
    for p in _panels(dash):
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", f"{p['title']}: hard-coded data source"
    assert dash["uid"] and dash["title"]


def test_every_expression_parses_as_promql(tmp_path: Path) -> None:
    """promtool parses recording rules with Prometheus's own parser: a typo fails here."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)}
        for i, (_, expr) in enumerate(_exprs(_dashboard()))
        if not expr.startswith("label_values(")
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run_tool(["promtool", "check", "rules", str(path)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_query_is_scoped_to_the_chosen_deployment() -> None:
    """Two deployments in one Prometheus: job and namespace variables narrow every query, and
    "Leaders (must be 1)" counts per deployment, never across them."""
    dash = _dashboard()
    names = [v["name"] for v in dash["templating"]["list"]]
    assert {"job", "namespace"} <= set(names), names
    assert names.index("job") < names.index("namespace") < names.index("group"), "narrowing order"
    for where, expr in _exprs(dash):
        if where in ("variable job",):
            continue
        for m in re.finditer(r"\bfailover_[a-z_]+(\{[^}]*\})?", expr):
            sel = m.group(1) or ""
            assert 'job=~"$job"' in sel, f"{where}: {m.group(0)} not scoped to $job"
            if where != "variable namespace":
                assert 'namespace=~"$namespace"' in sel, f"{where}: {m.group(0)} not scoped to $namespace"
        assert "exported_instance" not in expr, f"{where}: the ECS instance label is ecs_instance now"
    (leaders,) = [p for p in _panels(dash) if p["title"] == "Leaders (must be 1)"]
    assert leaders["targets"][0]["expr"].startswith("sum by (namespace, job) (")
