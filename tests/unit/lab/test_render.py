"""The lab's generated files are accepted by their real consumers (emulator, config, keepalived)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from failover import config
from failover.health.jobs import plan_jobs
from failover.lab import render
from failover.lab.keepalived import VrrpSettings, render_conf
from failover.lab.spec import NAME_PATTERN, LabSpec, check_prefix, new_prefix
from failover.sim.world_file import load_world


def test_names_fit_the_kernel_and_the_cleanup_pattern() -> None:
    spec = LabSpec(new_prefix())
    for ns in spec.namespaces:
        assert NAME_PATTERN.match(ns), ns
        assert len(ns) <= 15
    with pytest.raises(ValueError, match="--prefix"):
        check_prefix("lab1")
    with pytest.raises(ValueError):
        LabSpec("flabzzzz")


def test_the_world_loads_in_the_emulator() -> None:
    spec = LabSpec("flab0abc")
    w = load_world(render.world(spec, "LTAIKEY", "secret"))
    eni = w.enis[spec.eni.eni_id]
    assert (eni.mac, eni.instance) == (spec.eni.mac, "i-primary")
    assert set(w.instances) >= {m.instance_id for m in spec.members}


def test_the_controller_config_is_valid_and_uses_the_issue_settings(tmp_path: Path) -> None:
    spec = LabSpec("flab0abc")
    path = tmp_path / "ctl.yaml"
    path.write_text(yaml.safe_dump(render.controller_config(spec, "ctl-b", render.default_health())))
    cfg = config.load(path)
    assert cfg.controller.id == "ctl-b"
    h = cfg.groups[0].health
    assert (h.interval_s, h.timeout_s, h.fall, h.quorum) == (0.2, 0.15, 3, "majority")
    assert cfg.cloud.endpoint == "198.18.0.1:18765"


def test_the_status_check_can_be_given_its_own_cadence(tmp_path: Path) -> None:
    spec = LabSpec("flab0abc")
    path = tmp_path / "ctl.yaml"
    doc = render.controller_config(spec, "ctl-a", render.default_health(interval_s=1.0, timeout_s=0.25),
                                   status_interval_s=0.25)
    path.write_text(yaml.safe_dump(doc))
    (job,) = [j for j in plan_jobs(config.load(path).groups) if j.kind == "ecs_status"]
    assert job.interval_s == 0.25


def test_keepalived_accepts_the_config(tmp_path: Path) -> None:
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    spec = LabSpec("flab0abc")
    conf = tmp_path / "k.conf"
    conf.write_text(render_conf(spec, spec.vrrp[0], spec.vrrp[1], VrrpSettings(0.1, fall=1, rise=1),
                                "/bin/true", 150))
    p = subprocess.run([keepalived, "-t", "-f", str(conf)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr + p.stdout
    assert "advert_int 0.1" in conf.read_text() and "unicast_peer" in conf.read_text()
