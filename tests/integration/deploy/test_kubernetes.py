"""The kustomize base and example overlay, rendered offline by the real `kubectl kustomize`."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from failover import config as config_mod
from tests.integration.deploy.tools import DEPLOY, VENV_BIN, run_tool

KUSTOMIZE = DEPLOY / "kubernetes"
RRSA_ANNOTATION = "pod-identity.alibabacloud.com/role-name"
RRSA_INJECTION = "pod-identity.alibabacloud.com/injection"
CLUSTER_SCOPED = {"Namespace", "PriorityClass"}
RENDERINGS = ["base", "overlays/example", "overlays/example-monitoring", "zookeeper"]
# Kinds whose schema is a CRD's, not Kubernetes' own: kubernetes-validate warns that it has none.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


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
    for kind in ("ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount",
                 "NetworkPolicy", "PriorityClass"):
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
    assert c["args"][:3] == ["run", "--config", "/etc/failover/config.yaml"]
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
    assert all(d["metadata"].get("namespace") == ns["metadata"]["name"] for d in docs
               if d["kind"] not in CLUSTER_SCOPED)


@pytest.mark.parametrize("which", RENDERINGS)
def test_rendered_manifests_pass_kubernetes_validate(which: str, tmp_path: Path) -> None:
    """Every rendered object against the Kubernetes 1.30 OpenAPI schemas, strictly (an unknown
    or misspelt field fails); only the Prometheus Operator's CRD kinds have no schema there."""
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(list(render(which))))
    out = run_tool([str(VENV_BIN / "kubernetes-validate"), "-k", "1.30.0", "--strict", "--quiet", str(path)])
    assert out.returncode == 0, out.stdout + out.stderr
    for line in (out.stdout + out.stderr).splitlines():
        assert any(f"kind {k} " in line for k in CRD_KINDS), line


def test_kubernetes_validate_is_not_vacuous(tmp_path: Path) -> None:
    dep = copy.deepcopy(one(render("base"), "Deployment"))
    dep["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dep))
    out = run_tool([str(VENV_BIN / "kubernetes-validate"), "-k", "1.30.0", "--strict", "--quiet", str(path)])
    assert out.returncode != 0 and "livenesProbe" in out.stdout + out.stderr


def test_the_pod_outlives_the_controllers_stop_path() -> None:
    """SIGTERM -> running failover steps get --grace, then threads join (5 s each), leadership is
    resigned and the session closed: the kubelet must not SIGKILL before that."""
    pod = one(render("overlays/example"), "Deployment")["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    grace = float(args[args.index("--grace") + 1])
    assert pod["terminationGracePeriodSeconds"] >= grace + 20, (pod["terminationGracePeriodSeconds"], grace)


def test_priority_class_network_policy_and_a_required_zookeeper_secret() -> None:
    docs = render("overlays/example")
    dep, pc, np_ = one(docs, "Deployment"), one(docs, "PriorityClass"), one(docs, "NetworkPolicy")
    pod = dep["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == pc["metadata"]["name"] and pc["value"] > 0
    assert matches(np_["spec"]["podSelector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])
    assert set(np_["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = np_["spec"]["ingress"]
    assert [p["port"] for p in ingress["ports"]] == ["ops"]  # /metrics and /status only
    egress_ports = {p["port"] for rule in np_["spec"]["egress"] for p in rule["ports"]}
    assert {2181, 53, 443} <= egress_ports
    cfg = config_mod.parse(yaml.safe_load(one(docs, "ConfigMap")["data"]["config.yaml"]), "ConfigMap")
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    if cfg.zookeeper.auth is not None:
        ref = env[cfg.zookeeper.auth.credential_env]["valueFrom"]["secretKeyRef"]
        assert ref.get("optional", False) is False, "auth is on: a missing Secret must stop the pod, not crash it"


def test_the_zookeeper_ensemble_is_what_the_controller_config_names() -> None:
    """zookeeper/: three nodes, one per zone, a PDB keeping a majority, autopurge set, and the
    headless names the example config's `zookeeper.hosts` uses."""
    docs = render("zookeeper")
    sts, svc, pdb = one(docs, "StatefulSet"), one(docs, "Service"), one(docs, "PodDisruptionBudget")
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["clusterIP"] == "None"
    pod = sts["spec"]["template"]
    zone = [c for c in pod["spec"]["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule"
    assert pdb["spec"]["minAvailable"] == 2
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    (c,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert int(env["ZOO_AUTOPURGE_PURGEINTERVAL"]) > 0 and int(env["ZOO_AUTOPURGE_SNAPRETAINCOUNT"]) >= 3
    assert len(env["ZOO_SERVERS"].split()) == 3
    assert "secureClientPort=2281" in env["ZOO_CFG_EXTRA"]
    ns = sts["metadata"]["namespace"]
    ports = {p["port"] for p in svc["spec"]["ports"]}
    cm = one(render("overlays/example"), "ConfigMap")
    cfg = config_mod.parse(yaml.safe_load(cm["data"]["config.yaml"]), "example ConfigMap")
    for host in cfg.zookeeper.hosts.split(","):
        name, port = config_mod.split_host_port(host)
        pod_name, service, namespace = name.split(".")[:3]
        assert (service, namespace) == (svc["metadata"]["name"], ns), host
        assert pod_name.startswith(sts["metadata"]["name"] + "-") and int(pod_name.rsplit("-", 1)[1]) < 3, host
        assert port in ports, host


def test_zookeeper_tls_is_wired_in_the_example_overlay() -> None:
    """components/zookeeper-tls mounts the Secret whose files the example config's zookeeper.tls
    names, readable by the pod's user; hosts use the ensemble's secure port, which the
    NetworkPolicy lets out. The files' contents are tested against Debian's ZooKeeper in
    tests/integration/coordination/test_tls.py."""
    docs = render("overlays/example")
    cfg = config_mod.parse(yaml.safe_load(one(docs, "ConfigMap")["data"]["config.yaml"]), "example ConfigMap")
    tls = cfg.zookeeper.tls
    assert tls is not None and tls.cert is not None and tls.key is not None
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    files: dict[str, tuple[str, dict[str, Any]]] = {}
    for m in c["volumeMounts"]:
        secret = volumes[m["name"]].get("secret")
        if secret is not None:
            assert m["readOnly"] is True
            for item in secret["items"]:
                files[f"{m['mountPath']}/{item['path']}"] = (item["key"], secret)
    for path in (tls.ca, tls.cert, tls.key):
        assert path in files, f"{path} is not a file of a mounted Secret ({sorted(files)})"
        _, secret = files[path]
        assert secret["secretName"] == "failover-zookeeper-tls" and secret.get("optional") is False
        assert secret["defaultMode"] & 0o040, "the pod's group (fsGroup) must be able to read it"
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    zk = render("zookeeper")
    secure = {p["name"]: p["port"] for p in one(zk, "Service")["spec"]["ports"]}["secure-client"]
    zk_env = {e["name"]: e.get("value") for e in one(zk, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert f"secureClientPort={secure}" in zk_env["ZOO_CFG_EXTRA"]
    assert {config_mod.split_host_port(h)[1] for h in cfg.zookeeper.hosts.split(",")} == {secure}
    np_ = one(docs, "NetworkPolicy")
    assert any(p["port"] == secure for rule in np_["spec"]["egress"] for p in rule["ports"])
    # the base (no component) stays plain: TLS is the overlay's choice
    base = config_mod.parse(yaml.safe_load(one(render("base"), "ConfigMap")["data"]["config.yaml"]), "base")
    assert base.zookeeper.tls is None
    assert "zookeeper-tls" not in {v["name"] for v in one(render("base"), "Deployment")["spec"]["template"]["spec"]["volumes"]}
