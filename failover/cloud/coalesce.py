"""Coalesced ENI reads: concurrent reads of ENI states share one DescribeNetworkInterfaces.

A zone outage starts a hundred attach/detach waits at once; each polling its own ENI would
ask for hundreds of describes per second where the account allows about ten per action.
So every ENI read registers a ticket for the ENI it needs, and the first waiter that finds
no round under way performs one (leader-follower, on its own thread: no background thread
can die unnoticed): one call for up to 100 registered ENIs (NetworkInterfaceId.N), whose
answer goes to every ticket in it, and its RequestId into each ticket's `CallTrace`.

Only tickets registered before a round takes its batch are in it, so an answer is never
older than the read that asked for it. A wait registers its next look at once, due when its
poll schedule says: a round some other waiter starts before then answers it early, for free
(a hundred waits each sleeping its own 0.2 s between rounds 0.15 s apart saw every other
round: the state change was noticed up to 0.3 s late). Only a due ticket starts a round, so
a wait alone looks exactly when its schedule says.

Rounds start at least `gap_s` apart, with a credit of two so that one waiter alone (a read,
then the wait's first read at once) is never held back. A retryable failure keeps the
tickets for the next round, after a shared back-off when the API itself refused; every
waiter gives up at its own deadline with the last error seen.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from failover.cloud import convert, errors
from failover.cloud.budget import BudgetExhausted
from failover.cloud.calls import Caller
from failover.cloud.sdk import ApiError
from failover.cloud.waiting import Deadline, retry_delay
from failover.model import CallTrace, CloudError, CloudTimeout, EniState, ErrorKind, Priority
from failover.ports import Clock

ACTION = "DescribeNetworkInterfaces"
BATCH_MAX = 100  # NetworkInterfaceId.N takes at most 100 ids
MAX_RESULTS_MIN = 10  # the API's lower bound on MaxResults
PAGES_MAX = 5
ROUND_CREDIT = 2.0
_MIN_LEFT_S = 0.05
ALONE_SLICE_S = 0.05
# A routine round never waits for its slot while it leads: every reader (failover polls too)
# would wait behind it. Refused, its tickets come due when the slot can (see `_failed`).
ROUTINE_ROUND_WAIT_S = 0.0


@dataclass(eq=False)
class Ticket:
    """One read waiting for a round."""

    eni_id: str
    priority: Priority
    deadline: Deadline
    trace: CallTrace | None
    due: float = 0.0  # monotonic: when this look must happen at the latest
    state: EniState | None = None
    error: Exception | None = None  # final: raised to the reader
    last_error: CloudError | None = None  # retryable, from a round that failed
    done: bool = False
    gone: bool = False  # the reader left at its deadline


@dataclass
class RoundGate:
    """When the next round may start: a credit refilled at one per `gap_s`, and a back-off.

    Pure: time is passed in.
    """

    gap_s: float
    credit: float = ROUND_CREDIT
    updated_at: float = 0.0
    not_before: float = 0.0
    failures: int = 0

    def wait_s(self, now: float) -> float:
        self._refill(now)
        short = 0.0 if self.credit >= 1.0 or self.gap_s <= 0 else (1.0 - self.credit) * self.gap_s
        return max(short, self.not_before - now, 0.0)

    def start(self, now: float) -> None:
        self._refill(now)
        self.credit = max(0.0, self.credit - 1.0)

    def _refill(self, now: float) -> None:
        if self.gap_s <= 0:
            self.credit = ROUND_CREDIT
        elif now > self.updated_at:
            self.credit = min(ROUND_CREDIT, self.credit + (now - self.updated_at) / self.gap_s)
        self.updated_at = max(self.updated_at, now)


def batch_of(pending: list[Ticket], limit: int = BATCH_MAX) -> list[Ticket]:
    """The tickets of the first `limit` distinct ENIs, soonest due first (then oldest)."""
    ids: set[str] = set()
    out = []
    for t in sorted(pending, key=lambda t: t.due):
        if t.eni_id not in ids and len(ids) >= limit:
            continue
        ids.add(t.eni_id)
        out.append(t)
    return out


class EniPoller:
    """Thread-safe: `read` from any number of threads; each returns its ENI's fresh state."""

    def __init__(self, caller: Caller, clock: Clock, *, gap_s: float,
                 batch_max: int = BATCH_MAX) -> None:
        self._caller = caller
        self._clock = clock
        self._batch_max = batch_max
        self._cond = threading.Condition()
        self._pending: list[Ticket] = []
        self._leading = False
        self._gate = RoundGate(gap_s, updated_at=clock.monotonic())
        self.calls_made = 0  # DescribeNetworkInterfaces attempts (tests read it)

    def read(self, eni_id: str, priority: Priority, deadline: Deadline,
             trace: CallTrace | None, *, due_in: float = 0.0) -> EniState:
        """The ENI's state from a round that starts after this call and at most `due_in`
        seconds from now (earlier when another reader's round comes first)."""
        ticket = Ticket(eni_id, priority, deadline, trace,
                        due=self._clock.monotonic() + max(0.0, due_in))
        with self._cond:
            self._pending.append(ticket)
        self._serve(ticket)
        return self._outcome(ticket)

    def read_many(self, eni_ids: list[str], priority: Priority, deadline: Deadline,
                  trace: CallTrace | None) -> dict[str, EniState | Exception]:
        """Several ENIs at once: all their tickets join before the first round, so a hundred
        ENIs cost one call, not a hundred rounds one after another. Each ENI's state, or the
        error its read ended with."""
        now = self._clock.monotonic()
        tickets = [Ticket(e, priority, deadline, trace, due=now) for e in dict.fromkeys(eni_ids)]
        with self._cond:
            self._pending.extend(tickets)
        out: dict[str, EniState | Exception] = {}
        for t in tickets:
            self._serve(t)
            out[t.eni_id] = t.error if t.error is not None else self._outcome(t)
        return out

    def _serve(self, ticket: Ticket) -> None:
        """Until the ticket is settled: lead rounds when it is this thread's turn."""
        while True:
            batch = self._await_turn(ticket)
            if batch is None:
                return
            try:
                self._run(batch, ticket.deadline)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()

    # ------------------------------------------------------------ leader-follower

    def _await_turn(self, ticket: Ticket) -> list[Ticket] | None:
        """None when the ticket is settled (or out of time); else the batch this thread runs."""
        while True:
            with self._cond:
                if ticket.done:
                    return None
                if ticket.deadline.remaining() < _MIN_LEFT_S:
                    self._leave(ticket)
                    return None
                early = ticket.due - self._clock.monotonic()
                if early <= 0 and not self._leading:
                    self._leading = True
                    break
                alone = not self._leading and all(t is ticket for t in self._pending)
                if not alone:
                    # A round under way, or other readers whose rounds may come first: each
                    # round's leader wakes us when it ends.
                    wait = ticket.deadline.remaining()
                    self._cond.wait(min(wait, early) if early > 0 else wait)
                    continue
            # Alone and not due: sleep on the clock (the one a test may drive), outside the
            # lock, in slices: a reader that comes meanwhile may take this ticket into its
            # round, and its answer is then read within a slice.
            self._clock.sleep(ticket.deadline.bounded(min(early, ALONE_SLICE_S)))
        # We lead. Wait for the gate outside the lock: tickets keep joining meanwhile.
        try:
            while True:
                with self._cond:
                    wait = self._gate.wait_s(self._clock.monotonic())
                    if wait <= 0 or ticket.done:
                        break
                    if ticket.deadline.remaining() - wait < _MIN_LEFT_S:
                        self._leave(ticket)
                        break
                self._clock.sleep(wait)
            with self._cond:
                if ticket.gone or ticket.done:
                    self._leading = False
                    self._cond.notify_all()
                    return None
                self._gate.start(self._clock.monotonic())
                batch = batch_of(self._pending, self._batch_max)
                taken = set(map(id, batch))
                self._pending = [t for t in self._pending if id(t) not in taken]
                return batch
        except BaseException:
            with self._cond:
                self._leading = False
                self._cond.notify_all()
            raise

    def _leave(self, ticket: Ticket) -> None:
        """The reader's deadline came first: it stops waiting (called under the lock)."""
        ticket.gone = True
        self._pending = [t for t in self._pending if t is not ticket]
        ticket.error = ticket.last_error or CloudTimeout(
            f"{ACTION}: no time left to call the API (deadline of {ticket.deadline.total_s:g} s)",
            kind=ErrorKind.RETRYABLE, code=errors.TIMEOUT, action=ACTION,
        )
        ticket.done = True

    @staticmethod
    def _outcome(ticket: Ticket) -> EniState:
        if ticket.error is not None:
            raise ticket.error
        assert ticket.state is not None
        return ticket.state

    # ------------------------------------------------------------------ a round

    def _run(self, batch: list[Ticket], deadline: Deadline) -> None:
        """One round's call(s), on the leader's thread: within the leader's own deadline."""
        for t in batch:
            if t.priority is Priority.FAILOVER:
                priority = Priority.FAILOVER
                break
        else:
            priority = Priority.ROUTINE
        ids = list(dict.fromkeys(t.eni_id for t in batch))
        calls = CallTrace()
        found: dict[str, EniState] = {}
        try:
            self._describe(ids, priority, deadline, calls, found)
        except CloudError as e:
            self._share(batch, calls)
            self._failed(batch, e)
            return
        except Exception as e:  # an answer we cannot read: every reader sees it
            self._share(batch, calls)
            self._settle(batch, {}, e)
            return
        self._share(batch, calls)
        self._settle(batch, found, None)

    def _describe(self, ids: list[str], priority: Priority, deadline: Deadline,
                  calls: CallTrace, found: dict[str, EniState]) -> None:
        params: dict[str, object] = {
            "NetworkInterfaceId": ids, "MaxResults": max(MAX_RESULTS_MIN, len(ids)),
        }
        wanted = set(ids)
        for _ in range(PAGES_MAX):
            self.calls_made += 1
            body = self._caller.once(ACTION, params, priority=priority, deadline=deadline,
                                     trace=calls, budget_wait_s=None
                                     if priority is Priority.FAILOVER else ROUTINE_ROUND_WAIT_S).body
            for item in convert.items(body, "NetworkInterfaceSets", "NetworkInterfaceSet"):
                if item.get("NetworkInterfaceId") in wanted:
                    state = convert.eni_state(item)
                    found[state.eni_id] = state
            token = str(body.get("NextToken") or "")
            if not token or wanted <= found.keys():
                return
            params = {**params, "NextToken": token}

    @staticmethod
    def _share(batch: list[Ticket], calls: CallTrace) -> None:
        """Every reader's trace shows the shared call(s), RequestIds included."""
        traces = {id(t.trace): t.trace for t in batch if t.trace is not None}
        for trace in traces.values():
            for call in calls.calls:
                trace.add(call)

    def _failed(self, batch: list[Ticket], e: CloudError) -> None:
        if e.kind is not ErrorKind.RETRYABLE:
            self._settle(batch, {}, e)
            return
        with self._cond:
            # Throttled, slow or out of local budget: the next round backs off, for all.
            now = self._clock.monotonic()
            if isinstance(e, BudgetExhausted):
                # Only this replica's routine share is spent: the gate stays open for
                # failover reads, and these tickets come due when a routine slot can (a
                # reader whose deadline is before that leaves at once).
                for t in batch:
                    t.last_error = e
                    if t.done:
                        continue
                    if t.deadline.remaining() - e.retry_in_s < _MIN_LEFT_S:
                        self._leave(t)
                    t.due = max(t.due, now + e.retry_in_s)
            else:
                n = self._gate.failures
                delay = self._caller.backoff(e, n) if isinstance(e, ApiError) else retry_delay(n)
                self._gate.not_before = now + delay
                self._gate.failures += 1
            for t in batch:
                t.last_error = e
            self._pending[:0] = [t for t in batch if not t.gone and not t.done]

    def _settle(self, batch: list[Ticket], found: dict[str, EniState],
                error: Exception | None) -> None:
        with self._cond:
            if error is None:
                self._gate.failures = 0
            for t in batch:
                if t.done:
                    continue
                t.state = found.get(t.eni_id)
                t.error = error
                if error is None and t.state is None:
                    t.error = ApiError(f"ENI {t.eni_id} not found", kind=ErrorKind.FATAL,
                                       code=errors.NOT_FOUND, action=ACTION)
                t.done = True
