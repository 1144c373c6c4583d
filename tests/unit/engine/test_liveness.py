"""Liveness from the engine loop's age: a wedged tick fails /healthz, a failing one does not."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from failover import app
from failover.engine.actions import Action
from tests.unit.engine.test_loop import Rig


def _replica(rig: Rig, thread: threading.Thread) -> Any:
    return SimpleNamespace(engine=rig.engine, cfg=rig.cfg, _engine_thread=thread)


def test_a_wedged_tick_fails_liveness_and_a_failing_one_does_not() -> None:
    rig = Rig()
    wedge, entered, stop = threading.Event(), threading.Event(), threading.Event()
    calls = {"n": 0}

    def tick() -> list[Action]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("zookeeper down")  # a failing round still comes round
        entered.set()
        wedge.wait(30)
        return []

    rig.engine.tick = tick  # type: ignore[method-assign]  # patched for this test; the signature is still checked
    thread = threading.Thread(target=rig.engine.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        assert entered.wait(10)
        limit = rig.cfg.controller.liveness_max_tick_age_s
        assert app.Replica._liveness(_replica(rig, thread)) == (True, "")
        rig.clock.t += limit + 1  # the fake clock: the loop has been stuck that long
        alive, why = app.Replica._liveness(_replica(rig, thread))
        assert not alive and "engine loop stuck" in why
    finally:
        wedge.set()
        stop.set()
        thread.join(10)
    assert app.Replica._liveness(_replica(rig, thread)) == (False, "engine thread died")
