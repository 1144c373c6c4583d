"""A member DescribeInstances no longer lists: its `{ip}` checks fail each round (no address
to probe is evidence once the cloud says the instance is gone), so it turns down after
`fall` rounds instead of keeping its last "up" vote forever."""

from __future__ import annotations

import socket

from failover.config import GroupConfig
from failover.health.monitor import HealthMonitor
from failover.records import Observation


def test_a_member_no_longer_listed_turns_down_after_fall_rounds() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    g = GroupConfig.model_validate({
        "name": "a", "network_interface": "eni-a", "members": ["i-1", "i-2"],
        "checks": [{"type": "tcp", "port": port}], "health": {"fall": 3, "rise": 1},
    })
    addresses = {"i-1": "127.0.0.1", "i-2": "127.0.0.1"}
    gone: set[str] = set()
    seen: list[Observation] = []
    m = HealthMonitor([g], controller_id="c", addresses=lambda: addresses, sink=seen.append,
                      missing=lambda: gone)
    m.start(scheduled=False)
    try:
        (job,) = m.job_ids
        m.run_round(job)
        assert m.member_up("a", "i-2") is True
        del addresses["i-2"]  # released: the address refresh no longer lists it
        m.run_round(job)
        assert m.member_up("a", "i-2") is True  # unknown whether gone: no evidence yet
        gone.add("i-2")  # DescribeInstances answered without it
        m.run_round(job)
        m.run_round(job)
        assert m.member_up("a", "i-2") is True  # 2 of fall=3
        m.run_round(job)
        assert m.member_up("a", "i-2") is False
        assert m.member_up("a", "i-1") is True
        assert [o.up for o in seen if o.instance == "i-2"][-1] is False
    finally:
        m.stop()
        srv.close()


def test_the_serving_signal_probes_the_service_ips_on_the_holder_and_votes_for_it() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    g = GroupConfig.model_validate({
        "name": "a", "network_interface": "eni-a", "members": ["i-1", "i-2"],
        "service_ips": ["127.0.0.1"],
        "checks": [{"type": "tcp", "port": port}, {"type": "ecs_status"}],
        "health": {"fall": 2, "rise": 1},
    })
    holders: dict[str, tuple[str, tuple[str, ...]] | None] = {"a": ("i-1", ("127.0.0.9",))}
    seen: list[Observation] = []
    m = HealthMonitor([g], controller_id="c", addresses=lambda: {"i-1": "127.0.0.2", "i-2": "127.0.0.3"},
                      sink=seen.append, holders=lambda: holders)
    m.start(scheduled=False)
    try:
        probes = next(j for j in m.job_ids if not j.endswith(":ecs"))
        m.run_round(probes)
        assert [o.up for o in seen if o.instance == "serving@i-1"] == [True]
        srv.close()  # the service stops answering on its service IP
        m.run_round(probes)
        m.run_round(probes)
        votes = [o for o in seen if o.instance == "serving@i-1"]
        assert votes[-1].up is False and "refused" in votes[-1].reason
        holders["a"] = None  # the ENI is Available: nothing to probe, no vote
        before = len(seen)
        m.run_round(probes)
        assert not [o for o in seen[before:] if o.instance.startswith("serving@")]
    finally:
        m.stop()
        srv.close()


def test_without_service_ips_the_serving_signal_probes_the_enis_own_ips() -> None:
    from failover.health.plan import TcpTarget, plan_serving

    g = GroupConfig.model_validate({
        "name": "a", "network_interface": "eni-a", "members": ["i-1", "i-2"],
        "checks": [{"type": "tcp", "port": 80}, {"type": "ecs_status"}],
    })
    specs = plan_serving([g], {"a": ("i-2", ("10.0.0.5", "10.0.0.6"))})
    assert [(s.instance, s.target) for s in specs] == [
        ("serving@i-2", TcpTarget("10.0.0.5", 80)), ("serving@i-2", TcpTarget("10.0.0.6", 80))]
    named = g.model_copy(update={"service_ips": ["10.0.0.6"]})
    assert [s.target for s in plan_serving([named], {"a": ("i-2", ("10.0.0.5", "10.0.0.6"))})] == [
        TcpTarget("10.0.0.6", 80)]
    assert plan_serving([g], {"a": None}) == []
