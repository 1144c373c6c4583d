"""A private asyncio loop on a daemon thread, where every probe runs.

Blocking callers (the scheduler's job, the engine's verify) hand it a
coroutine and wait with a deadline of their own as a last line of defence.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class ProbeLoop:
    def __init__(self, name: str = "health-probes") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run on the loop and wait; raises TimeoutError after `timeout_s` (and cancels)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("ProbeLoop.run: the loop is not started")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"probe round did not finish within {timeout_s:.1f}s") from None

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        self._loop = self._thread = None
