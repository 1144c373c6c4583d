"""`python -m failover sim ecs` as a real process: serves the SDK, persists, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from alibabacloud_ecs20140526 import models as m
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi import models as open_api_models

from harness.sim import AK, SECRET, small_world
from tests.integration.sim.util import REGION, detach, eni_status

ROOT = Path(__file__).resolve().parents[3]


def sim_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "failover", "sim", "ecs", *args]


@contextmanager
def sim_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        sim_cmd("--listen", "127.0.0.1:0", *args),
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        yield proc, json.loads(line)["listening"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def client(endpoint: str) -> Any:
    return Client(
        open_api_models.Config(
            access_key_id=AK, access_key_secret=SECRET, endpoint=endpoint, protocol="http", read_timeout=5000
        )
    )


@pytest.fixture
def world_file(tmp_path: Path) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(small_world()))
    return path


def test_process_answers_the_sdk_and_stops_cleanly_on_sigterm(world_file: Path) -> None:
    with sim_process("--world", str(world_file)) as (proc, endpoint):
        body = client(endpoint).describe_instances(m.DescribeInstancesRequest(region_id=REGION)).body
        assert body.total_count == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stdout is not None and "stopped" in proc.stdout.read()


def test_state_file_survives_a_restart(world_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with sim_process("--world", str(world_file), "--state-file", str(state)) as (proc, endpoint):
        detach(client(endpoint), "eni-svc", "i-primary")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert json.loads(state.read_text())["enis"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sim-state-")] == []  # no temp left over
    with sim_process("--world", str(world_file), "--state-file", str(state)) as (proc, endpoint):
        assert eni_status(client(endpoint), "eni-svc") == ("Available", "")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda w: w["instances"][0].pop("vswitch"), "instances[0].vswitch"),
        (lambda w: w["instances"][1].update(max_enis="three"), "instances[1].max_enis"),
        (
            lambda w: w["network_interfaces"][0].update(primary_ip="10.1.1.1"),
            "network_interfaces[0].primary_ip",
        ),
        (lambda w: w.update(access_keys={}), "access_keys"),
        (lambda w: w.update(timing={"attach_s": -1}), "timing.attach_s"),
        (lambda w: w["eips"][0].update(mode="WEIRD"), "eips[0].mode"),
    ],
)
def test_malformed_world_exits_2_naming_the_field(tmp_path: Path, mutate: Any, needle: str) -> None:
    world = small_world()
    mutate(world)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(world))
    proc = subprocess.run(sim_cmd("--world", str(path)), cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--world", "/nonexistent/world.yaml"], "--world"),
        (["--world", "{world}", "--listen", "nohost"], "--listen"),
        (["--world", "{world}", "--hooks", "nomodule"], "--hooks"),
        (["--world", "{world}", "--hooks", "json:nothing_here"], "--hooks"),
    ],
)
def test_bad_arguments_exit_2(world_file: Path, args: list[str], needle: str) -> None:
    argv = [a.replace("{world}", str(world_file)) for a in args]
    proc = subprocess.run(
        sim_cmd(*argv),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2
    assert needle in proc.stderr.strip().splitlines()[-1]
