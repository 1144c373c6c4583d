"""The command probe: real processes, exit codes, timeouts that kill the tree, no injection."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from failover.config import CommandCheck
from failover.health.plan import CommandTarget, command_argv
from failover.health.probes import command_probe
from failover.model import ProbeOutcome

RECORD_ARGV = "import json, sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))"


def run(check: CommandCheck, timeout_s: float = 5.0, ip: str = "127.0.0.1") -> ProbeOutcome:
    argv = command_argv(check, ip=ip, instance="i-abc", group="web")
    return asyncio.run(command_probe(CommandTarget(argv), timeout_s))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_exit_zero_is_up_and_nonzero_is_down() -> None:
    assert run(CommandCheck(type="command", run=["true"])).ok
    out = run(CommandCheck(type="command", run=[sys.executable, "-c", "raise SystemExit(3)"]))
    assert (out.ok, out.reason) == (False, "exit 3")


def test_a_missing_program_is_down() -> None:
    out = run(CommandCheck(type="command", run="/nonexistent/check {ip}"))
    assert (out.ok, out.reason) == (False, "not found")


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 30 & echo $! > {pidfile}; wait"
    t0 = time.monotonic()
    out = run(CommandCheck(type="command", run=["sh", "-c", script]), timeout_s=0.5)
    took = time.monotonic() - t0
    assert (out.ok, out.reason) == (False, "timeout")
    assert took < 0.5 + 1.0
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(child), "the grandchild outlived the probe's timeout"


def test_placeholders_are_substituted(tmp_path: Path) -> None:
    out_file = tmp_path / "argv.json"
    check = CommandCheck(
        type="command",
        run=[sys.executable, "-c", RECORD_ARGV, str(out_file), "{ip}", "--id={instance}", "{group}"],
    )
    assert run(check, ip="127.0.0.9").ok
    assert json.loads(out_file.read_text()) == ["127.0.0.9", "--id=i-abc", "web"]


def test_no_shell_injection_through_a_value(tmp_path: Path) -> None:
    out_file, marker = tmp_path / "argv.json", tmp_path / "pwned"
    run_line = f"{sys.executable} -c \"{RECORD_ARGV}\" {out_file} {{ip}}"
    evil = f"127.0.0.1;touch {marker}"
    assert run(CommandCheck(type="command", run=run_line), ip=evil).ok
    assert json.loads(out_file.read_text()) == [evil]
    assert not marker.exists()


def test_shell_mode_runs_a_shell_but_quotes_values(tmp_path: Path) -> None:
    out_file, marker = tmp_path / "out.txt", tmp_path / "pwned"
    check = CommandCheck(type="command", run=f"echo {{ip}} > {out_file} && test -s {out_file}", shell=True)
    evil = f"1.2.3.4; touch {marker}"
    assert run(check, ip=evil).ok
    assert out_file.read_text().strip() == evil
    assert not marker.exists()

