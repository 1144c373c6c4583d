"""RTO arithmetic over the client's answers and the journal's entry."""

from __future__ import annotations

import json
from pathlib import Path

from failover.lab import analysis
from failover.lab.analysis import Answer


def answers(spec: list[tuple[float, str | None]]) -> list[Answer]:
    return [Answer(t - 0.005, t, who, "" if who else "timeout") for t, who in spec]


def test_rto_is_the_gap_between_the_last_old_and_the_first_new_answer() -> None:
    a = answers([(0.0, "p"), (0.02, "p"), (0.04, None), (0.5, None), (0.83, "s"), (0.85, "s")])
    o = analysis.outage(a, "p", "s", since=0.03)
    assert o.rto_s == 0.83 - 0.02
    assert o.errors == 2
    assert o.stayed


def test_no_answer_by_the_new_holder_is_no_rto() -> None:
    o = analysis.outage(answers([(0.0, "p"), (0.1, None)]), "p", "s", since=0.05)
    assert o.rto_s is None and not o.stayed


def test_flapping_back_to_the_old_holder_is_not_stable() -> None:
    a = answers([(0.0, "p"), (0.5, "s"), (0.6, "p"), (0.7, "s")])
    o = analysis.outage(a, "p", "s", since=0.1)
    assert not o.stayed


def test_answers_from_before_the_failure_do_not_count_as_the_new_holder() -> None:
    a = answers([(0.0, "s"), (0.1, "p"), (0.9, "s")])
    assert analysis.outage(a, "p", "s", since=0.2).first_new == 0.9


def test_percentiles_and_summary() -> None:
    assert analysis.median([3.0, 1.0, 2.0]) == 2.0
    assert analysis.median([1.0, 2.0]) == 1.5
    assert analysis.percentile([float(i) for i in range(1, 11)], 90) == 9.0
    assert analysis.percentile([], 90) is None
    s = analysis.summarize([{"rto_s": 1.0, "ok": True, "breakdown": {"detach": 0.2}},
                            {"rto_s": 0.5, "ok": True, "breakdown": {"detach": 0.4}},
                            {"rto_s": None, "ok": False}])
    assert (s["median_s"], s["ok"], s["runs"]) == (0.75, 2, 3)
    assert s["breakdown_median_s"] == {"detach": 0.3}


def test_breakdown_reads_the_journal_entry() -> None:
    entry = {"started_at": "2026-01-01T00:00:01.500000+00:00",
             "steps": [{"name": "detach", "duration_s": 0.16}, {"name": "attach", "duration_s": 0.18}]}
    injected = analysis._ts("2026-01-01T00:00:00.800000Z")
    assert injected is not None
    b = analysis.breakdown(entry, injected)
    assert b == {"detection": 0.7, "detach": 0.16, "attach": 0.18}


def test_read_answers_skips_a_half_written_line(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"sent": 1.0, "done": 1.01, "answer": "p"}) + "\n{\"sent\": 1.")
    assert [a.answer for a in analysis.read_answers(f)] == ["p"]


def test_ratio() -> None:
    assert analysis.ratio(1.0, 4.0) == 0.25
    assert analysis.ratio(None, 4.0) is None
    assert analysis.ratio(1.0, 0.0) is None
