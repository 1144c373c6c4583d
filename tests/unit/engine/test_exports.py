"""The leader's per-tick gauges: set when their value changes, not again every tick."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from failover import metrics
from failover.engine.exports import ViewExports
from tests.unit.engine.test_decide import view


def _up(group: str, instance: str) -> float | None:
    return metrics.REGISTRY.get_sample_value("failover_quorum_up",
                                             {"group": group, metrics.ECS_INSTANCE: instance})


def test_gauges_follow_the_view_and_are_set_only_on_change(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(name: str, real: Callable[..., None]) -> Callable[..., None]:
        def call(*a: object) -> None:
            calls.append(name)
            real(*a)
        return call

    for name in ("set_quorum_verdict", "set_blocked", "set_holder", "set_no_healthy_standby",
                 "set_served", "set_paused"):
        monkeypatch.setattr(metrics, name, counted(name, getattr(metrics, name)))
    exports = ViewExports()
    exports.export(view({"i-a": True, "i-b": True, "i-c": False}))
    exports.paused("web", None)
    assert _up("web", "i-c") == 0 and _up("web", "i-a") == 1
    first = len(calls)
    assert {"set_quorum_verdict", "set_blocked", "set_holder", "set_no_healthy_standby",
            "set_served", "set_paused"} <= set(calls)

    for _ in range(3):  # ticks with nothing new set nothing
        exports.export(view({"i-a": True, "i-b": True, "i-c": False}))
        exports.paused("web", None)
    assert len(calls) == first

    exports.export(view({"i-a": True, "i-b": True, "i-c": True}, holder="i-b"))
    exports.paused("web", 1_800_000_000.0)
    assert _up("web", "i-c") == 1
    assert metrics.REGISTRY.get_sample_value(
        "failover_eni_holder", {"group": "web", metrics.ECS_INSTANCE: "i-b"}) == 1
    assert metrics.REGISTRY.get_sample_value(
        "failover_group_paused_since_timestamp_seconds", {"group": "web"}) == 1.8e9
    assert calls[first:].count("set_quorum_verdict") == 1  # only i-c changed
