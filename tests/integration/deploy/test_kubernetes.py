"""The kustomize base and example overlay, rendered offline by the real `kubectl kustomize`."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml

from failover import config as config_mod
from tests.integration.deploy.tools import DEPLOY, run_tool

KUSTOMIZE = DEPLOY / "kubernetes"
RRSA_ANNOTATION = "pod-identity.alibabacloud.com/role-name"
RRSA_INJECTION = "pod-identity.alibabacloud.com/injection"


@cache
def render(which: str) -> tuple[dict[str, Any], ...]:
    out = run_tool(["kubectl", "kustomize", str(KUSTOMIZE / which)], timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr, out.stderr  # deprecated fields break on the next kustomize
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def one(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("which", ["base", "overlays/example"])
def test_renders_offline_with_every_required_object(which: str) -> None:
    kinds = sorted(d["kind"] for d in render(which))
    for kind in ("ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"):
        assert kind in kinds, f"{which}: no {kind}"
    # Prometheus Operator kinds only through the optional component: the base applies on a
    # cluster without the monitoring.coreos.com CRDs.
    assert not {k for k in kinds if k in {"ServiceMonitor", "PrometheusRule"}}, which


def test_deployment_is_spread_hardened_and_probed() -> None:
    dep = one(render("overlays/example"), "Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 3
    zone = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule" and zone[0]["maxSkew"] == 1
    assert matches(zone[0]["labelSelector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path
        assert ports[get["port"]] == 9108
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), kind
    assert c["resources"]["requests"]["memory"] == "192Mi", "the overlay's patch did not apply"


def test_container_runs_the_controller_with_the_mounted_config_and_pod_name_as_id() -> None:
    dep = one(render("overlays/example"), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["run", "--config", "/etc/failover/config.yaml"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["config"] == "/etc/failover"
    volumes = {v["name"]: v for v in pod["volumes"]}
    cm = one(render("overlays/example"), "ConfigMap")
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]
    env = {e["name"]: e for e in c["env"]}
    assert env["FAILOVER_CONTROLLER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # Image names carry no registry host: operators set their own in an overlay.
    assert c["image"] == "failover:0.1.0"


@pytest.mark.parametrize("which", ["base", "overlays/example"])
def test_the_configmap_holds_a_valid_config_listening_for_the_probes(which: str) -> None:
    cm = one(render(which), "ConfigMap")
    cfg = config_mod.parse(yaml.safe_load(cm["data"]["config.yaml"]), f"{which} ConfigMap")
    assert cfg.controller.listen_port == 9108
    assert cfg.controller.listen_host == "0.0.0.0", "the kubelet probes the pod IP"
    assert cfg.cloud.credentials == "default", "RRSA comes through the default chain"
    dep = one(render(which), "Deployment")
    env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    if cfg.zookeeper.auth is not None:
        assert cfg.zookeeper.auth.credential_env in env


def test_pdb_keeps_a_majority_of_the_replicas() -> None:
    docs = render("overlays/example")
    pdb, dep = one(docs, "PodDisruptionBudget"), one(docs, "Deployment")
    assert pdb["spec"]["minAvailable"] == 2
    assert matches(pdb["spec"]["selector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_service_and_servicemonitor_scrape_every_replica() -> None:
    docs = render("overlays/example-monitoring")
    svc, mon, dep = one(docs, "Service"), one(docs, "ServiceMonitor"), one(docs, "Deployment")
    assert matches(svc["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
    assert matches(mon["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    (endpoint,) = mon["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint.get("honorLabels", False) is False


def test_monitoring_component_carries_the_alerts_and_a_configurable_selector_label() -> None:
    """The component ships ServiceMonitor and PrometheusRule with kube-prometheus-stack's
    `release` label; the example-monitoring overlay sets its own value on both."""
    import importlib.util

    docs = render("overlays/example-monitoring")
    mon, rule = one(docs, "ServiceMonitor"), one(docs, "PrometheusRule")
    for obj in (mon, rule):
        assert obj["metadata"]["labels"]["release"] == "monitoring", obj["kind"]
        assert obj["metadata"]["namespace"] == "failover"
    component = KUSTOMIZE / "components" / "prometheus-operator"
    spec = importlib.util.spec_from_file_location("sync_rules", component / "sync_rules.py")
    assert spec is not None and spec.loader is not None
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    assert (component / "prometheusrule.yaml").read_text() == sync.render(), (
        "prometheusrule.yaml is stale: python3 deploy/kubernetes/components/prometheus-operator/sync_rules.py")
    assert rule["spec"]["groups"] == yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())["groups"]


def test_service_account_is_annotated_for_rrsa_and_used() -> None:
    docs = render("overlays/example")
    sa, dep = one(docs, "ServiceAccount"), one(docs, "Deployment")
    assert sa["metadata"]["annotations"][RRSA_ANNOTATION]
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    ns = one(docs, "Namespace")
    assert ns["metadata"]["labels"][RRSA_INJECTION] == "on"
    assert all(d["metadata"].get("namespace") == ns["metadata"]["name"] for d in docs if d["kind"] != "Namespace")
