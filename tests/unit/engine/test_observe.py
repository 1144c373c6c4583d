"""The ENI observer with a fake of our cloud port: per-ENI states, failures, noted looks."""

from __future__ import annotations

from dataclasses import replace

from failover.config import GroupConfig, parse
from failover.engine.observe import EniObserver, interval_of
from failover.engine.view import EniSeen
from failover.model import CloudError, EniStatus, ErrorKind
from harness.clock import FakeClock
from tests.unit.engine.fakes import FakeCloud


def observer() -> tuple[EniObserver, FakeCloud, FakeClock]:
    cfg = parse({"cloud": {"region": "r"}, "groups": [
        {"name": f"g{i}", "network_interface": f"eni-{i}", "members": ["i-a", "i-b"],
         "checks": [{"type": "tcp", "port": 80}]} for i in range(3)]})
    cloud = FakeCloud({"eni-0": "i-a", "eni-1": None})  # eni-2 does not exist
    clock = FakeClock()
    return EniObserver(cfg.groups, cloud, clock), cloud, clock


def test_each_eni_has_its_own_state_and_a_failed_read_claims_nothing() -> None:
    obs, cloud, clock = observer()
    cloud.enis["eni-1"] = replace(cloud.enis["eni-1"], status=EniStatus.UNKNOWN)
    obs.refresh()
    seen = obs.seen()
    assert (seen["eni-0"].status, seen["eni-0"].instance) == (EniStatus.IN_USE, "i-a")
    assert seen["eni-1"].status is None and "does not know" in seen["eni-1"].error
    assert seen["eni-2"].status is None and "not found" in seen["eni-2"].error
    cloud.read_error = CloudError("throttled", kind=ErrorKind.RETRYABLE)
    clock.sleep(1)
    obs.refresh()
    assert all(s.status is None and "throttled" in s.error for s in obs.seen().values())


def test_a_noted_look_newer_than_the_last_read_stays() -> None:
    obs, cloud, clock = observer()
    obs.refresh()  # at t
    clock.sleep(1)
    obs.note("eni-0", EniSeen(EniStatus.IN_USE, "i-b", clock.monotonic()))
    assert obs.seen()["eni-0"].instance == "i-b"
    obs.note("eni-0", EniSeen(EniStatus.AVAILABLE, None, clock.monotonic() - 5))  # older: ignored
    assert obs.seen()["eni-0"].instance == "i-b"
    cloud.enis["eni-0"] = replace(cloud.enis["eni-0"], instance_id="i-b")
    clock.sleep(1)
    obs.refresh()  # a newer read replaces it
    assert obs.seen()["eni-0"].at == clock.monotonic()


def groups_of(n: int, interval_s: float = 1.0) -> list[GroupConfig]:
    return list(parse({"cloud": {"region": "r"}, "groups": [
        {"name": f"g{i}", "network_interface": f"eni-{i}", "members": ["i-a", "i-b"],
         "health": {"interval_s": interval_s}, "checks": [{"type": "tcp", "port": 80}]}
        for i in range(n)]}).groups)


def test_the_leaders_round_keeps_its_pages_within_a_tenth_of_the_limit() -> None:
    """One page (100 ENIs) a round: as often as the health round, at most once a second. At
    1,000 groups a round is 10 pages: at 20 calls/s it may come every 5 s, leaving a zone
    outage's failovers the rest of the action's limit."""
    assert interval_of(groups_of(100), 20.0) == 1.0
    assert interval_of(groups_of(100, interval_s=2.0), 20.0) == 2.0
    assert interval_of(groups_of(1000), 20.0) == 5.0
    assert interval_of(groups_of(1000), 100.0) == 1.0
    grown = EniObserver(groups_of(100), FakeCloud({}), FakeClock(), rate_per_s=20.0)
    grown.reconfigure(groups_of(1000))  # a reload with ten times the groups
    assert grown.interval_s == 5.0
