"""Pre-staged guest configuration: what is installed, its version, and an idempotent stage script.

The stage script runs for real (POSIX sh, gzip, base64) under FAILOVER_STAGE_ROOT in a
temporary directory, which is what the lab does for its namespaced "instances".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.engine.staging import staged_version
from failover.guest import GuestInputError, render_release, render_runtime
from failover.guest.prestage import HOTPLUG_WAIT_S, render_stage, unit_file
from failover.model import GuestNetwork


def run_stage(script: str, root: Path) -> str:
    p = subprocess.run(["/bin/sh", "-c", script], env={**os.environ, "FAILOVER_STAGE_ROOT": str(root)},
                       capture_output=True, text=True, timeout=30, check=False)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_installs_the_scripts_the_runcommand_path_sends_plus_a_trigger_keyed_by_the_mac(
        net: GuestNetwork, tmp_path: Path) -> None:
    stage = render_stage("rhel", net)
    out = run_stage(stage.script, tmp_path)
    assert staged_version(out) == stage.version and "installed" in out
    d = tmp_path / "usr/local/lib/failover/eni-00163e000050"
    assert (d / "configure.sh").read_text() == render_runtime(net, "rhel", wait_s=HOTPLUG_WAIT_S)
    assert (d / "release.sh").read_text() == render_release(net, "rhel")
    assert (d / "version").read_text().strip() == stage.version
    assert oct((d / "configure.sh").stat().st_mode & 0o777) == "0o755"
    rule = (tmp_path / "etc/udev/rules.d/90-failover-eni-00163e000050.rules").read_text()
    assert 'ATTR{address}=="00:16:3e:00:00:50"' in rule
    assert 'ENV{SYSTEMD_WANTS}+="failover-eni@00163e000050.service"' in rule
    assert 'ENV{SYSTEMD_ALIAS}+="/sys/subsystem/net/devices/failover_00163e000050"' in rule
    unit = (tmp_path / "etc/systemd/system/failover-eni@.service").read_text()
    assert "BindsTo=sys-subsystem-net-devices-failover_%i.device" in unit
    assert "ExecStart=/bin/sh /usr/local/lib/failover/eni-%i/trigger.sh start" in unit
    assert "ExecStop=/bin/sh /usr/local/lib/failover/eni-%i/trigger.sh stop" in unit
    assert {f.path for f in stage.files} == {
        str(p.relative_to(tmp_path)).join(("/", "")) for p in tmp_path.rglob("*") if p.is_file()
        if p.name != "version"}


def test_a_second_run_changes_nothing_and_a_new_version_reinstalls(net: GuestNetwork, tmp_path: Path) -> None:
    stage = render_stage("auto", net)
    run_stage(stage.script, tmp_path)
    files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    out = run_stage(stage.script, tmp_path)
    assert out.strip() == f"failover-stage: unchanged {stage.version}"
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()} == files
    bigger = render_stage("auto", replace(net, ips=(*net.ips, "192.168.1.53")))
    assert bigger.version != stage.version
    assert "installed" in run_stage(bigger.script, tmp_path)
    assert "192.168.1.53" in (tmp_path / "usr/local/lib/failover/eni-00163e000050/configure.sh").read_text()


def test_the_version_is_the_content(net: GuestNetwork) -> None:
    v = render_stage("rhel", net).version
    assert render_stage("rhel", net).version == v  # reproducible: gzip without a timestamp
    assert render_stage("rhel", net).script == render_stage("rhel", net).script
    assert render_stage("debian", net).version != v
    assert render_stage("rhel", replace(net, table=1002)).version != v
    assert render_stage("rhel", net, persist=False).version != v


def test_windows_is_a_documented_fallback(net: GuestNetwork) -> None:
    with pytest.raises(GuestInputError, match=r"^os: windows standbys are not pre-staged"):
        render_stage("windows", net)


def test_guest_render_prestaged() -> None:
    base = ["guest", "render", "--mac", "00:16:3E:00:00:50", "--ips", "192.168.1.50,192.168.1.51",
            "--cidr", "192.168.1.0/24", "--gateway", "192.168.1.253", "--prestaged"]
    r = CliRunner().invoke(main, [*base, "--os", "nmcli"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("# pre-staged configuration for ENI 00:16:3e:00:00:50 (os=nmcli), version ")
    assert "# ===== file /etc/udev/rules.d/90-failover-eni-00163e000050.rules (mode 644) =====" in r.stdout
    doc = json.loads(CliRunner().invoke(main, [*base, "--os", "nmcli", "--json"]).stdout)
    assert len(doc["version"]) == 16 and len(doc["files"]) == 5
    bad = CliRunner().invoke(main, [*base, "--os", "windows"])
    assert bad.exit_code == 2 and "--os: windows standbys are not pre-staged" in bad.stderr
    both = CliRunner().invoke(main, [*base, "--os", "rhel", "--release"])
    assert both.exit_code == 2 and "--prestaged" in both.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "failover-eni@00163e000050.service"
    unit.write_text(unit_file())
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
