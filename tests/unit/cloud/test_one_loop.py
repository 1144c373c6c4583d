"""The cloud adapter has one concurrency model: one scheduler loop (plus a fixed pool of
senders, because the SDK blocks). No condition variable, no thread per move or per read."""

from __future__ import annotations

import ast
from pathlib import Path

import failover.cloud

CLOUD = Path(failover.cloud.__file__).parent


def calls_named(tree: ast.AST, name: str) -> list[ast.Call]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if called == name:
                found.append(node)
    return found


def test_no_condition_variable_and_one_thread_the_schedulers_loop() -> None:
    threads: list[tuple[str, str]] = []
    for path in sorted(CLOUD.glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert "Condition" not in names, f"{path.name} uses a condition variable"
        for call in calls_named(tree, "Thread"):
            target = next(ast.unparse(k.value) for k in call.keywords if k.arg == "target")
            threads.append((path.name, target))
        pools = [ast.unparse(c) for c in calls_named(tree, "ThreadPoolExecutor")]
        assert pools == ([] if path.name != "scheduler.py"
                         else ["ThreadPoolExecutor(SENDERS, 'cloud-send')"]), path.name
    assert threads == [("scheduler.py", "self._loop")]


def test_the_scheduler_waits_on_the_clock_port_only() -> None:
    source = (CLOUD / "scheduler.py").read_text()
    tree = ast.parse(source)
    waits = [ast.unparse(c.func) for c in calls_named(tree, "wait") + calls_named(tree, "sleep")]
    assert waits and all(w in ("self._clock.wait", "self._clock.sleep") for w in waits), waits
    assert "import time" not in source
