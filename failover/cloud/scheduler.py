"""The one scheduler of the process's cloud waits: a single loop over every move as data.

    run(move) -> inbox -> loop (one thread: owns every wait and the order calls are booked in)
                            | due looks of a target -> one describe per round (`looks`), the
                            |   looks not yet due riding along; due calls -> failover first
                            v
                  senders (a fixed pool: the SDK blocks) -> answers -> inbox -> the move's
                  transition (`transitions`, `moves`) -> its next look, or the caller's Future

A zone outage starts a hundred waits at once; polling each ENI alone would want hundreds of
describes a second where the account allows about ten per action. Rounds of a target never
overlap and start at most one per `round_gap_s`, with a burst of `ROUNDS_AT_ONCE` (a read and a
wait's first look at once are never held back). The fencing guard runs in the sender after the
budget slot, right before the request is sent (`calls.Caller.once`), and reads no cloud (see
`transitions.Command`). The loop waits on the clock port only; with a fake clock (tests) calls
run on the loop's thread, so one thread moves fake time. It ends with the last wait.
"""

from __future__ import annotations

import heapq
import logging
import math
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from failover.cloud import errors
from failover.cloud.budget import ApiBudget, BudgetExhausted
from failover.cloud.calls import Caller
from failover.cloud.looks import ACTION, BATCH, INVOCATION_READS, RunTimes, read
from failover.cloud.moves import Attach, Detach
from failover.cloud.sdk import ApiError, Reply
from failover.cloud.transitions import (
    Command,
    Decision,
    Done,
    EniRead,
    Fail,
    Invocation,
    Issue,
    Look,
    Sent,
    Start,
    Stop,
    Target,
    not_found,
)
from failover.cloud.waiting import MIN_CALL_S, Deadline, retry_delay
from failover.model import CallTrace, CloudError, ErrorKind, Priority
from failover.ports import Clock

log = logging.getLogger("failover.cloud")

Move = EniRead | Detach | Attach | Stop | Start | Command
ROUNDS_AT_ONCE = 2.0
SENDERS = 32  # calls in flight at once (a zone outage: ~5 actions at the budget's rate)
IDLE_S = 1.0  # the longest pause while waits are under way (answers wake the loop sooner)
# A sender takes a booked call this long before its slot and sleeps the rest itself: a late
# hand-off (a busy turn, a thread waking) would make the call late, and the next slot's too.
HANDOFF_S = 0.05
# The threads calls are sent on (the SDK blocks): one fixed pool for the process, whichever
# adapter (or test) sends; it starts its threads only when calls come.
_SENDERS = ThreadPoolExecutor(SENDERS, "cloud-send")


@dataclass(eq=False)
class Wait:
    """One move under way: its state, its next decision, and who awaits it."""

    move: Any  # a `Move`; typed loosely: each kind names its key (eni_id, instance_id)
    decision: Decision
    trace: CallTrace | None
    future: Future[Any] = field(default_factory=Future)
    busy: bool = False  # a call of it (a look or its own) is in flight
    read_error: CloudError | None = None  # the last look's retryable failure
    attempts: int = 0  # a command's retryable refusals in a row (its back-off grows)

    @property
    def at(self) -> float:
        return self.decision.at if isinstance(self.decision, Look | Issue) else -math.inf

    @property
    def target(self) -> Target | None:
        return self.decision.target if isinstance(self.decision, Look) else None

    def later(self, at: float) -> None:
        d = self.decision
        self.decision = Look(at, d.target) if isinstance(d, Look) else self.move.call_at(at)

    def key(self) -> str:
        return str(self.move.eni_id if self.target is Target.ENI else self.move.instance_id)


class Scheduler:
    def __init__(self, caller: Caller, budget: ApiBudget, clock: Clock, *, round_gap_s: float,
                 inline: bool = False) -> None:
        self._caller = caller
        self._budget = budget
        self._clock = clock
        self._gap_s = round_gap_s
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._running = False
        self._start_lock = threading.Lock()
        self._pool = None if inline else _SENDERS
        # Everything below is the loop thread's alone.
        self._waits: list[Wait] = []
        self._credit = dict.fromkeys(Target, ROUNDS_AT_ONCE)
        self._credit_at = dict.fromkeys(Target, clock.monotonic())
        self._not_before = dict.fromkeys(Target, 0.0)  # a shared back-off after a failed round
        self._failures = dict.fromkeys(Target, 0)
        self._in_round: set[Target] = set()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []  # calls awaiting their slot
        self._count = 0
        self.run_times = RunTimes()

    def run(self, move: Move, first: Decision, trace: CallTrace | None) -> Any:
        """Submits a move with its first decision and waits for its outcome (raised if Fail)."""
        got = self.run_all([(move, first)], trace)[0]
        if isinstance(got, BaseException):
            raise got
        return got

    def run_all(self, moves: Sequence[tuple[Move, Decision]], trace: CallTrace | None) -> list[Any]:
        """Several moves at once (all join the same rounds): each one's value or error."""
        waits = [Wait(move, first, trace) for move, first in moves]

        def admit() -> None:
            for w in waits:
                self._admit(w)

        self._post(admit)
        return [w.future.exception() or w.future.result() for w in waits]

    def _post(self, event: Callable[[], None]) -> None:
        self._inbox.put(event)
        self._wake.set()
        with self._start_lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="cloud-scheduler", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self._wake.clear()
            while not self._inbox.empty():
                self._inbox.get_nowait()()
            with self._start_lock:
                if not self._waits and not self._timers and self._inbox.empty():
                    self._running = False
                    return
            try:
                pause = self._turn(self._clock.monotonic())
            except Exception as e:  # a bug here must not strand every caller
                log.exception("cloud scheduler failed")
                for w in list(self._waits):
                    self._finish(w, Fail(CloudError(f"cloud scheduler failed: {e!r}",
                                                    kind=ErrorKind.FATAL, code=errors.UNEXPECTED)))
                continue
            if pause > 0 and self._inbox.empty():
                self._clock.wait(self._wake, pause)

    def _turn(self, now: float) -> float:
        """Expire, send, look; the seconds until something is due."""
        while self._timers and self._timers[0][0] - HANDOFF_S <= now:
            self._submit(heapq.heappop(self._timers)[2])
        for w in [w for w in self._waits if now >= w.move.deadline - MIN_CALL_S
                  and not (w.busy and isinstance(w.decision, Issue))]:  # a sent call is awaited
            error = w.read_error if isinstance(w.move, EniRead) else None
            self._finish(w, Fail(error or w.move.expired()))
        idle = [w for w in self._waits if not w.busy]
        for w in sorted((w for w in idle if isinstance(w.decision, Issue) and w.at <= now),
                        key=lambda w: (w.move.priority is not Priority.FAILOVER, w.at)):
            self._issue(w, now)
        for target in Target:
            looking = [w for w in idle if w.target is target and not w.busy]
            if any(w.at <= now for w in looking):
                self._round(target, looking, now)
        if not self._waits and not self._timers:
            return 0.0  # the loop ends
        nxt = min([now + IDLE_S] + [t - HANDOFF_S for t, _, _ in self._timers[:1]])
        for w in self._waits:
            if w.busy and isinstance(w.decision, Issue):
                continue  # its call's answer wakes the loop (the call is bounded by the deadline)
            nxt = min(nxt, w.move.deadline - MIN_CALL_S)
            if not w.busy:
                nxt = min(nxt, w.at if w.target is None else max(w.at, now + self._gate_in(w.target, now)))
        return max(0.0, nxt - now)

    def _admit(self, w: Wait) -> None:
        if isinstance(w.move, Command) and w.move.priority is Priority.FAILOVER:
            waits = sum(isinstance(x.move, Command) for x in self._waits) + 1
            aim = self.run_times.aim(self._clock.monotonic(), waits=waits,
                                     looks_per_s=1.0 / w.move.plan.dense_s,
                                     capacity_per_s=len(INVOCATION_READS) * self._budget.rate_per_s)
            w.move = replace(w.move, aim=aim)
        self._waits.append(w)
        self._settle(w, w.decision)

    def _settle(self, w: Wait, decision: Decision) -> None:
        w.decision = decision
        if isinstance(decision, Done | Fail):
            self._finish(w, decision)

    def _finish(self, w: Wait, end: Done | Fail) -> None:
        if w in self._waits:
            self._waits.remove(w)
        if w.future.done():
            return
        if isinstance(end, Fail):
            w.future.set_exception(end.error)
        else:
            w.future.set_result(end.value)

    # -------------------------------------------------------------- budgeting

    def _slot(self, w: Wait | None, action: str, priority: Priority, deadline: float,
              now: float) -> float | None:
        """Seconds until this call's slot (booked); None: none in time (a routine call books
        nothing while the window is full)."""
        last = w.move.last_error if w is not None else None
        if last is not None and last.kept_slot is not None:
            # Refused for flow control (the gateway did not count it): the retry takes its slot.
            self._budget.requeue(action, last.kept_slot)
            last.kept_slot = None
            return 0.0
        return self._budget.claim(action, priority, max(0.0, deadline - now))

    def _later(self, waits: list[Wait], action: str, priority: Priority, now: float) -> None:
        """No slot now: the waits look (or send) again when one would come."""
        retry_in = max(0.01, self._budget.next_in(action, priority))
        for w in waits:
            w.read_error = BudgetExhausted(f"{action}: local API budget exhausted for "
                                           f"{priority.name.lower()} calls", action=action,
                                           retry_in_s=retry_in)
            w.later(now + retry_in)

    def _send(self, delay: float, job: Callable[[], Any], done: Callable[[Any, float], None]) -> None:
        """Runs `job` on a sender at its slot (`delay` s from now), then `done(result, when it
        came)` on the loop. Until shortly before its slot a call holds no sender."""
        slot_at = self._clock.monotonic() + delay

        def call() -> None:
            self._clock.sleep(slot_at - self._clock.monotonic())
            try:
                result = job()
            except Exception as e:  # handed to the loop, which decides
                result = e
            at = self._clock.monotonic()
            self._post(lambda: done(result, at))

        if self._pool is not None and delay > HANDOFF_S:
            self._count += 1
            heapq.heappush(self._timers, (slot_at, self._count, call))
        else:
            self._submit(call)  # a fake clock: on the loop's thread, which moves time

    def _submit(self, call: Callable[[], None]) -> None:
        if self._pool is None:
            call()
        else:
            self._pool.submit(call)

    # ------------------------------------------------------------ a move's call

    def _issue(self, w: Wait, now: float) -> None:
        m = w.move
        slot = self._slot(w, m.action, m.priority, m.deadline, now)
        if slot is None:
            self._later([w], m.action, m.priority, now)
            return
        w.busy = True
        deadline = Deadline(self._clock, m.deadline, m.timeout_s)

        def job() -> Reply:
            return self._caller.once(m.action, m.params(), priority=m.priority, deadline=deadline,
                                     trace=w.trace, mutation=True, paid=True)

        self._send(slot, job, lambda r, at: self._sent(w, r, at))

    def _sent(self, w: Wait, reply: Reply | Exception, now: float) -> None:
        w.busy = False
        if isinstance(reply, ApiError):
            retry = self._caller.backoff(reply, w.attempts if isinstance(w.move, Command) else 0)
            w.attempts += 1
            outcome = Sent(reply, retry_in=retry)
        elif isinstance(reply, Exception):  # the fencing guard's NotLeader, among others
            self._settle(w, Fail(reply))
            return
        else:
            w.attempts = 0
            outcome = Sent(body=reply.body)
        w.move, decision = w.move.sent(outcome, now)
        self._settle(w, decision)

    # ----------------------------------------------------------------- rounds

    def _gate_in(self, target: Target, now: float) -> float:
        """Seconds until a round of `target` may start (an invocation's look is its own)."""
        if target in self._in_round:
            return math.inf
        if target is Target.INVOCATION:
            return 0.0
        gained = (now - self._credit_at[target]) / self._gap_s if self._gap_s > 0 else math.inf
        self._credit[target] = min(ROUNDS_AT_ONCE, self._credit[target] + gained)
        self._credit_at[target] = now
        short = 0.0 if self._credit[target] >= 1.0 else (1.0 - self._credit[target]) * self._gap_s
        return max(short, self._not_before[target] - now, 0.0)

    def _round(self, target: Target, looking: list[Wait], now: float) -> None:
        if target is Target.INVOCATION:
            for w in looking:
                if w.at <= now:
                    self._start(target, [w], now)
            return
        if self._gate_in(target, now) > 0:
            return
        ids: set[str] = set()
        batch: list[Wait] = []
        # Moves' looks before a sweep's reads (no one's step), the due first; the rest ride along.
        for w in sorted(looking, key=lambda w: (isinstance(w.move, EniRead) and w.move.sweep, w.at)):
            if w.key() in ids or len(ids) < BATCH[target]:
                ids.add(w.key())
                batch.append(w)
        self._start(target, batch, now)

    def _start(self, target: Target, batch: list[Wait], now: float) -> None:
        failover = any(w.move.priority is Priority.FAILOVER for w in batch)
        priority = Priority.FAILOVER if failover else Priority.ROUTINE
        action = (self._budget.quickest(INVOCATION_READS) if target is Target.INVOCATION
                  else ACTION[target])
        deadline = max(w.move.deadline for w in batch)
        slot = self._slot(None, action, priority, deadline, now)
        if slot is None:
            self._later([w for w in batch if w.at <= now], action, priority, now)
            return
        if target is not Target.INVOCATION:
            self._credit[target] = max(0.0, self._credit[target] - 1.0)
            self._in_round.add(target)
        for w in batch:
            w.busy = True
        calls = CallTrace()
        ids = list(dict.fromkeys(w.key() for w in batch))
        bound = Deadline(self._clock, deadline, deadline - now)

        def job() -> dict[str, Any]:
            return read(self._caller, target, action, ids, batch[0].move, priority, bound, calls)

        self._send(slot, job, lambda got, at: self._answered(target, batch, got, calls, at))

    def _answered(self, target: Target, batch: list[Wait], got: dict[str, Any] | Exception,
                  calls: CallTrace, now: float) -> None:
        self._in_round.discard(target)
        for trace in {id(w.trace): w.trace for w in batch if w.trace is not None}.values():
            for call in calls.calls:  # every waiter's trace shows the shared call, RequestId too
                trace.add(call)
        if isinstance(got, Exception):
            self._failed(target, batch, got, now)
            return
        self._failures[target] = 0
        for w in batch:
            w.busy = False
            if w.future.done():
                continue  # it gave up at its deadline while the round was out
            seen = got.get(w.key())
            if seen is None:
                self._settle(w, Fail(not_found(ACTION[target], f"ENI {w.key()}")))
                continue
            w.read_error = None
            w.move, decision = w.move.seen(seen, now)
            if (isinstance(decision, Done) and isinstance(seen, Invocation)
                    and w.move.priority is Priority.FAILOVER):
                # Seen when the look went out: a look that queued says nothing of the run's
                # time (routine looks wait for spare budget: theirs are not run times).
                self.run_times.record(seen.sent_at, seen.sent_at - w.move.accepted_at)
            self._settle(w, decision)

    def _failed(self, target: Target, batch: list[Wait], e: Exception, now: float) -> None:
        """A round that failed: retryable, its looks come again after a shared back-off (or
        when a routine slot can); otherwise every waiter sees the error."""
        retryable = isinstance(e, CloudError) and e.kind is ErrorKind.RETRYABLE
        delay = e.retry_in_s if isinstance(e, BudgetExhausted) else 0.0
        if retryable and not isinstance(e, BudgetExhausted):
            n = self._failures[target]
            delay = self._caller.backoff(e, n) if isinstance(e, ApiError) else retry_delay(n)
            self._not_before[target] = now + delay
            self._failures[target] = n + 1
        for w in batch:
            w.busy = False
            if w.future.done():
                continue
            if not retryable:
                self._settle(w, Fail(e))  # an answer we cannot read, a refusal: all see it
            else:
                w.read_error = e  # type: ignore[assignment]
                w.later(max(w.at, now + delay))
