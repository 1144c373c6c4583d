"""iproute2 and process plumbing: the only place the lab runs `ip` and starts processes.

Every lab process is started as `ip netns exec NS ...` (so it never sees the root
namespace's network) in its own session, and is found again through `ip netns pids NS`,
which works even when the lab's own records are lost after a crash.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"


class LabError(RuntimeError):
    pass


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0,
        input_text: str | None = None) -> str:
    """Runs a short command; a failure raises `LabError` with its stderr."""
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input_text,
                           check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: timed out after {timeout}s") from None
    if check and p.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {p.stderr.strip() or p.stdout.strip() or p.returncode}")
    return p.stdout


def ip(ns: str | None, *args: str, check: bool = True) -> str:
    return run([IP, *(["-n", ns] if ns else []), *args], check=check)


def ip_batch(ns: str, commands: Sequence[str]) -> None:
    """Many `ip` commands in one process (`ip -batch`): building the lab stays quick."""
    if commands:
        run([IP, "-n", ns, "-batch", "-"], input_text="\n".join(commands) + "\n")


def in_ns(ns: str, argv: Sequence[str]) -> list[str]:
    return [IP, "netns", "exec", ns, *argv]


def sysctl(ns: str, settings: Mapping[str, str]) -> None:
    run(in_ns(ns, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings.items())]))


def list_netns() -> list[str]:
    out = run([IP, "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    out = run([IP, "netns", "pids", ns], check=False)
    return [int(x) for x in out.split() if x.isdigit()]


def spawn(ns: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
          cwd: str | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(in_ns(ns, argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def stop_pids(pids: Sequence[int], grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `grace_s` (SIGCONT first: a hung one)."""
    for pid in pids:
        signal_pid(pid, signal.SIGCONT)
        signal_pid(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            signal_pid(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def kill_netns(ns: str, grace_s: float = 3.0) -> None:
    """Stops every process inside `ns`, then deletes it (its links go with it)."""
    stop_pids(netns_pids(ns), grace_s)
    ip(None, "netns", "del", ns, check=False)
