"""`Recent`: a read kept for its max age, forgotten on a write through the same object."""

from __future__ import annotations

import pytest

from failover.coordination.recent import Recent


class Source:
    def __init__(self) -> None:
        self.value, self.reads, self.now = 1, 0, 0.0

    def read(self) -> int:
        self.reads += 1
        return self.value


def test_an_answer_is_kept_for_its_max_age_then_read_again() -> None:
    src = Source()
    recent = Recent(src.read, max_age_s=0.25, monotonic=lambda: src.now)
    assert recent.get() == 1
    src.value, src.now = 2, 0.2
    assert (recent.get(), src.reads) == (1, 1)  # within its age: no read, the old answer
    src.now = 0.25
    assert (recent.get(), src.reads) == (2, 2)  # aged: read again


def test_forget_makes_the_next_get_read_and_a_read_forgotten_meanwhile_is_not_kept() -> None:
    src = Source()
    recent: Recent[int] = Recent(src.read, max_age_s=10.0, monotonic=lambda: src.now)
    recent.get()
    src.value = 2
    recent.forget()  # a write through this process
    assert recent.get() == 2

    def read_then_written() -> int:
        value = src.read()
        racing.forget()  # a write landed while this read was out: its answer may be old
        return value

    racing: Recent[int] = Recent(read_then_written, max_age_s=10.0, monotonic=lambda: src.now)
    racing.get()
    racing.get()
    assert src.reads == 4  # the raced answer was not kept: read again


def test_a_failed_read_keeps_nothing() -> None:
    calls = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("ZooKeeper unavailable")
        return 5

    recent = Recent(flaky, max_age_s=10.0, monotonic=lambda: 0.0)
    with pytest.raises(RuntimeError):
        recent.get()
    assert recent.get() == 5
