"""benchmarks/report.py: the README's Measured section is exactly what the results say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report, report_matrix, report_rows

REPO = Path(__file__).resolve().parents[3]


def test_the_readme_matches_the_stored_results(capsys: pytest.CaptureFixture[str]) -> None:
    """What `make test` checks: regenerate with `benchmarks/report.py --write` after a bench."""
    assert report.main(["--check"]) == 0, capsys.readouterr().err


@pytest.fixture
def copy(tmp_path: Path) -> tuple[Path, Path]:
    results = tmp_path / "results"
    shutil.copytree(REPO / "benchmarks" / "results", results)
    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    return readme, results


def args(readme: Path, results: Path, *flags: str) -> list[str]:
    return [*flags, "--readme", str(readme), "--results", str(results)]


def test_a_hand_edited_number_fails_the_check_naming_its_row(copy: tuple[Path, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    readme, results = copy
    text = readme.read_text()
    edited = text.replace("leader takeover after SIGKILL, session 2 s | median 2.01 s",
                          "leader takeover after SIGKILL, session 2 s | median 1.01 s")
    assert edited != text
    readme.write_text(edited)
    assert report.main(args(readme, results, "--check")) == 1
    err = capsys.readouterr().err
    assert "leader takeover after SIGKILL" in err and "1.01 s" in err and "2.01 s" in err


def test_new_results_fail_the_check_until_written(copy: tuple[Path, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    readme, results = copy
    doc = json.loads((results / "takeover.json").read_text())
    doc["median_s"] = 3.5
    (results / "takeover.json").write_text(json.dumps(doc))
    assert report.main(args(readme, results, "--check")) == 1
    assert "leader takeover" in capsys.readouterr().err
    assert report.main(args(readme, results, "--write")) == 0
    assert report.main(args(readme, results, "--check")) == 0
    assert "median 3.50 s" in readme.read_text()
    # Only the section between the markers was rewritten.
    assert readme.read_text().split(report.BEGIN)[0] == (REPO / "README.md").read_text().split(report.BEGIN)[0]


def test_missing_markers_are_an_error(copy: tuple[Path, Path]) -> None:
    readme, results = copy
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        report.main(args(readme, results, "--check"))


def summary(median: float, ok: int = 10, runs: int = 10) -> dict[str, Any]:
    return {"median_s": median, "p90_s": median, "ok": ok, "runs": runs}


def test_cells_say_who_is_faster_and_by_how_much() -> None:
    assert report_matrix.cell(summary(2.8), summary(3.1)) == "2.80 vs 3.10 s (ours faster, -0.30 s)"
    assert report_matrix.cell(summary(1.0), summary(0.5)) == "1.00 vs 0.50 s (keepalived faster, +0.50 s)"
    assert "(even," in report_matrix.cell(summary(0.51), summary(0.53))
    assert "[keepalived 1 of 2 ok]" in report_matrix.cell(summary(0.9), summary(0.7, ok=1, runs=2))
    assert report_matrix.cell(summary(0.9), None) == "0.90 s vs not run"


def test_matrix_rows_name_both_sides_settings_and_their_windows() -> None:
    ours = {"interval_s": 0.5, "timeout_s": 0.25, "fall": 3, "rise": 2, "poll_dense_s": 0.2,
            "cloud": "instant cloud"}
    ka = {"advert_int": 0.5, "script_interval_s": 1, "fall": 2, "rise": 2}
    doc = {"matrix": [{"id": "window-0.5", "n": "2", "title": "equal window 0.5 s",
                       "ours": {"settings": ours}, "keepalived": {"settings": ka},
                       "rto": {"failover": {"crash": summary(1.5)}, "keepalived": {"crash": summary(1.6)}},
                       "noise": {"settings": {"duration_s": 60, "loss_each_way": 0.05, "cpu_hogs": True},
                                 "failover": {"false_failovers": 0}, "keepalived": {"false_failovers": 2}}}],
           "settings": {"measured_at": "T"}, "smoke": True}
    (line,) = [x for x in report_matrix.markdown(doc) if x.startswith("| 2 ")]
    assert "ours interval 0.5 s, timeout 0.25 s, fall 3, polling 0.2 s" in line
    assert "keepalived advert_int 0.5 s, vrrp_script every 1 s x fall 2" in line
    assert "keepalived 3x0.5 + skew 0.30 = 1.80 s" in line and "ours 3x0.5 = 1.50 s" in line
    assert "0 vs 2 in 60 s at 5% loss" in line
    assert "| not run |" in line  # hang and stop were not run in this row
    assert "SMOKE" in report_matrix.provenance(doc)


def test_a_bench_run_renders_every_matrix_row_and_says_it_was_a_smoke_run() -> None:
    """The smoke run of `failover lab bench` (benchmarks/results/smoke/): the new JSON's shape."""
    doc = json.loads((REPO / "benchmarks" / "results" / "smoke" / "rto.json").read_text())
    lines = report.section({"rto": doc})
    table = [x for x in lines if x.startswith("| 1 ") or x.startswith("| 2")]
    assert len(table) == 3  # product defaults, and the equal windows at 0.5 s and 0.2 s
    assert "ours interval 1 s, timeout 0.5 s, fall 3, polling 0.2 s" in table[0]
    assert all("false failovers" not in row and " vs " in row.split("|")[6] for row in table)  # noise ran
    assert any("SMOKE RUN" in x for x in lines)
    (real,) = [x for x in lines if x.startswith("| (4) real-cloud")]
    assert "Cloud Assistant time included" in real and "per seed" in real and "assumption" in real


def test_a_later_realistic_run_supersedes_the_full_runs_realistic_part() -> None:
    """Row (4) and the guest-path row come from results/realistic/rto.json when it exists; the
    full run keeps its matrix, and its own realistic part is no longer shown."""
    full = json.loads((REPO / "benchmarks" / "results" / "smoke" / "rto.json").read_text())
    later = json.loads(json.dumps(full))
    later["command"] = "failover lab bench --parts realistic --json --out LATER"
    full["realistic"]["pooled"]["median_s"] = 77.77
    lines = report.section({"rto": full, report.REALISTIC_RUN: later})
    (real,) = [x for x in lines if x.startswith("| (4) real-cloud")]
    assert "LATER" in real and "77.77" not in real
    assert not any("77.77" in x for x in lines)
    assert any(x.startswith("| 1 ") for x in lines)  # the full run's matrix stays
    (alone,) = [x for x in report.section({"rto": full}) if x.startswith("| (4) real-cloud")]
    assert "77.77" in alone


def trial(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    (found,) = [t for t in doc["trials"] if str(t["trial"]).startswith(prefix)]
    figures: dict[str, Any] = found["figures"]
    return figures


# (JSON under benchmarks/results, how to change one number in it, the README text it must then
# show, the start of the row the check must name)
CHANGES: list[tuple[str, Any, str, str]] = [
    ("health_replica.json", lambda d: d["1000g-1r-http2-600s"]["result"].update({"enis_moved": 7}),
     "so false failovers) 7,", "whole replica (health_replica.json, run `1000g-1r-http2-600s`"),
    ("status.json", lambda d: d["http"].update({"p99_s": 0.7777}), "p99 0.7777 s", "/status at 1,000 groups"),
    ("rto.json", lambda d: d["stability"].update({"false_failovers": 13}), "13 false failovers",
     "lab, after the src/dst-check fix"),
    ("stability_before.json", lambda d: d["stability"].update({"holder_unreachable_probes": 444}),
     "444 of 1800 holder probes", "lab, before the src/dst-check fix"),
    ("http_probe.json", lambda d: d["streams"].update({"cpu_ms_per_probe": 0.777}),
     "streams: 0.777 ms CPU per probe", "HTTP probe, hand-written"),
    ("cold_standby.json", lambda d: d["added_by_cold_standby"].update({"median_real_equiv_s": 77.7}),
     "cold standby median 77.70 s", "cold standby (stopped"),
    ("reliability.json", lambda d: trial(d, "P5.").update({"served_after_p50_s": 7.77}),
     "p50 7.77 s", "partial failure P5."),
    ("issue21/reliability.json", lambda d: trial(d, "21d.").update({"bound_s": 7.77}), "bound_s 7.77",
     "reliability (issue21/): 21d."),
    ("realistic/reliability.json", lambda d: trial(d, "7.").update({"ratio": 7.77}), "ratio 7.77,",
     "reliability (realistic/): 7."),
]


@pytest.mark.parametrize(("name", "change", "shown", "row"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_number_in_this_rounds_results_fails_the_check(
        copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
        name: str, change: Any, shown: str, row: str) -> None:
    readme, results = copy
    assert shown not in readme.read_text()
    doc = json.loads((results / name).read_text())
    change(doc)
    (results / name).write_text(json.dumps(doc))
    assert report.main(args(readme, results, "--check")) == 1
    err = capsys.readouterr().err
    assert f"row '{row}" in err or f'row "{row}' in err  # the row is named (repr picks the quotes)
    assert report.main(args(readme, results, "--write")) == 0
    assert report.main(args(readme, results, "--check")) == 0
    (line,) = [x for x in readme.read_text().splitlines() if x.startswith(f"| {row}")]
    assert shown in line


def test_what_a_json_does_not_record_is_said_not_invented() -> None:
    stable = {"settings": {"health": {"interval_s": 0.2}},
              "stability": {"guest_routes": "old", "trials": 3, "watch_s": 60, "false_failovers": 1}}
    ((what, fig, cmd),) = report_rows.stability_rows(stable)
    assert "before the src/dst-check fix" in what and "--old-guest-routes" in cmd
    assert "records no command" in cmd and "load not recorded" in fig
    run = {"command": "benchmarks/bench_health.py --groups 10", "machine": {},
           "result": {"spec": {"groups": 10, "replicas": 2, "http_every": 0, "up_timeout_s": 5},
                      "every_member_up_s": {"ctl-a": 3.0, "ctl-b": None},
                      "steady": {"replicas": {"ctl-a": {"probe_lag_ms_from_buckets": {"p99": None}}}}}}
    ((what, fig, _),) = report_rows.replica_rows("health_replica", {"k": run})
    assert "2 replica(s), TCP checks only" in what
    assert "every member up: 3.0 s / never (not within the 5 s" in fig
    assert "p99 no probe result" in fig and "load not recorded" in fig
    assert "ENIs moved (no failure injected, so false failovers) not recorded" in fig


def test_a_failed_trial_counts_runs_not_failure_lines() -> None:
    t = {"runs": 10, "failures": ["run 6: a", "run 6: b", "run 8: c"]}
    assert report_rows.failed_runs(t) == "FAILED in 2 of 10 runs (first: run 6: a)"
    assert report_rows.failed_runs({"runs": 5, "failures": []}) == "passed 5 of 5"


def test_a_reliability_rows_load_is_the_one_recorded_for_its_trial() -> None:
    doc = {"command": "benchmarks/bench_reliability.py --only P1", "machine": {
        "P1.": {"load_avg_at_start": [5.1, 4, 3], "load_avg_at_end": [9.5, 6, 4]}},
        "trials": [{"trial": "P1. attach fails", "runs": 10, "failures": [], "figures": {}},
                   {"trial": "P2. other", "runs": 10, "failures": [], "figures": {}}]}
    rows = report_rows.partial_rows(doc)
    assert "load average 5.1 at start, 9.5 at end" in rows[0][1]
    assert report_rows.NO_LOAD in rows[1][1]  # not re-run by the invocation that recorded it


def test_a_runcommand_path_served_by_lent_triggers_is_called_out() -> None:
    def real(hotplug_s: float) -> dict[str, Any]:
        return {"guest_paths": {"runcommand": {"breakdown_median_s": {"hotplug_s": hotplug_s}}}}

    assert "CAUTION" in report_rows.lent_triggers(real(0.45)) and "0.45 s" in report_rows.lent_triggers(real(0.45))
    assert report_rows.lent_triggers(real(0.0)) == ""
    assert report_rows.lent_triggers({}) == ""


def test_a_fleet_outage_row_says_where_its_last_group_spent_its_time() -> None:
    figures: dict[str, Any] = {"groups": 100, "span_s": 7.3, "ratio": 1.46, "throughput_bound_s": 5.0,
                               "last_group": {"before_detach_call_s": 4.22, "cloud_transitions_s": 1.3,
                                              "controller_rest_s": 1.07}}
    outage = {"figures": figures, "throttled_by_replica": {"ctl-a": 0}}
    text = report_rows.outage_text(outage)
    assert ("the last group: 4.22 s before its detach call went (the rate limit's queue), 1.30 s "
            "the cloud's own transitions, 1.07 s the controller's") in text
    del figures["last_group"]  # a run from before the split was recorded
    assert "last group" not in report_rows.outage_text(outage)
