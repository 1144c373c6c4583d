"""A round that overruns its deadline on the real probe loop keeps what finished (issue 23b).

A tcp probe against a real listener finishes at once; a command probe (`sleep`) is still
running when the caller's deadline passes. The caller gets TimeoutError, the finished list
holds the tcp result (the monitor folds it; the rest is no evidence), and the command's process is killed with the cancelled round."""

from __future__ import annotations

import asyncio

import pytest

from failover.health.loop import ProbeLoop
from failover.health.plan import CommandTarget, ProbeSpec, TcpTarget
from failover.health.probes import ProbeResult, probe_all
from tests.integration.health.servers import TcpListener


async def settled() -> None:
    """Until every other task on the loop is done: the cancelled round has cleaned up."""
    while len(asyncio.all_tasks()) > 1:
        await asyncio.sleep(0.01)


def test_an_overrun_round_keeps_the_probes_that_finished() -> None:
    listener = TcpListener()
    fast = ProbeSpec("a", "i-1", "0:tcp", "tcp", 2.0, TcpTarget(listener.host, listener.port))
    slow = ProbeSpec("a", "i-2", "1:command", "command", 10.0, CommandTarget(("sleep", "10")))
    loop = ProbeLoop("test-overrun")
    loop.start()
    finished: list[ProbeResult] = []
    try:
        with pytest.raises(TimeoutError):
            loop.run(probe_all([fast, slow], None, finished), 0.5)
        loop.run(settled(), 5.0)  # the command probe is killed with its round, not left behind
    finally:
        loop.stop()
        listener.close()
    assert [(r.spec.instance, r.outcome is not None and r.outcome.ok) for r in finished] == [("i-1", True)]
