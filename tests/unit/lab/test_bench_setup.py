"""The bench's set-up, pure parts: tools checked first, matrix rows, per-trial notify logs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from failover import config
from failover.cli import main
from failover.lab import bench, matrix, render, suite
from failover.lab.keepalived import KeepalivedPair
from failover.lab.spec import LabSpec


def test_missing_tools_are_named_with_their_package_before_anything_starts() -> None:
    opts = bench.BenchOptions()
    gone = {"/usr/sbin/keepalived", "/usr/sbin/iptables-legacy"}
    missing = suite.missing_tools(opts, exists=lambda path: path not in gone)
    assert missing == ["/usr/sbin/keepalived (Debian package keepalived)",
                       "/usr/sbin/iptables-legacy (Debian package iptables)"]
    # Only what the chosen parts need: the realistic part alone needs no keepalived nor iptables.
    only = bench.BenchOptions(parts=("realistic",))
    assert suite.missing_tools(only, exists=lambda path: path not in gone) == []
    assert "curl" in suite.needed_tools(bench.BenchOptions(parts=("rto",)))


def test_the_product_defaults_row_uses_the_config_models_defaults() -> None:
    defaults = config.models.HealthConfig()
    ours = matrix.DEFAULTS.ours()
    assert (ours["interval_s"], ours["timeout_s"], ours["fall"]) == (
        defaults.interval_s, defaults.timeout_s, defaults.fall)
    assert ours["poll_dense_s"] == config.models.CloudConfig(region="r").poll_dense_s
    # The lab's own fast settings are not the product's.
    assert render.lab_health()["interval_s"] != defaults.interval_s


def test_every_row_sets_both_sides_to_the_same_window() -> None:
    for cfg in matrix.CONFIGS:
        assert cfg.keepalived()["advert_int"] == cfg.interval_s  # 3 x advert against fall 3 x interval
        assert cfg.fall == 3
        # keepalived's script runs every whole second: its fall is the nearest to 3 x the advert
        assert cfg.vrrp().fall == max(1, round(3 * cfg.advert_int + 1e-9))


def test_a_trials_notify_log_holds_only_that_trials_transitions(tmp_path: Path) -> None:
    spec = LabSpec("flab0abc")
    pair = KeepalivedPair(spec, tmp_path, matrix.DEFAULTS.vrrp())
    k1, k2 = spec.vrrp
    for m in spec.vrrp:
        pair.new_log(m)
    pair.paths(k1)["transitions"].write_text("1.0 BACKUP\n2.0 MASTER\n")
    pair.paths(k2)["transitions"].write_text("1.1 BACKUP\n")
    mark = pair.mark()
    # the trial: k1 is killed (no line), k2 takes over
    with pair.paths(k2)["transitions"].open("a") as f:
        f.write("5.0 MASTER\n")
    out = tmp_path / "keepalived-crash-1.notify"
    pair.save_since(mark, out)
    assert out.read_text() == "k-standby 5.0 MASTER\n"
    # k1's daemon restarted: its log started afresh, all of its lines belong to the new trial
    mark = pair.mark()
    pair.new_log(k1)  # as start() does: the killed daemon's last "MASTER" is gone
    assert pair.states()["k-primary"] == "INIT"
    pair.paths(k1)["transitions"].write_text("9.0 BACKUP\n7.0 FAULT\n8.0 BACKUP\n")
    pair.save_since(mark, out)
    assert out.read_text() == "k-primary 7.0 FAULT\nk-primary 8.0 BACKUP\nk-primary 9.0 BACKUP\n"
    assert pair.states() == {"k-primary": "BACKUP", "k-standby": "MASTER"}


@pytest.mark.skipif(os.geteuid() != 0, reason="`failover lab bench` refuses to start without root first")
def test_the_bench_fails_at_once_naming_the_missing_package(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    monkeypatch.setitem(suite.TOOLS, "keepalived", ("/nonexistent/keepalived", "keepalived"))
    started = time.monotonic()
    result = CliRunner().invoke(main, ["lab", "bench", "--parts", "rto", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "/nonexistent/keepalived (Debian package keepalived)" in result.output
    assert time.monotonic() - started < 5  # no lab was brought up
    assert not list(tmp_path.iterdir())  # and nothing written


def test_the_status_row_runs_only_the_stop_and_reuses_row_1s_keepalived(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, ...]] = []

    def run_side(lab: object, side: object, opts: bench.BenchOptions, say: object) -> tuple[dict[str, object], None]:
        ran.append(opts.modes)
        return {m: {"median_s": 0.4, "ok": 1, "runs": 1} for m in opts.modes}, None

    monkeypatch.setattr(matrix, "apply", lambda lab, cfg, say: None)
    monkeypatch.setattr(bench, "run_side", run_side)
    monkeypatch.setattr(bench, "run_keepalived", lambda *a: pytest.fail("keepalived must not run again"))
    result: dict[str, object] = {"matrix": [{"id": "defaults", "rto": {"keepalived": {
        "crash": {"median_s": 3.0}, "stop": {"median_s": 0.5}}}}]}
    # No lab (None): every part of run_rto that would use one is replaced above.
    matrix.run_rto(None, matrix.STATUS_FAST, bench.BenchOptions(), print, result)  # type: ignore[arg-type]
    assert ran == [("stop",)]
    row = matrix.row(result, matrix.STATUS_FAST)
    assert row["rto"]["keepalived"] == {"stop": {"median_s": 0.5}}
    assert row["ours"]["settings"]["ecs_status_interval_s"] == 0.25
