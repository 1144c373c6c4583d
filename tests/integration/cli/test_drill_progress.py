"""`failover drill` progress through click's runner: a live rich view on a terminal, plain lines
off one, and --json's event lines unchanged. Three real replicas lead and run the drill."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from failover.cli import main
from harness.replicas import Fleet, write_config
from harness.sim import SimServer, small_world
from harness.waiting import wait_for
from harness.zk import ZkCluster

pytestmark = pytest.mark.timeout(180)
STEPS = ("detach", "attach", "guest", "verify", "done")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def fleet(tmp_path: Path, zk_server: ZkCluster, zk_root: str) -> Iterator[Fleet]:
    world = small_world(timing={"attach_s": 0.4, "detach_s": 0.4, "command_s": 0.2})
    with SimServer.from_world(world) as sim:
        health = tmp_path / "health"
        health.mkdir()
        for m in ("i-primary", "i-standby"):
            (health / m).touch()
        cfg = write_config(tmp_path / "config.yaml", zk_hosts=zk_server.hosts, zk_root=zk_root,
                           endpoint=sim.endpoint, health_dir=health, members=["i-primary", "i-standby"])
        env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": sim.access_key_id,
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": sim.access_key_secret}
        f = Fleet(cfg, tmp_path, env)
        try:
            for cid in ("ctl-a", "ctl-b", "ctl-c"):
                f.start(cid)
            wait_for(lambda: _ready(f), 30, "a leader that sees both members up", f.logs)
            yield f
        finally:
            f.stop_all()


def _ready(f: Fleet) -> bool:
    leader = f.leader()
    st = (leader.status() if leader else None) or {}
    return bool(st) and all(m["up"] for m in st["groups"][0]["members"]) and not st["groups"][0].get("running")


def drill(f: Fleet, *args: str) -> Result:
    env = {k: f.env[k] for k in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")}
    return CliRunner().invoke(main, ["drill", "web", "--yes", "--config", str(f.config), *args],
                              env=env, catch_exceptions=False)


def test_drill_progress_live_on_a_tty_lines_off_one_json_unchanged(
        fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    # off a terminal: plain lines, no escape codes
    plain = drill(fleet)
    assert plain.exit_code == 0, plain.output + fleet.logs()
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("requested: request=drill-") and lines[1].startswith("started: failover=web-")
    assert not ANSI.search(plain.stdout)
    for step in STEPS:
        assert any(re.fullmatch(rf"  {step:<7} (ok|skipped)( \d+\.\d{{3}} s)?", x) for x in lines), (step, lines)
    assert any(x.startswith("completed: web i-primary -> i-standby in ") for x in lines)

    # --json: one JSON event per line, the final record last
    wait_for(lambda: _ready(fleet), 30, "the leader settled after the drill", fleet.logs)
    as_json = drill(fleet, "--json")
    assert as_json.exit_code == 0, as_json.output
    events = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert [e["event"] for e in events[:2]] == ["requested", "started"]
    assert {e["name"] for e in events if e["event"] == "step"} >= set(STEPS)
    assert events[-1]["event"] == "finished" and events[-1]["result"] == "completed"

    # on a terminal: a rich Live view redrawn in place, then the same timeline
    monkeypatch.setattr("failover.commands.drill.is_tty", lambda: True)
    wait_for(lambda: _ready(fleet), 30, "the leader settled after the drill", fleet.logs)
    live = drill(fleet)
    assert live.exit_code == 0, live.output
    out = live.stdout
    assert "\x1b[?25l" in out  # Live hides the cursor while it draws
    redraws = out.count("\x1b[1A") + out.count("\x1b[2K")
    assert redraws > 0, "the view was never redrawn in place"
    text = ANSI.sub("", out)
    frames = text.count("drill web")
    assert frames >= 2, f"one frame only:\n{text}"
    final = text[text.rindex("drill web"):]
    assert "drill web: i-primary -> i-standby" in final or "drill web: i-standby -> i-primary" in final
    for step in STEPS:
        assert re.search(rf"│ {step}\s+│ (ok|skipped)\s+│", final), (step, final)
    assert "completed" in final
    assert re.search(r"^completed: web i-(primary|standby) -> i-(primary|standby) in ", text, re.M), text
