"""Pre-staged guest configuration: what is installed, its version, and an idempotent stage script.

The stage script runs for real (POSIX sh, gzip, base64) under FAILOVER_STAGE_ROOT in a
temporary directory, which is what the lab does for its namespaced "instances".
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.engine.staging import notice_key, staged_version
from failover.guest import GuestInputError, render_release, render_runtime
from failover.guest.prestage import HOTPLUG_WAIT_S, render_stage, unit_file
from failover.health.notice import NoticeReceiver
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


def _listener() -> tuple[Any, list[bytes]]:
    got: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(202)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, got


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None,
                    reason="the stop hook needs openssl and curl")
def test_the_stop_notice_is_signed_by_a_key_made_on_the_guest_and_verifies(
        net: GuestNetwork, tmp_path: Path) -> None:
    srv, got = _listener()
    try:
        to = f"127.0.0.1:{srv.server_address[1]}"
        stage = render_stage("auto", net, notify=(to,))
        out = run_stage(stage.script, tmp_path)
        key = notice_key(out)
        assert key is not None and staged_version(out) == stage.version
        pem = tmp_path / "etc/failover/notice-key.pem"
        assert oct(pem.stat().st_mode & 0o777) == "0o600" and "PRIVATE KEY" in pem.read_text()
        assert key not in stage.script and "PRIVATE" not in stage.script  # made there, never sent
        # a new version (another replica list) keeps the key: the replicas know it by its tag
        again = render_stage("auto", net, notify=(to, "127.0.0.1:9"))
        assert notice_key(run_stage(again.script, tmp_path)) == key
        notice = tmp_path / "usr/local/lib/failover/eni-00163e000050/notice.sh"
        p = subprocess.run(["/bin/sh", str(notice)], env={**os.environ, "FAILOVER_STAGE_ROOT": str(tmp_path)},
                           capture_output=True, text=True, timeout=30, check=False)
        assert p.returncode in (0, 7), p.stderr  # the second replica (port 9) is not there
        assert len(got) == 1
        down: list[str] = []
        receiver = NoticeReceiver(lambda: {"i-b": key}, down.append)
        assert receiver(got[0], "127.0.0.1") == (202, "accepted") and down == ["i-b"]
        # without a stop notice configured, the hook is gone again
        run_stage(render_stage("auto", net).script, tmp_path)
        assert not notice.exists()
    finally:
        srv.shutdown()


def test_the_notice_key_line_is_read_from_the_stage_output() -> None:
    k = "A" * 43 + "="
    assert notice_key(f"failover-notice-key: {k}\nfailover-stage: installed abc\n") == k
    assert notice_key("failover-stage: installed abc\n") is None
    assert notice_key("failover-notice-key: short\n") is None


def test_guest_render_prestaged_with_a_stop_notice() -> None:
    args = ["guest", "render", "--prestaged", "--os", "auto", "--mac", "00:16:3e:00:00:50", "--ips",
            "192.168.1.50,192.168.1.51", "--cidr", "192.168.1.0/24", "--gateway", "192.168.1.253"]
    r = CliRunner().invoke(main, [*args, "--stop-notice", "10.0.0.2:9108", "--stop-notice", "10.0.0.3:9108"])
    assert r.exit_code == 0, r.output
    assert "notice.sh" in r.output and "post 10.0.0.2:9108\npost 10.0.0.3:9108" in r.output
    assert "notice-key.pem" in r.output and "PRIVATE" not in r.output
    bad = CliRunner().invoke(main, [*args, "--stop-notice", "10.0.0.2"])
    assert bad.exit_code == 2 and "--stop-notice" in bad.output
