"""Runbooks cannot rot: their structure is checked, and every command not marked
`# needs: real-cloud` runs against a real environment (ZooKeeper, the emulator, controllers).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from failover import cli
from tests.integration.deploy.lab_env import RunbookEnv
from tests.integration.deploy.runbook_parse import Command, Runbook, runbooks
from tests.integration.deploy.tools import ALERTS, DASHBOARD, RUNBOOKS

ALL = runbooks(RUNBOOKS)
IDS = [rb.name for rb in ALL]
COMMAND_TIMEOUT_S = 120
REQUIRED = {  # the list
    "failover-drill.md", "manual-switchover.md", "eni-stuck.md", "split-brain.md",
    "zookeeper-outage.md", "blocked-group.md", "add-group.md", "credential-rotation.md", "upgrade.md",
}
LAB_KEYS = {"GROUP", "PRIMARY", "TARGET", "ENI", "REGION", "OPS", "MAC", "IPS", "CIDR", "GATEWAY"}


def lab_commands(rb: Runbook) -> list[Command]:
    return [c for c in rb.commands if c.needs is None]


def test_every_required_runbook_exists_and_is_indexed() -> None:
    names = {rb.name for rb in ALL}
    assert names >= REQUIRED, f"missing runbooks: {sorted(REQUIRED - names)}"
    index = (RUNBOOKS / "README.md").read_text()
    for name in names:
        assert f"({name})" in index, f"{name} is not listed in runbooks/README.md"


@pytest.mark.parametrize("rb", ALL, ids=IDS)
def test_runbook_structure(rb: Runbook) -> None:
    text = rb.path.read_text()
    assert not rb.problems, rb.problems
    for section in ("## Grafana", "## Roll back"):
        assert section in text, f"{rb.name}: no {section!r} section"
    assert rb.commands, f"{rb.name}: no commands"
    assert lab_commands(rb), f"{rb.name}: not one command the lab can check"
    assert rb.panels, f"{rb.name}: names no Grafana panel"
    for cmd in rb.commands:
        for inv in cmd.failover_invocations():
            assert not inv or inv[0] in cli.COMMANDS, f"{rb.name}:{cmd.line}: no CLI command {inv[0]!r}"


@pytest.mark.parametrize("rb", ALL, ids=IDS)
def test_runbook_settings_and_variables_are_known(rb: Runbook) -> None:
    for cmd in rb.commands:
        for var in cmd.variables() - {"FAILOVER_CONFIG"}:
            assert var in rb.settings or cmd.needs, f"{rb.name}:{cmd.line}: ${var} is not in the settings"
        if cmd.needs is None:
            missing = cmd.variables() - LAB_KEYS - {"FAILOVER_CONFIG"}
            assert not missing, f"{rb.name}:{cmd.line}: the lab has no value for {sorted(missing)}"


def _panel_titles() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    titles = set()
    for p in dash["panels"]:
        titles.add(p["title"])
        titles |= {q["title"] for q in p.get("panels", [])}
    return titles


@pytest.mark.parametrize("rb", ALL, ids=IDS)
def test_runbook_names_real_panels_alerts_and_links(rb: Runbook) -> None:
    titles = _panel_titles()
    for panel in rb.panels:
        assert panel in titles, f"{rb.name}: no dashboard panel {panel!r}"
    text = rb.path.read_text()
    alerts = set(re.findall(r"- alert: (\w+)", ALERTS.read_text()))
    for name in re.findall(r"\b(Failover[A-Z][A-Za-z]+)\b", text):
        assert name in alerts, f"{rb.name}: no alert named {name}"
    for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", text):
        assert (rb.path.parent / target).is_file(), f"{rb.name}: broken link {target}"


@pytest.fixture
def runbook_env(request: pytest.FixtureRequest, tmp_path: Path, zk_root: str) -> Iterator[RunbookEnv]:
    rb: Runbook = request.param
    need = set().union(*(c.lab_needs() for c in lab_commands(rb)))
    zk_hosts = request.getfixturevalue("zk_server").hosts if need & {"run", "sim"} else "127.0.0.1:2181"
    lab = RunbookEnv(tmp_path, zk_hosts, zk_root)
    try:
        lab.start(need)
        yield lab
    finally:
        lab.stop()


def _run(lab: RunbookEnv, cmd: Command) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", "set -o pipefail\n" + cmd.text], env=lab.env(), cwd=lab.tmp,
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("runbook_env", ALL, ids=IDS, indirect=True)
def test_runbook_commands_run_in_the_lab(runbook_env: RunbookEnv, request: pytest.FixtureRequest) -> None:
    rb: Runbook = request.node.callspec.params["runbook_env"]
    ran = 0
    for cmd in lab_commands(rb):
        out = _run(runbook_env, cmd)
        assert out.returncode == cmd.expect, (
            f"{rb.name}:{cmd.line}: `{cmd.text}` exited {out.returncode}, expected {cmd.expect}\n"
            f"stdout:\n{out.stdout[-2000:]}\nstderr:\n{out.stderr[-2000:]}\n{runbook_env.logs()}"
        )
        ran += 1
    assert ran == len(lab_commands(rb)) and ran, f"{rb.name}: no command ran in the lab"
