"""The VM pair's units, checked by the real `systemd-analyze`.

`systemd-analyze verify` insists that ExecStart's binary exists and is executable. The units
name the production path (/opt/failover/venv/bin/failover); the test verifies copies whose
only change is that path, pointed at this virtualenv's `failover` script, so the check still
covers every directive. (`--root` would need a whole fake OS tree with systemd's own units.)
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from tests.integration.deploy.tools import DEPLOY, VENV_BIN, run_tool

UNITS = DEPLOY / "systemd"
PROD_BINARY = "/opt/failover/venv/bin/failover"
HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "PrivateDevices": "yes", "DynamicUser": "yes", "RestrictNamespaces": "yes",
    "CapabilityBoundingSet": "", "SystemCallArchitectures": "native",
}


def unit_files() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in {".service", ".timer"})


def staged(tmp_path: Path) -> list[Path]:
    binary = VENV_BIN / "failover"
    assert binary.is_file(), f"{binary} missing: pip install -e . first"
    out = []
    for unit in unit_files():
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(PROD_BINARY, str(binary)))
        out.append(copy)
    return out


class _CaseKept(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # systemd keys are case-sensitive


def parse(path: Path) -> configparser.ConfigParser:
    cp = _CaseKept(strict=False, interpolation=None, delimiters=("=",))
    cp.read_string(path.read_text())
    return cp


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = staged(tmp_path)
    assert {u.name for u in units} >= {"failover.service", "failover-validate.service", "failover-validate.timer"}
    out = run_tool(["systemd-analyze", "verify", *map(str, units)], cwd=tmp_path)
    # verify prints warnings (unknown keys, bad values) without failing: any output is a finding.
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), out.stdout + out.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above is not vacuous: a typo in a directive or a missing binary fails it."""
    bad = tmp_path / "bad.service"
    bad.write_text("[Service]\nExecStart=/nonexistent/failover run\nRestartt=always\n")
    out = run_tool(["systemd-analyze", "verify", str(bad)], cwd=tmp_path)
    assert out.returncode != 0 or "Restartt" in out.stderr


@pytest.mark.parametrize("unit", ["failover.service", "failover-validate.service"])
def test_hardening_scores_ok(tmp_path: Path, unit: str) -> None:
    """Exposure at most 2.0 of 10 (systemd counts in tenths: 20); the units score 1.4."""
    staged(tmp_path)
    out = run_tool(["systemd-analyze", "security", "--offline=true", "--threshold=20", str(tmp_path / unit)],
                   cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr


def test_replica_unit_restarts_reads_credentials_and_is_hardened() -> None:
    svc = parse(UNITS / "failover.service")["Service"]
    assert svc["ExecStart"] == f"{PROD_BINARY} run --config /etc/failover/config.yaml"
    assert svc["Restart"] == "always" and float(svc["RestartSec"]) > 0
    assert svc["EnvironmentFile"].lstrip("-") == "/etc/failover/credentials.env"
    assert svc["KillSignal"] == "SIGTERM"
    for key, value in HARDENING.items():
        assert svc.get(key) == value, f"{key}={svc.get(key)!r}, want {value!r}"


def test_replica_unit_keeps_retrying_zookeeper_but_not_a_bad_config() -> None:
    unit = parse(UNITS / "failover.service")
    assert unit["Unit"]["StartLimitIntervalSec"] == "0", "a start limit gives up during a ZooKeeper outage at boot"
    svc = unit["Service"]
    assert svc["RestartPreventExitStatus"] == "2"  # bad config/usage (the CLI contract's exit 2)
    assert "ExecStartPre" not in svc  # a failing pre-step would be restarted forever


def test_reload_validates_then_sends_sighup() -> None:
    text = (UNITS / "failover.service").read_text()
    reloads = [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith("ExecReload=")]
    assert reloads == [f"{PROD_BINARY} validate --skip-env --config /etc/failover/config.yaml",
                       "/bin/kill -HUP $MAINPID"]


def test_stop_timeout_outlasts_the_controllers_stop_path() -> None:
    from failover.commands.run import run

    (grace,) = [p.default for p in run.params if p.name == "grace"]
    assert isinstance(grace, float)
    svc = parse(UNITS / "failover.service")["Service"]
    assert float(svc["TimeoutStopSec"]) >= float(grace) + 20  # + thread joins, resign, close


def test_credentials_example_holds_no_secret() -> None:
    lines = (UNITS / "credentials.env.example").read_text().splitlines()
    assigned = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    assert not assigned, f"the example must not set values: {assigned}"
