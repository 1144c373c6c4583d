"""The monitor on a real APScheduler against real loopback sockets.

Asserts on round counts, never on timings: the server is stopped from inside
a round (in the verdict sink), so the rounds that follow are countable.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from failover import metrics
from failover.config import GroupConfig
from failover.health.monitor import HealthMonitor, RoundReport
from failover.records import Observation
from harness.waiting import wait_for
from tests.integration.health.servers import TcpListener

FALL, RISE = 3, 2



def up_members(m: HealthMonitor, group: str) -> tuple[str, ...]:
    """The members this replica's monitor sees up, in config order."""
    return tuple(i for i, v in m.verdicts().get(group, {}).items() if v.up is True)


def pair_of_listeners() -> tuple[TcpListener, TcpListener]:
    for _ in range(20):
        a = TcpListener("127.0.0.21", 0)
        try:
            return a, TcpListener("127.0.0.22", a.port)
        except OSError:
            a.close()
    raise RuntimeError("no common free port on 127.0.0.21/22")


def group(port: int, **health: Any) -> GroupConfig:
    return GroupConfig.model_validate({
        "name": "web", "network_interface": "eni-web", "members": ["i-a", "i-b"],
        "checks": [{"type": "tcp", "port": port}],
        "health": {"interval_s": 0.2, "timeout_s": 0.1, "fall": FALL, "rise": RISE, "jitter_s": 0.02,
                   **health},
    })


@pytest.fixture
def listeners() -> Iterator[tuple[TcpListener, TcpListener]]:
    a, b = pair_of_listeners()
    yield a, b
    a.close()
    b.close()


def test_verdict_flips_after_exactly_fall_rounds(listeners: tuple[TcpListener, TcpListener]) -> None:
    a, _b = listeners
    seen: list[tuple[int, Observation]] = []
    holder: dict[str, HealthMonitor] = {}

    def sink(obs: Observation) -> None:
        rnd = holder["m"].rounds_run  # 0-based index of the round being folded
        seen.append((rnd, obs))
        if obs.instance == "i-a" and obs.up and not any(o.instance == "i-a" for _, o in seen[:-1]):
            a.close()  # stops answering between this round and the next

    m = HealthMonitor([group(a.port)], controller_id="ctl-1", sink=sink,
                      addresses=lambda: {"i-a": "127.0.0.21", "i-b": "127.0.0.22"})
    holder["m"] = m
    m.start()
    try:
        assert wait_for(lambda: any(o.instance == "i-a" and not o.up for _, o in seen), 15)
    finally:
        m.stop()
    a_obs = [(r, o.up) for r, o in seen if o.instance == "i-a"]
    up_round = a_obs[0][0]
    assert a_obs[0] == (RISE - 1, True)  # unknown until `rise` successes
    down_round = next(r for r, up in a_obs if not up)
    assert down_round - up_round == FALL
    assert all(up for r, up in a_obs if r < down_round)
    down = next(o for _, o in seen if o.instance == "i-a" and not o.up)
    assert down.reason == f"0:tcp:{a.port}: refused"
    assert all(o.up for _, o in seen if o.instance == "i-b")  # the standby is probed and up
    assert up_members(m, "web") == ("i-b",)
    assert metrics.REGISTRY.get_sample_value("failover_health_up", {"group": "web", "ecs_instance": "i-a"}) == 0
    assert metrics.REGISTRY.get_sample_value("failover_health_up", {"group": "web", "ecs_instance": "i-b"}) == 1


def test_a_slow_round_is_never_stacked() -> None:
    # A round takes ~0.4 s at an interval of 0.1 s: fires that come meanwhile are dropped.
    g = GroupConfig.model_validate({
        "name": "slow", "network_interface": "eni-slow", "members": ["i-a", "i-b"],
        "checks": [{"type": "command", "run": "sleep 0.4", "timeout_s": 2}],
        "health": {"interval_s": 0.1, "timeout_s": 0.05, "fall": 1, "rise": 1},
    })
    reports: list[RoundReport] = []
    done = threading.Event()

    def on_round(r: RoundReport) -> None:
        reports.append(r)
        if len(reports) >= 4:
            done.set()

    before = metrics.REGISTRY.get_sample_value("failover_health_rounds_missed_total") or 0.0
    m = HealthMonitor([g], controller_id="c", sink=lambda _: None, addresses=dict, on_round=on_round)
    m.start()
    try:
        assert done.wait(15)
    finally:
        m.stop()
    spans = sorted((r.started_at, r.finished_at) for r in reports)
    assert all(nxt[0] >= prev[1] for prev, nxt in itertools.pairwise(spans))
    assert m.rounds_missed >= 3  # at least one skipped fire per extra round
    after = metrics.REGISTRY.get_sample_value("failover_health_rounds_missed_total") or 0.0
    assert after - before == m.rounds_missed
    assert sum(r.missed_before for r in reports) <= m.rounds_missed
    assert all(r.scheduled_at is not None and r.started_at >= r.scheduled_at - 0.01 for r in reports)
    assert up_members(m, "slow") == ("i-a", "i-b")


def test_stop_with_nothing_started_is_harmless() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = HealthMonitor([group(port)], controller_id="c", sink=lambda _: None, addresses=dict)
    m.stop()
    assert m.rounds_run == 0
