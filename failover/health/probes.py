"""The probes (I/O): tcp connect, http(s) GET, command, and a batched ecs_status.

All run on one asyncio loop rather than a thread pool. On loopback with
healthy endpoints the two cost about the same, but when endpoints hang (a
blackholed primary, a partitioned replica) a pool serialises the timeouts:
measured with 2,000 hanging endpoints, 64 threads needed 16 s per round and
1,000 threads 1.2 s, the loop 0.55 s (benchmarks/results/health.json). Every
probe has a hard deadline (a timer, or `asyncio.wait_for`) covering
connect, TLS, request and response together, so none outlives its timeout.
A result of None means "no evidence this round" (the cloud API
did not answer): the check's hysteresis state is left as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import logging
import os
import signal
import socket
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from failover.health.batch import RawBatch
from failover.health.http_probe import http_probe, raw_http_plan
from failover.health.plan import CommandTarget, EcsTarget, HttpTarget, ProbeSpec, TcpTarget
from failover.health.reasons import reason_of
from failover.model import ProbeOutcome

log = logging.getLogger(__name__)

# Close with RST: a health checker connecting to thousands of endpoints per
# second would otherwise pile up sockets in TIME_WAIT (HAProxy does the same).
_LINGER_RST = struct.pack("ii", 1, 0)

StatusFetcher = Callable[[Sequence[str]], Mapping[str, str]]


@dataclass(frozen=True)
class ProbeResult:
    spec: ProbeSpec
    outcome: ProbeOutcome | None  # None: no evidence this round
    started_at: float  # wall clock, to measure lag against the scheduled time


def start_tcp(
    loop: asyncio.AbstractEventLoop, target: TcpTarget, timeout_s: float
) -> asyncio.Future[ProbeOutcome]:
    """Begin a non-blocking connect; the future always resolves to an outcome.

    Callbacks and one timer instead of a Task per probe: a round of
    thousands of probes then costs little more than the system calls.
    """
    t0 = time.monotonic()
    fut: asyncio.Future[ProbeOutcome] = loop.create_future()
    family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    fd = sock.fileno()

    def finish(ok: bool, reason: str) -> None:
        if not fut.done():
            fut.set_result(ProbeOutcome(ok, reason, time.monotonic() - t0))

    def writable() -> None:
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        finish(err == 0, "" if err == 0 else reason_of(OSError(err, os.strerror(err))))

    timer = loop.call_later(timeout_s, finish, False, "timeout")
    watching = False

    def cleanup(_: object) -> None:  # also runs when the round is cancelled
        timer.cancel()
        if watching:
            loop.remove_writer(fd)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        sock.close()

    fut.add_done_callback(cleanup)
    err = sock.connect_ex((target.host, target.port))
    if err == 0:
        finish(True, "")
    elif err == errno.EINPROGRESS:
        loop.add_writer(fd, writable)
        watching = True
    else:
        finish(False, reason_of(OSError(err, os.strerror(err))))
    return fut


async def tcp_probe(target: TcpTarget, timeout_s: float) -> ProbeOutcome:
    if not _is_ip(target.host):  # connect_ex would resolve a name synchronously
        return await _tcp_by_name(target, timeout_s)
    return await start_tcp(asyncio.get_running_loop(), target, timeout_s)


@functools.lru_cache(maxsize=65536)
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _tcp_by_name(target: TcpTarget, timeout_s: float) -> ProbeOutcome:
    t0 = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), timeout_s)
    except OSError as e:  # TimeoutError is an OSError
        return ProbeOutcome(False, reason_of(e), time.monotonic() - t0)
    writer.transport.abort()
    return ProbeOutcome(True, "", time.monotonic() - t0)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def command_probe(target: CommandTarget, timeout_s: float) -> ProbeOutcome:
    """Exit 0 = up. Runs in its own session so a timeout kills its whole tree."""
    t0 = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *target.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except FileNotFoundError:
        return ProbeOutcome(False, "not found", time.monotonic() - t0)
    except PermissionError:
        return ProbeOutcome(False, "not executable", time.monotonic() - t0)
    try:
        code = await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return ProbeOutcome(False, "timeout", time.monotonic() - t0)
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        raise
    if code == 0:
        return ProbeOutcome(True, "", time.monotonic() - t0)
    reason = f"signal {-code}" if code < 0 else f"exit {code}"
    return ProbeOutcome(False, reason, time.monotonic() - t0)


GOING = frozenset({"Stopping", "Stopped"})


def ecs_outcome(statuses: Mapping[str, str] | None, instance: str) -> ProbeOutcome | None:
    """Pure: the instance must be Running. No answer from the cloud: no evidence. Stopping or
    Stopped is the cloud's word that it is going: definitive, not one failure of `fall`. Not
    listed is not (a paging or consistency gap must not fail a group over at once)."""
    if statuses is None:
        return None
    status = statuses.get(instance)
    if status is None:
        return ProbeOutcome(False, "not found")
    if status == "Running":
        return ProbeOutcome(True)
    return ProbeOutcome(False, status.lower(), definitive=status in GOING)


async def run_probe(spec: ProbeSpec) -> ProbeOutcome:
    """One probe of any kind but ecs_status (which is batched per round)."""
    t0 = time.monotonic()
    try:
        if isinstance(spec.target, TcpTarget):
            return await tcp_probe(spec.target, spec.timeout_s)
        if isinstance(spec.target, HttpTarget):
            return await http_probe(spec.target, spec.timeout_s)
        if isinstance(spec.target, CommandTarget):
            return await command_probe(spec.target, spec.timeout_s)
    except Exception:  # a probe bug must not take the round down
        log.exception("probe failed unexpectedly", extra={"group": spec.group, "check": spec.key})
        return ProbeOutcome(False, "error", time.monotonic() - t0)
    raise TypeError(f"run_probe: unsupported target {spec.target!r}")


async def _fetch_statuses(
    fetch: StatusFetcher, instances: Sequence[str], timeout_s: float
) -> Mapping[str, str] | None:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.run_in_executor(None, fetch, list(instances)), timeout_s)
    except Exception as e:  # the cloud's failure is no evidence about the member
        log.warning("instance status round failed: %s", e.__class__.__name__)
        return None


async def probe_all(
    specs: Sequence[ProbeSpec], fetch: StatusFetcher | None,
    finished: list[ProbeResult] | None = None,
) -> list[ProbeResult]:
    """Run a round: all probes at once, ecs_status as one batched call.

    `finished`, when given, receives each result as its probe completes, so a caller whose
    wait for the whole round ran out still has the probes that did finish (the others are
    no evidence this round, never failures: a starved replica never ran them)."""
    ecs = [s for s in specs if isinstance(s.target, EcsTarget)]
    direct = [s for s in specs if not isinstance(s.target, EcsTarget)]
    status_task = None
    ecs_started = time.time()
    if ecs and fetch is not None:
        ids = list(dict.fromkeys(s.instance for s in ecs))
        status_task = asyncio.ensure_future(
            _fetch_statuses(fetch, ids, max(s.timeout_s for s in ecs))
        )

    loop = asyncio.get_running_loop()
    starts: list[float] = []
    outcomes: list[ProbeOutcome | None] = [None] * len(direct)

    def done(i: int, outcome: ProbeOutcome) -> None:
        outcomes[i] = outcome
        if finished is not None:
            finished.append(ProbeResult(direct[i], outcome, starts[i]))

    # tcp and plain http to an IP on one epoll set; anything else (names, https, commands)
    # as a task of its own.
    batch = RawBatch(loop, done)
    tasks: list[asyncio.Task[None]] = []
    try:
        for i, spec in enumerate(direct):
            starts.append(time.time())
            t = spec.target
            if isinstance(t, TcpTarget) and _is_ip(t.host):
                batch.tcp(i, t.host, t.port, spec.timeout_s)
            elif isinstance(t, HttpTarget) and (raw := raw_http_plan(t.url)) is not None:
                batch.http(i, raw[0], raw[1], raw[2], spec.timeout_s, t.expect_status,
                           t.body_contains)
            else:
                tasks.append(asyncio.ensure_future(_one(spec, i, done)))
        batch.seal()
        await batch.done
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        raise
    finally:
        batch.close()
    results = [ProbeResult(s, o, t) for s, o, t in zip(direct, outcomes, starts, strict=True)]
    statuses = await status_task if status_task is not None else None
    ecs_results = [ProbeResult(s, ecs_outcome(statuses, s.instance), ecs_started) for s in ecs]
    if finished is not None:
        finished.extend(ecs_results)
    results.extend(ecs_results)
    return results


async def _one(spec: ProbeSpec, index: int, done: Callable[[int, ProbeOutcome], None]) -> None:
    done(index, await run_probe(spec))
