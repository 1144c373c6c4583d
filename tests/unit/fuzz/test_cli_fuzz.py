"""The CLI under fuzzed arguments: never a traceback, exit code 0, 1 or 2.

The configuration points at a ZooKeeper port nobody listens on (connect
timeout 0.2 s), so commands that need coordination end with exit 1 quickly
instead of waiting for a leader.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from failover.cli import main
from harness.zk import free_port

COMMANDS = [["validate"], ["drill"], ["history"], ["ack"], ["guest", "render"], ["status"],
            ["journal", "inspect"], ["journal", "reset"]]
WORDS = ["web", "nope", "i-primary", "i-standby", "--to", "--yes", "--dry-run", "--timeout", "--limit",
         "--json", "--live", "--all", "--groups", "--os", "--mac", "--ips", "--cidr", "--gateway", "--table",
         "--device", "--release", "--help", "-h", "--config", "0", "-1", "1e9", "nan", "abc", "",
         "netplan", "windows", "00:16:3e:00:00:50", "192.168.1.50,192.168.1.51", "192.168.1.0/24",
         "192.168.1.253", "300", "--", "-x", "--log-level", "debug"]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzzcli") / "config.yaml"
    path.write_text(yaml.safe_dump({
        "zookeeper": {"hosts": f"127.0.0.1:{free_port()}", "connect_timeout_s": 0.2, "session_timeout_s": 2},
        "cloud": {"region": "cn-hangzhou", "endpoint": f"127.0.0.1:{free_port()}", "protocol": "http",
                  "connect_timeout_s": 0.2, "read_timeout_s": 0.2},
        "groups": [{"name": "web", "network_interface": "eni-svc", "members": ["i-primary", "i-standby"],
                    "checks": [{"type": "tcp", "port": 80}]}],
    }))
    return path


argv = st.tuples(st.sampled_from(COMMANDS),
                 st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=6))


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "50")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(argv)
@example((["drill"], ["web", "--yes"]))  # needs ZooKeeper: exit 1, one line
@example((["journal", "reset"], ["--all", "--yes"]))
@example((["guest", "render"], ["--os", "netplan", "--mac", "x", "--ips", "1", "--cidr", "y", "--gateway", "z"]))
def test_random_arguments_never_crash(config: Path, args: tuple[list[str], list[str]]) -> None:
    command, rest = args
    result = CliRunner().invoke(main, ["--config", str(config), *command, *rest],
                                env={"FAILOVER_CONTROLLER_ID": ""})
    text = result.output + (result.stderr or "")
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), (result.exit_code, text)


def test_a_real_process_refuses_bad_arguments_in_one_line(config: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "failover", "--config", str(config), "history", "--limit", "x"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "--limit" in out.stderr
