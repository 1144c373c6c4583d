"""The one "wait until" of the tests, the trials and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(pred: Callable[[], T | None], timeout: float = 15.0, what: str = "condition",
             diag: Callable[[], str] = str, interval: float = 0.05) -> T:
    """Polls `pred` until it returns something truthy, and returns that (never None, so a
    `pred` answering `X | None` gives an `X`). An exception counts as
    "not yet" (a server still starting); past `timeout` seconds an AssertionError names `what`,
    the last exception and `diag()` (logs worth reading)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last!r})"
                                 f"\n{diag()}")
        time.sleep(interval)
