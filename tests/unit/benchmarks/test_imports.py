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


def test_no_module_imports_a_conftest() -> None:
    """Fixtures live in conftest files; what tests share as code lives in harness/."""
    files = [p for top in ("tests", "harness", "benchmarks") for p in (REPO / top).rglob("*.py")]
    offenders = sorted(f.relative_to(REPO).as_posix() for f in files
                       if any(m.split(".")[-1] == "conftest" for m in _imported(f)))
    assert not offenders


def test_one_wait_helper_and_one_fake_clock() -> None:
    files = [p for top in ("tests", "harness", "benchmarks") for p in (REPO / top).rglob("*.py")]
    waits, clocks = [], []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.FunctionDef) and node.name in {"wait_for", "wait_until"}:
                waits.append(f.relative_to(REPO).as_posix())
            if isinstance(node, ast.ClassDef) and node.name.endswith("Clock"):
                clocks.append(f.relative_to(REPO).as_posix())
    assert waits == ["harness/waiting.py"]
    assert clocks == ["harness/clock.py"]
