"""The lab bench's parts at small counts: a matrix row, noise, realistic cloud timing, the new
holder's stability.

Each brings a lab up and checks what the part measured and that it put everything back:
the controllers' settings, the emulator's timing, no loss rules, no hog left spinning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from failover.lab import bench, matrix, netns, noise, parts, stability
from failover.lab.noise import IPTABLES, NoiseOptions
from failover.lab.runtime import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]


def said() -> tuple[list[str], bench.Say]:
    lines: list[str] = []
    return lines, lines.append


def controller_health(lab: Lab) -> dict[str, object]:
    doc = yaml.safe_load(Path(lab.config_path()).read_text())
    return dict(doc["defaults"]["health"])


def test_a_matrix_row_runs_ours_at_its_settings_and_names_both_sides(lab: Lab) -> None:
    lab.up()
    opts = bench.BenchOptions(runs=1, modes=("crash",), keepalived=False)
    _, say = said()
    cfg = matrix.WINDOWS[0]  # the equal window at 0.5 s
    result: dict[str, Any] = {}
    matrix.run_rto(lab, cfg, opts, say, result)
    (row,) = result["matrix"]
    crash = row["rto"]["failover"]["crash"]
    assert crash["ok"] == 1, crash
    # fall 3 x 0.5 s (+ the 0.25 s timeout): detection alone takes about a second and more
    assert 0.8 < crash["median_s"] < 4.0
    assert row["ours"]["settings"]["interval_s"] == 0.5 and row["ours"]["settings"]["poll_dense_s"] == 0.2
    assert row["keepalived"]["settings"]["advert_int"] == 0.5
    assert controller_health(lab)["interval_s"] == 0.5  # the controllers ran at the row's window
    doc = yaml.safe_load(Path(lab.config_path()).read_text())
    assert doc["cloud"]["poll_dense_s"] == 0.2  # the product's polling, not the lab's 50 ms


def test_noise_drops_packets_moves_nothing_and_cleans_up(lab: Lab) -> None:
    lab.up()
    _, say = said()
    out = noise.run_noise(lab, NoiseOptions(duration_s=12.0), say)
    namespaces = [lab.spec.ns(m.role) for m in (*lab.spec.members, *lab.spec.vrrp)]
    assert set(out["dropped_packets"]) == set(namespaces)
    # The controllers probe each member several times a second: loss must have hit them.
    assert all(out["dropped_packets"][lab.spec.ns(m.role)] > 0 for m in lab.spec.members), out
    assert out["failover"]["false_failovers"] == 0, out["failover"]
    assert out["failover"]["holder_changes"] == 0
    for ns in namespaces:
        assert "statistic" not in netns.run(netns.in_ns(ns, [IPTABLES, "-S"]))
        assert not [p for p in netns.netns_pids(ns) if "time.monotonic() < end" in _comm(p)], f"a hog is left in {ns}"
    assert lab.holder() == "i-primary"


def test_realistic_timing_breaks_down_a_slow_failover_and_is_put_back(lab: Lab) -> None:
    lab.up()
    before = lab.sim("state")["timing"]
    assert before.get("profile", "fixed") == "fixed"
    health_before = controller_health(lab)
    lines, say = said()
    out = parts.realistic(lab, runs=1, scale=0.2, seeds=(5, 6), out_dir_name="raw", say=say)
    assert set(out["seeds"]) == {"5", "6"} and out["pooled"]["runs"] == 2
    trial = out["seeds"]["5"]["trials"][0]
    assert trial["ok"], (trial, lines)
    b = trial["breakdown"]
    assert b["detach_s"] > 0.05 and b["attach_s"] > 0.05  # drawn durations, not the lab's instant ones
    assert b["command_s"] > 0.02
    assert b["detach_polling_lag_s"] >= 0 and b["attach_polling_lag_s"] >= 0
    # The client waits for the emulated Cloud Assistant time too: the script's effect comes
    # when its drawn time is over, not at once.
    assert trial["rto_s"] >= b["detach_s"] + b["attach_s"] + b["command_s"]
    assert trial["limit_s"] == pytest.approx(
        b["detection_s"] + b["detach_s"] + b["attach_s"] + b["command_s"] + 0.5, abs=2e-3)
    assert out["laws"]["attach"]["source"].startswith("assumption")
    doc = yaml.safe_load(Path(lab.config_path()).read_text())
    assert doc["cloud"]["poll_dense_s"] == 0.05 and doc["defaults"]["policy"]["detach_timeout_s"] == 10
    assert controller_health(lab) == health_before
    assert lab.sim("state")["timing"] == before
    # Run again: the first run's pre-staged path left the guests staged, and the RunCommand
    # path must not be served by those triggers (the emulator's hot-plug would show).
    again = parts.realistic(lab, runs=1, scale=0.2, seeds=(5,), out_dir_name="raw-again", say=say)
    rc = again["guest_paths_by_seed"]["runcommand"]["5"]["trials"]
    assert [t["breakdown"]["hotplug_s"] for t in rc] == [0.0], (rc, lines)
    staged = again["guest_paths_by_seed"]["prestaged"]["5"]["trials"]
    assert all(t["breakdown"]["hotplug_s"] > 0 for t in staged), (staged, lines)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_stability_watches_the_new_holder_with_the_check_on(lab: Lab) -> None:
    lab.up()
    _, say = said()
    out = stability.run_stability(lab, stability.StabilityOptions(trials=1, watch_s=6.0), say)
    assert out["srcdst_check"] is True and out["primary_metric"] == 100
    assert out["trials"] == 1 and out["failed_trials"] == 0, out["per_trial"]
    assert out["probes"] >= 40  # two controllers, every 0.2 s for 6 s
    assert out["false_failovers"] == 0 and out["holder_unreachable_probes"] == 0, out["per_trial"]


def test_stability_with_the_old_guest_routes_shows_the_failure(lab: Lab) -> None:
    lab.up()
    _, say = said()
    out = stability.run_stability(lab, stability.StabilityOptions(trials=1, watch_s=6.0, old_routes=True), say)
    assert out["guest_routes"] == "old"
    assert out["holder_unreachable_probes"] > 0 and out["false_failovers"] > 0, out["per_trial"]
    assert not (lab.dir / "old-guest-routes").exists()  # the flag goes with the part
