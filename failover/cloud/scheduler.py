"""The one scheduler of the process's cloud waits: a single loop over every move as data.

    submit(move) ──> inbox ──> loop (one thread; owns every wait, the budget's booking order)
                                 │ due looks of a target -> one batched describe (100 ENIs,
                                 │   50 statuses); looks not yet due ride along for free
                                 │ due calls -> failover first, each booked in the budget
                                 ▼
                        senders (a fixed pool: the SDK blocks) ──> answers ──> inbox
                                 │ transitions (`transitions`): Issue | Look at t | Done | Fail
                                 ▼
                        the caller's Future: value or CloudError

A zone outage starts a hundred detach/attach waits at once; each polling its own ENI would ask
for hundreds of describes a second where the account allows about ten per action. Here every
look of a round is answered by one call, and rounds of a target start at most one per
`round_gap_s` (with a burst of `ROUNDS_AT_ONCE`, so a read and a wait's first look at once are
never held back) and never overlap. Calls are booked in the budget in the loop's order, the
leader's failover calls first (they keep the reserve); the fencing guard still runs in the
sender after the slot and right before the bytes leave (`calls.Caller.once`). The loop waits
on the clock port only; with a fake clock (tests) calls run on the loop's own thread, so one
thread moves fake time. The loop's thread ends when no wait is left.
"""

from __future__ import annotations

import heapq
import logging
import math
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from failover.cloud import convert, errors
from failover.cloud.budget import ApiBudget, BudgetExhausted
from failover.cloud.calls import Caller
from failover.cloud.sdk import ApiError, Reply
from failover.cloud.transitions import (
    Agent,
    Command,
    Decision,
    Done,
    EniRead,
    Fail,
    Invocation,
    Issue,
    Look,
    Move,
    Read,
    Sent,
    Status,
    Target,
)
from failover.cloud.waiting import Deadline, retry_delay
from failover.model import CallTrace, CloudError, ErrorKind, Priority
from failover.ports import Clock

log = logging.getLogger("failover.cloud")

ROUNDS_AT_ONCE = 2.0  # a read and a wait's first look at once are never held back
SENDERS = 32  # calls in flight at once (a zone outage: ~5 actions at the budget's rate)
PAGES_MAX = 5
IDLE_S = 1.0  # the longest pause while waits are under way (answers wake the loop sooner)
MIN_LEFT_S = 0.05  # a wait with less than this left gives up: no call would be answered in it
# Of one call per target, at most this many ids (the API's page limits).
BATCH = {Target.ENI: 100, Target.STATUS: 50, Target.AGENT: 50, Target.INVOCATION: 1}
ROUND_ACTION = {Target.ENI: "DescribeNetworkInterfaces", Target.STATUS: "DescribeInstanceStatus",
                Target.AGENT: "DescribeCloudAssistantStatus"}
INVOCATION_READS = ("DescribeInvocationResults", "DescribeInvocations")
INVOCATION_PARAMS: dict[str, dict[str, Any]] = {
    "DescribeInvocationResults": {"ContentEncoding": "PlainText"},
    "DescribeInvocations": {"ContentEncoding": "PlainText", "IncludeOutput": True},
}


class RunTimes:
    """How long this controller's recent guest commands took, from the accepted RunCommand to
    the look that saw them finished: where the next command's first look goes when looks are
    scarce. The first quartile, not the shortest (a run's start is known only to within its
    RunCommand's round trip); runs are forgotten after `keep_s` (a cloud that got faster is not
    learned from aimed looks). Aiming costs the runs that end before the quartile up to the
    distance to it: worth it only when dense looks would not fit in the budget."""

    def __init__(self, keep_s: float = 600.0, size: int = 32) -> None:
        self.keep_s = keep_s
        self._runs: deque[tuple[float, float]] = deque(maxlen=size)

    def aim(self, now: float, *, waits: int, looks_per_s: float, capacity_per_s: float) -> float | None:
        """`first_look` while `waits` looking `looks_per_s` each would want over half the
        looks the budget allows (`capacity_per_s`); else None (dense)."""
        return None if waits * looks_per_s <= capacity_per_s / 2 else self.first_look(now)

    def record(self, now: float, seen_after_s: float) -> None:
        self._runs.append((now, seen_after_s))

    def first_look(self, now: float) -> float | None:
        recent = sorted(s for (at, s) in self._runs if now - at <= self.keep_s)
        return recent[len(recent) // 4] if recent else None


@dataclass(eq=False)
class Wait:
    """One move under way: its state, its next decision, and who awaits it."""

    move: Any  # a `transitions.Move`
    decision: Decision
    trace: CallTrace | None
    future: Future[Any] = field(default_factory=Future)
    busy: bool = False  # a call of it (a look or its own) is in flight
    read_error: CloudError | None = None  # the last look's retryable failure
    attempts: int = 0  # a command's retryable refusals in a row (its back-off grows)

    @property
    def at(self) -> float:
        d = self.decision
        return d.at if isinstance(d, Look | Issue) else -math.inf

    def later(self, at: float) -> None:
        d = self.decision
        self.decision = Look(at, d.target) if isinstance(d, Look) else Issue(at)

    def key(self) -> str:
        m = self.move
        return str(getattr(m, "eni_id", "") if self.target is Target.ENI else m.instance_id)

    @property
    def target(self) -> Target | None:
        return self.decision.target if isinstance(self.decision, Look) else None


class Scheduler:
    def __init__(self, caller: Caller, budget: ApiBudget, clock: Clock, *, round_gap_s: float,
                 senders: int = SENDERS) -> None:
        self._caller = caller
        self._budget = budget
        self._clock = clock
        self._gap_s = round_gap_s
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._running = False
        self._start_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(senders, "cloud-send") if senders > 0 else None
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
        self.rounds = 0  # describe rounds sent (tests read it)

    # ---------------------------------------------------------------- callers

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
        out: list[Any] = []
        for w in waits:
            error = w.future.exception()
            out.append(error if error is not None else w.future.result())
        return out

    def _post(self, event: Callable[[], None]) -> None:
        self._inbox.put(event)
        self._wake.set()
        with self._start_lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="cloud-scheduler", daemon=True).start()

    # ------------------------------------------------------------------ loop

    def _loop(self) -> None:
        while True:
            self._wake.clear()
            while True:
                try:
                    self._inbox.get_nowait()()
                except queue.Empty:
                    break
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
        while self._timers and self._timers[0][0] <= now:
            _at, _n, call = heapq.heappop(self._timers)
            self._submit(call)
        for w in [w for w in self._waits if now >= w.move.deadline - MIN_LEFT_S
                  and not (w.busy and isinstance(w.decision, Issue))]:
            error = w.move.expired()
            self._finish(w, Fail(w.read_error if isinstance(w.move, EniRead) and w.read_error
                                 else error))
        idle = [w for w in self._waits if not w.busy]
        issues = sorted((w for w in idle if isinstance(w.decision, Issue) and w.at <= now),
                        key=lambda w: (w.move.priority is not Priority.FAILOVER, w.at))
        for w in issues:
            self._issue(w, now)
        for target in Target:
            looking = [w for w in idle if w.target is target and not w.busy]
            if any(w.at <= now for w in looking):
                self._round(target, looking, now)
        if not self._waits and not self._timers:
            return 0.0  # the loop ends
        nxt = now + IDLE_S
        if self._timers:
            nxt = min(nxt, self._timers[0][0])
        for w in self._waits:
            nxt = min(nxt, w.move.deadline - MIN_LEFT_S)
            if not w.busy:
                at = w.at if w.target is None else max(w.at, now + self._gate_in(w.target, now))
                nxt = min(nxt, at)
        return max(0.0, nxt - now)

    def _admit(self, w: Wait) -> None:
        if isinstance(w.move, Command) and w.move.priority is Priority.FAILOVER:
            waits = sum(isinstance(x.move, Command) for x in self._waits) + 1
            aim = self.run_times.aim(self._clock.monotonic(), waits=waits,
                                     looks_per_s=1.0 / w.move.plan.dense_s,
                                     capacity_per_s=len(INVOCATION_READS) * self._caller.rate_per_s)
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
        """Seconds until this call's budget slot (booked); None: none in time (`w` learns when
        to try again: a routine call books nothing while the window is full)."""
        kept = w.move.last_error.kept_slot if w is not None and w.move.last_error is not None else None
        if kept is not None:  # refused for flow control: the retry goes in the same slot
            w.move.last_error.kept_slot = None  # type: ignore[union-attr]
            self._budget.requeue(action, kept)
            return 0.0
        wait = self._budget.claim(action, priority, max(0.0, deadline - now))
        if wait is None or (priority is not Priority.FAILOVER and wait > 0):
            return None
        return wait

    def _later(self, waits: Iterable[Wait], action: str, priority: Priority, now: float) -> None:
        """No slot now: the waits look (or send) again when one would come."""
        retry_in = max(0.01, self._budget.next_in(action, priority))
        error = BudgetExhausted(f"{action}: local API budget exhausted for "
                                f"{priority.name.lower()} calls", action=action, retry_in_s=retry_in)
        for w in waits:
            w.read_error = error
            w.later(now + retry_in)

    def _send(self, delay: float, job: Callable[[], Any],
              done: Callable[[Any, float], None]) -> None:
        """Runs `job` on a sender when its slot comes (`delay` s), then `done(result, when it
        came)` on the loop. A call waiting for its slot holds no sender: the loop hands it
        over on time."""
        def call() -> None:
            try:
                result = job()
            except Exception as e:  # handed to the loop, which decides
                result = e
            at = self._clock.monotonic()
            self._post(lambda: done(result, at))

        if self._pool is None:  # a fake clock: one thread moves time
            self._clock.sleep(delay)
            call()
        elif delay > 0:
            self._count += 1
            heapq.heappush(self._timers, (self._clock.monotonic() + delay, self._count, call))
        else:
            self._submit(call)

    def _submit(self, call: Callable[[], None]) -> None:
        if self._pool is None:
            call()
        else:
            self._pool.submit(call)

    # ------------------------------------------------------------------ calls

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
        if target in self._in_round:
            return math.inf
        if target is Target.INVOCATION:
            return 0.0
        if self._gap_s > 0:
            gained = (now - self._credit_at[target]) / self._gap_s
            self._credit[target] = min(ROUNDS_AT_ONCE, self._credit[target] + gained)
        else:
            self._credit[target] = ROUNDS_AT_ONCE
        self._credit_at[target] = now
        short = 0.0 if self._credit[target] >= 1.0 else (1.0 - self._credit[target]) * self._gap_s
        return max(short, self._not_before[target] - now, 0.0)

    def _round(self, target: Target, looking: list[Wait], now: float) -> None:
        if target is Target.INVOCATION:
            for w in looking:
                if w.at <= now:
                    self._invocation(w, now)
            return
        if self._gate_in(target, now) > 0:
            return
        # Due looks first (soonest first); looks not yet due ride along, answered early.
        ordered = sorted(looking, key=lambda w: w.at)
        ids: list[str] = []
        batch: list[Wait] = []
        for w in ordered:
            if w.key() not in ids:
                if len(ids) >= BATCH[target]:
                    continue
                ids.append(w.key())
            batch.append(w)
        failover = any(w.move.priority is Priority.FAILOVER for w in batch)
        priority = Priority.FAILOVER if failover else Priority.ROUTINE
        action = ROUND_ACTION[target]
        deadline = max(w.move.deadline for w in batch)
        slot = self._slot(None, action, priority, deadline, now)
        if slot is None:
            self._later([w for w in batch if w.at <= now], action, priority, now)
            return
        self._credit[target] = max(0.0, self._credit[target] - 1.0)
        self._in_round.add(target)
        self.rounds += 1
        for w in batch:
            w.busy = True
        calls = CallTrace()
        bound = Deadline(self._clock, deadline, deadline - now)

        def job() -> dict[str, Any]:
            return self._describe(target, ids, priority, bound, calls)

        self._send(slot, job, lambda r, at: self._answered(target, batch, r, calls, at))

    def _describe(self, target: Target, ids: list[str], priority: Priority, bound: Deadline,
                  calls: CallTrace) -> dict[str, Any]:
        action = ROUND_ACTION[target]
        if target is Target.ENI:
            params: dict[str, Any] = {"NetworkInterfaceId": ids, "MaxResults": max(10, len(ids))}
        else:
            params = {"InstanceId": ids, "PageSize": BATCH[target], "PageNumber": 1}
        found: dict[str, Any] = {}
        for page in range(PAGES_MAX):
            body = self._caller.once(action, params, priority=priority, deadline=bound, trace=calls,
                                     paid=page == 0).body
            if target is Target.STATUS:
                return {i: Status(convert.statuses(body).get(i)) for i in ids}
            if target is Target.AGENT:
                return {i: Agent(convert.assistant_online(body).get(i, False)) for i in ids}
            for item in convert.items(body, "NetworkInterfaceSets", "NetworkInterfaceSet"):
                if item.get("NetworkInterfaceId") in ids:
                    state = convert.eni_state(item)
                    found[state.eni_id] = state
            token = str(body.get("NextToken") or "")
            if not token or set(ids) <= found.keys():
                break
            params = {**params, "NextToken": token}
        return found

    def _answered(self, target: Target, batch: list[Wait], got: dict[str, Any] | Exception,
                  calls: CallTrace, now: float) -> None:
        self._in_round.discard(target)
        for trace in {id(w.trace): w.trace for w in batch if w.trace is not None}.values():
            for call in calls.calls:
                trace.add(call)
        if isinstance(got, Exception):
            self._failed(target, batch, got, now)
            return
        self._failures[target] = 0
        for w in batch:
            w.busy = False
            if w.future.done():
                continue  # it gave up at its deadline while the round was out
            read = got.get(w.key())
            if read is None:
                self._settle(w, Fail(ApiError(f"ENI {w.key()} not found", kind=ErrorKind.FATAL,
                                              code=errors.NOT_FOUND, action=ROUND_ACTION[target])))
            elif w.target is target:
                self._seen(w, read, now)

    def _failed(self, target: Target, batch: list[Wait], e: Exception, now: float) -> None:
        retryable = isinstance(e, CloudError) and e.kind is ErrorKind.RETRYABLE
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
                self._settle(w, Fail(e))  # an answer we cannot read: every waiter sees it
            else:
                w.read_error = e  # type: ignore[assignment]
                if isinstance(e, BudgetExhausted):
                    w.later(now + e.retry_in_s)

    def _seen(self, w: Wait, read: Read, now: float) -> None:
        w.read_error = None
        w.move, decision = w.move.seen(read, now)
        if (isinstance(decision, Done) and isinstance(read, Invocation)
                and w.move.priority is Priority.FAILOVER):
            # Seen when the look went out: a look that queued says nothing of the run's time.
            self.run_times.record(read.sent_at, read.sent_at - w.move.accepted_at)
        self._settle(w, decision)

    def _invocation(self, w: Wait, now: float) -> None:
        m = w.move
        # The gateway throttles the two describes on their own: in a mass failover the looks of
        # a hundred commands get twice the slots.
        action = self._budget.quickest(INVOCATION_READS)
        slot = self._slot(None, action, m.priority, m.deadline, now)
        if slot is None:
            self._later([w], action, m.priority, now)
            return
        w.busy = True
        params = {"InvokeId": m.invoke_id, "InstanceId": m.instance_id, **INVOCATION_PARAMS[action]}
        deadline = Deadline(self._clock, m.deadline, m.timeout_s)

        def job() -> Invocation:
            reply = self._caller.once(action, params, priority=m.priority, deadline=deadline,
                                      trace=w.trace, paid=True)
            sent = reply.sent_at if reply.sent_at is not None else self._clock.monotonic()
            return Invocation(convert.invocation_result(reply.body, m.invoke_id, m.instance_id), sent)

        def done(got: Invocation | Exception, now: float) -> None:
            w.busy = False
            if isinstance(got, Exception):
                self._failed(Target.INVOCATION, [w], got, now)
                if not w.future.done():
                    back = self._caller.backoff(got, 0) if isinstance(got, ApiError) else 0.0
                    w.decision = Look(now + back, Target.INVOCATION)
            else:
                self._seen(w, got, now)

        self._send(slot, job, done)
