"""Debian's Prometheus scraping a real run: every dashboard panel has data, alerts fire and resolve.

The run: a ZooKeeper node of the test's own (it is stopped on purpose), the emulator over the
real SDK, three `failover run` replicas (tests/support/chaos.py). Prometheus scrapes the three
replicas every 0.5 s and evaluates a copy of deploy/prometheus/alerts.yaml in which every
`for:` is 2 s and FailoverFailed's `[15m]` window is `[10s]` (`prom_server.shortened_rules`):
the expressions and labels are the project's own, only the waits are shorter.

What the run goes through, so that every panel's series exists at some point:
  1. group paused, primary fails (a held-back decision, a paused group, probe failures,
     FailoverPrimaryDownNoFailover; FailoverGroupPausedTooLong after the group's configured
     `policy.pause_alert_after_s`, 3 s here), the cloud throttles a few calls (API errors by code);
  2. resume with the primary's guest hung and the standby's guest script failing: a detach
     that stalls, a force-stop (escalation), a failed failover -> FailoverFailed fires, then
     resolves when the failure leaves the window;
  3. the primary back, a drill to it: a completed failover (duration histograms);
  4. ZooKeeper stopped: no replica leads -> FailoverNoLeader fires; started: it resolves.
Then each panel's query, with the dashboard's variables set to this run (job `failover`,
namespace `.*` as a VM pair has none, group `web`), must return data over the run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import ChaosSystem, Spec
from harness.waiting import wait_for
from harness.zk import ZkCluster
from tests.integration.deploy.prom_server import PrometheusServer, shortened_rules
from tests.integration.deploy.tools import ALERTS, DASHBOARD

pytestmark = pytest.mark.timeout(240)

JOB = "failover"
VARIABLES = {"job": JOB, "namespace": ".*", "group": "web",
             # Grafana's own intervals: long enough for two 0.5 s scrapes, short of the run
             "__rate_interval": "30s", "__interval": "1s", "__range": "5m"}


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with the variables substituted) for every query panel, rows included."""
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    out = []
    for p in walk(json.loads(DASHBOARD.read_text())["panels"]):
        for t in p.get("targets", []):
            expr = re.sub(r"\$\{?(\w+)\}?", lambda m: VARIABLES[m.group(1)], t["expr"])
            out.append((p["title"], expr))
    return out


def test_every_panel_query_has_its_variables() -> None:
    """The substitution covers every variable the dashboard uses (a new one fails here first)."""
    queries = panel_queries()
    assert len(queries) >= 25
    assert not [q for _, q in queries if "$" in q]


@pytest.fixture
def own_zk(tmp_path: Path) -> Iterator[ZkCluster]:
    """A ZooKeeper the test may stop (the session's shared one must stay up for others)."""
    cluster = ZkCluster(tmp_path / "zk", size=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _wait_alert(prom: PrometheusServer, name: str, firing: bool, timeout: float, diag: Any) -> None:
    def seen() -> bool:
        states = prom.alert_states(name)
        return "firing" in states if firing else not states
    wait_for(seen, timeout, f"{name} {'firing' if firing else 'resolved'}",
             lambda: f"alerts: {prom.alerts()}\n{diag()}")


def test_dashboard_and_alerts_on_a_real_run(tmp_path: Path, own_zk: ZkCluster) -> None:
    # pause_alert_after_s: the configured threshold FailoverGroupPausedTooLong reads (default 4 h)
    spec = Spec(policy={"detach_timeout_s": 3, "detach_retry_s": 1, "stop_timeout_s": 10,
                        "pause_alert_after_s": 3})
    rules = shortened_rules(ALERTS, tmp_path / "alerts.yaml", windows={"[15m]": "[10s]"})
    with ChaosSystem(tmp_path / "run", own_zk, "/prom", spec) as system:
        targets = [f"127.0.0.1:{r.port}" for r in system.f.replicas.values()]
        web = system.groups[0]
        primary, standby = web.members
        with PrometheusServer(tmp_path / "prom", targets=targets, rules=[rules]) as prom:
            def diag() -> str:
                return f"{system.diag()}\nprometheus:\n{prom.logs()}"

            start = time.time()
            wait_for(lambda: prom.targets_up() == 3, 30, "3 targets up", diag)
            # absent(failover_leader) may fire before the first scrape; it must be quiet now.
            _wait_alert(prom, "FailoverNoLeader", False, 30, diag)

            # 1. paused, the primary fails, the cloud throttles a few reads
            out = system.f.cli("pause", "web")
            assert out.returncode == 0, out.stdout + out.stderr
            system.s.control.fault(action="DescribeNetworkInterfaces", code="Throttling.User",
                                   status=400, count=3)
            system.fail(primary)
            _wait_alert(prom, "FailoverPrimaryDownNoFailover", True, 30, diag)
            _wait_alert(prom, "FailoverGroupPausedTooLong", True, 30, diag)
            assert system.records("web") == [], "a paused group failed over"

            # 2. a failover that fails: the primary's guest hangs (the detach stalls, force-stop)
            #    and the standby's guest script fails
            system.s.control.hang(primary)
            system.s.control.command_result(standby, 3, "injected: the guest script failed")
            out = system.f.cli("resume", "web")
            assert out.returncode == 0, out.stdout + out.stderr
            _wait_alert(prom, "FailoverGroupPausedTooLong", False, 30, diag)
            recs = system.wait_records("web", 1, timeout=60)
            assert recs[0]["result"] == "failed", recs
            _wait_alert(prom, "FailoverFailed", True, 30, diag)
            _wait_alert(prom, "FailoverPrimaryDownNoFailover", False, 30, diag)

            # 3. the primary back, a drill to it: a completed failover
            system.s.control.unhang(primary)
            system.s.control.start(primary)
            system.heal(primary)
            wait_for(lambda: system.s.control.instance(primary)["status"] == "Running", 30,
                     "the primary running again", diag)
            wait_for(system.steady, 60, "a steady system after the failed failover", diag)
            if system.holder_of(web) != primary:
                out = system.f.cli("drill", "web", "--to", primary, "--yes", "--timeout", "60", timeout=90)
                assert out.returncode == 0, out.stdout + out.stderr
            wait_for(lambda: any(r["result"] == "completed" for r in system.records("web")), 30,
                     "a completed failover", diag)
            _wait_alert(prom, "FailoverFailed", False, 40, diag)

            # 4. ZooKeeper down: nobody leads; back: a leader again
            own_zk.stop_node(1)
            _wait_alert(prom, "FailoverNoLeader", True, 40, diag)
            own_zk.start_node(1)
            _wait_alert(prom, "FailoverNoLeader", False, 60, diag)

            time.sleep(1.5)  # one more scrape of the recovered replicas
            end = time.time()
            empty = [(title, q) for title, q in panel_queries()
                     if not prom.query_range(q, start, end, step=1.0)]
            assert not empty, "panels without data:\n" + "\n".join(f"  {t}: {q}" for t, q in empty)
