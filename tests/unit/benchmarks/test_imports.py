"""Benchmarks import the product and the harness (the support package meant for them and the
tests), never the tests; the harness does not import the tests either."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_benchmarks_and_the_harness_never_import_the_tests() -> None:
    files = [*sorted((REPO / "benchmarks").glob("*.py")), *sorted((REPO / "harness").glob("*.py"))]
    assert len(files) > 10
    offenders = {f.relative_to(REPO).as_posix(): sorted(m for m in _imported(f) if m.split(".")[0] == "tests")
                 for f in files}
    assert not {f: m for f, m in offenders.items() if m}


def test_the_benchmarks_do_use_the_harness() -> None:
    # the check above would pass on benchmarks that imported nothing at all
    users = [f.name for f in (REPO / "benchmarks").glob("bench_*.py")
             if any(m.split(".")[0] == "harness" for m in _imported(f))]
    assert {"bench_reliability.py", "bench_takeover.py", "bench_health.py"} <= set(users)
