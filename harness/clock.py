"""The one fake clock of the tests: time moves only when a test moves it or something sleeps.

It is the `ports.Clock` (now, monotonic, sleep, wait) and, called, a `() -> float` for the parts
that take a bare time source (the emulator's state, the lease)."""

from __future__ import annotations

import threading


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self.slept: list[float] = []  # every sleep asked for, in order

    def __call__(self) -> float:
        return self.t

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """The pause passes at once in fake time (a loop under test never sleeps for real)."""
        if not stop.is_set():
            self.t += max(0.0, seconds)
        return stop.is_set()
