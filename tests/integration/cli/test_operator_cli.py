"""The operator CLI against a real ZooKeeper and the emulator: status formats, --watch,
pause/resume, global options after the subcommand, the default config search, and one clear
line when ZooKeeper is unreachable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from failover.cli import main
from failover.config import loader
from harness.sim import SimServer
from harness.standby_worlds import world, write_config
from harness.zk import ZkCluster, free_port


@pytest.fixture
def setup(tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> Iterator[tuple[Path, dict[str, str]]]:
    with SimServer.from_world(world()) as sim:
        cfg = write_config(tmp_path / "config.yaml", sim.endpoint)
        doc = yaml.safe_load(cfg.read_text())
        doc["zookeeper"] = {"hosts": zk_server.hosts, "root": zk_root}
        doc["groups"].append({**doc["groups"][0], "name": "db", "network_interface": "eni-db",
                               "service_ips": [], "eips": []})
        cfg.write_text(yaml.safe_dump(doc))
        yield cfg, {"SIM_AK": sim.access_key_id, "SIM_SECRET": sim.access_key_secret}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_pause_resume_and_status_in_every_format(setup: tuple[Path, dict[str, str]]) -> None:
    cfg, env = setup
    c = str(cfg)
    # global options after the subcommand, as operators type them
    r = run(env, "pause", "web", "--config", c, "--log-level", "error")
    assert r.exit_code == 0, r.output
    assert "group web: paused" in r.output
    assert "was already paused" in run(env, "pause", "web", "--config", c).output

    doc = json.loads(run(env, "status", "--config", c, "--json").output)
    web = {g["name"]: g for g in doc["groups"]}["web"]
    db = {g["name"]: g for g in doc["groups"]}["db"]
    assert "paused_since" in web and abs(web["paused_since"] - time.time()) < 60
    assert "paused_since" not in db
    as_o_json = json.loads(run(env, "status", "-o", "json", "--config", c).output)
    assert set(as_o_json) == set(doc) and [g["name"] for g in as_o_json["groups"]] == ["web", "db"]
    as_yaml = yaml.safe_load(run(env, "status", "-o", "yaml", "--config", c).output)
    assert {g["name"] for g in as_yaml["groups"]} == {"web", "db"}

    table = run(env, "status", "--config", c).output
    lines = table.splitlines()
    assert lines[0].startswith("leader: NONE")
    header = lines[1].split()
    assert header[:3] == ["GROUP", "STATE", "HOLDER"]
    web_row = next(line for line in lines if line.startswith("web "))
    assert "paused since" in web_row and "failover resume web" in web_row
    wide = run(env, "status", "-o", "wide", "--config", c).output
    assert "VOTES" in wide and "STANDBY READINESS" in wide

    r = run(env, "resume", "--all", "--config", c)
    assert r.exit_code == 0, r.output
    assert "group web: resumed" in r.output and "group db: was not paused" in r.output
    doc = json.loads(run(env, "status", "--json", "--config", c).output)
    assert all("paused_since" not in g for g in doc["groups"])


def test_pause_needs_a_known_group_or_all(setup: tuple[Path, dict[str, str]]) -> None:
    cfg, env = setup
    r = run(env, "pause", "nope", "--config", str(cfg))
    assert r.exit_code == 2 and "unknown group 'nope'" in r.output
    r = run(env, "pause", "--config", str(cfg))
    assert r.exit_code == 2 and "give a GROUP or --all" in r.output


def test_watch_prints_again_until_interrupted(setup: tuple[Path, dict[str, str]]) -> None:
    cfg, env = setup
    proc = subprocess.Popen(
        [sys.executable, "-m", "failover", "status", "--watch", "--interval", "0.3", "-o", "json",
         "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env})
    try:
        docs: list[dict[str, Any]] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(docs) < 2 and time.monotonic() < deadline:
            docs.append(json.loads(proc.stdout.readline()))  # JSON lines: one document per round
        assert len(docs) == 2 and all({"leader", "groups"} <= set(d) for d in docs)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_default_config_search_names_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 setup: tuple[Path, dict[str, str]]) -> None:
    cfg, env = setup
    monkeypatch.chdir(tmp_path / "..")  # no config/local.yaml here
    monkeypatch.setattr(loader, "SYSTEM_PATH", tmp_path / "etc-failover-config.yaml")
    r = CliRunner().invoke(main, ["status"], env={**env, "FAILOVER_CONFIG": ""})
    assert r.exit_code == 2
    assert "$FAILOVER_CONFIG" in r.output and str(loader.SYSTEM_PATH) in r.output and "config/local.yaml" in r.output
    assert r.output.count("\n") == 1
    # the system path is found without --config
    loader.SYSTEM_PATH.write_text(cfg.read_text())
    r = CliRunner().invoke(main, ["status", "--json"], env={**env, "FAILOVER_CONFIG": ""})
    assert r.exit_code == 0, r.output
    assert {g["name"] for g in json.loads(r.output)["groups"]} == {"web", "db"}
    # $FAILOVER_CONFIG wins, and a missing one is named
    r = CliRunner().invoke(main, ["status"], env={**env, "FAILOVER_CONFIG": str(tmp_path / "gone.yaml")})
    assert r.exit_code == 2 and "gone.yaml" in r.output


def test_zookeeper_unreachable_is_one_line_naming_the_hosts_once(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "config.yaml", f"127.0.0.1:{free_port()}")
    doc = yaml.safe_load(cfg.read_text())
    hosts = f"127.0.0.1:{free_port()}"
    doc["zookeeper"] = {"hosts": hosts, "connect_timeout_s": 2}
    cfg.write_text(yaml.safe_dump(doc))
    out = subprocess.run([sys.executable, "-m", "failover", "status", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60, check=False,
                         env={**os.environ, "SIM_AK": "a", "SIM_SECRET": "b"})
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.count(hosts) == 1, out.stderr
