"""Member addresses: read a page at a time, each page kept as it comes, never blocking a round."""

from __future__ import annotations

from collections.abc import Sequence

from failover.health.addresses import PAGE, MemberAddresses
from failover.model import CloudError, ErrorKind, InstanceInfo, Priority
from harness.clock import FakeClock


class PagedCloud:
    """describe_instances answers page by page; pages listed in `failing` raise."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.failing: set[str] = set()  # first instance of a failing page

    def describe_instances(self, instance_ids: Sequence[str], *, priority: Priority = Priority.ROUTINE,
                           trace: object = None) -> dict[str, InstanceInfo]:
        self.calls.append(len(instance_ids))
        if instance_ids[0] in self.failing:
            raise CloudError("local API budget exhausted", kind=ErrorKind.RETRYABLE, code="BudgetExhausted")
        return {i: InstanceInfo(i, "Running", f"10.0.{int(i[2:]) // 250}.{int(i[2:]) % 250}", "z1",
                                "vpc-a", "vsw-a", "ecs.g7") for i in instance_ids}


def members(n: int) -> list[str]:
    return [f"i-{k}" for k in range(n)]


def test_pages_are_kept_as_they_come_and_a_failed_page_does_not_lose_the_others() -> None:
    cloud = PagedCloud()
    cloud.failing = {f"i-{PAGE}"}  # the second page of three
    addrs = MemberAddresses(cloud, members(2 * PAGE + 50), FakeClock(), retry_s=1.0)
    assert addrs.get() == {}  # nothing read yet, and asking does not read
    assert cloud.calls == []
    wait = addrs.read_due()
    assert cloud.calls == [PAGE, PAGE, 50]  # pages, never one call for all, never one per member
    assert len(addrs.get()) == PAGE + 50 and "i-0" in addrs.get() and f"i-{PAGE}" not in addrs.get()
    assert wait == 1.0 and not addrs.complete.is_set()
    cloud.failing.clear()
    addrs.read_due()
    assert cloud.calls[3:] == [PAGE]  # only the missing page is read again
    assert len(addrs.get()) == 2 * PAGE + 50 and addrs.complete.is_set()


def test_every_page_is_read_again_after_the_refresh_interval() -> None:
    cloud = PagedCloud()
    clock = FakeClock()
    addrs = MemberAddresses(cloud, members(150), clock, refresh_s=60.0)
    assert addrs.read_due() == 60.0
    first = addrs.get()
    clock.t += 30
    addrs.read_due()
    assert len(cloud.calls) == 2  # nothing due yet
    clock.t += 31
    addrs.read_due()
    assert len(cloud.calls) == 4
    assert addrs.get() == first
