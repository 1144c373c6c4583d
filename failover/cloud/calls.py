"""One logical API call: budget, attempts, classified retries, and its record.

Every attempt spends a budget token, is timed, and is recorded as an `ApiCall`
(action, code, duration, RequestId) in the step's `CallTrace`, in the metrics
and in one debug log line (never the parameters: they may carry a script).
Retryable errors are retried with jittered back-off honouring the server's
retry-after, until the deadline; conflicts and fatal errors go straight back
to the caller, which re-reads the state and decides.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Mapping
from typing import Any, Protocol

from failover.cloud import errors
from failover.cloud.budget import ApiBudget
from failover.cloud.sdk import ApiError, Reply, last_check
from failover.cloud.waiting import MIN_CALL_S, Deadline, no_time_left, retry_delay
from failover.metrics import record_api_call
from failover.model import ApiCall, CallTrace, ErrorKind, Priority
from failover.ports import Clock

log = logging.getLogger("failover.cloud")



class Gateway(Protocol):
    """What `Caller` needs of `sdk.SdkGateway` (unit tests hand in a fake)."""

    def call(self, action: str, params: Mapping[str, Any], *, timeout_s: float) -> Reply: ...

    def ready(self) -> None:
        """Does now what the next call would otherwise do on its own time before sending."""


class Caller:
    def __init__(self, gateway: Gateway, budget: ApiBudget, clock: Clock,
                 rng: random.Random | None = None) -> None:
        self._gateway = gateway
        self._budget = budget
        self._clock = clock
        self._rng = rng or random.Random()

    def once(self, action: str, params: Mapping[str, Any], *, priority: Priority,
             deadline: Deadline, trace: CallTrace | None, mutation: bool = False,
             after: ApiError | None = None, budget_wait_s: float | None = None,
             paid: bool = False) -> Reply:
        """Exactly one attempt (for calls that are not idempotent on their own).

        A `mutation` passes the trace's guard (the leader's fencing check) after its wait
        for a token and before it is sent; whatever the guard raises stops it unsent.
        `after`: the previous attempt's error; one refused for flow control hands on its slot.
        `budget_wait_s`: the longest this attempt waits for its slot (else its deadline);
        `paid`: its slot was taken already (by the scheduler, or a paged read's wait).
        """
        if deadline.remaining() < MIN_CALL_S:
            raise no_time_left(action, deadline.total_s)
        kept = after.kept_slot if after is not None else None
        if after is not None:
            after.kept_slot = None
        if paid:
            slot = self._clock.monotonic()
        elif kept is None:
            wait = deadline.remaining()
            self._budget.acquire(action, priority, max_wait_s=wait if budget_wait_s is None
                                 else min(wait, budget_wait_s))
            slot = self._clock.monotonic()
        else:
            slot = self._budget.requeue(action, kept)
        self._depart(action, priority, deadline)
        counted = False  # until it is sent: the guard may stop it
        start = self._clock.monotonic()
        try:
            if mutation and trace is not None:
                # A credential refresh inside the SDK is a round trip to the metadata service
                # or STS: done before the fencing check, so the check stays right before sending.
                self._gateway.ready()
                trace.check()
            # The lease check again, inside the SDK's transport after signing (cloud/sdk.py).
            last_check(trace.fence if mutation and trace is not None else None)
            start = self._clock.monotonic()
            counted = True
            reply = self._gateway.call(action, params, timeout_s=deadline.remaining())
        except ApiError as e:
            self._record(action, e.code, self._clock.monotonic() - start, e.request_id, trace)
            if errors.flow_controlled(e.code):
                e.kept_slot = slot
                counted = False
            raise
        finally:
            self._budget.answered(action, counted=counted)
        self._record(action, "OK", self._clock.monotonic() - start, reply.request_id, trace)
        return dataclasses.replace(reply, sent_at=start)

    def _depart(self, action: str, priority: Priority, deadline: Deadline) -> None:
        """Waits, if need be, until the call may leave: its slot came, but calls before it
        that left late or were answered late may still be inside the gateway's second."""
        while (wait := self._budget.sending(action, priority)) > 0.0:
            if deadline.remaining() - wait < MIN_CALL_S:
                raise no_time_left(action, deadline.total_s)
            self._clock.sleep(wait)

    def retrying(self, action: str, params: Mapping[str, Any], *, priority: Priority,
                 deadline: Deadline, trace: CallTrace | None, mutation: bool = False,
                 paid: bool = False, budget_wait_s: float | None = None) -> Reply:
        """Attempts until success, a non-retryable error, or the deadline (`paid`: the first
        attempt's slot was taken already)."""
        attempt = 0
        last: ApiError | None = None
        while True:
            try:
                return self.once(action, params, priority=priority, deadline=deadline, trace=trace,
                                 mutation=mutation, after=last, paid=paid and attempt == 0,
                                 budget_wait_s=budget_wait_s)
            except ApiError as e:
                last = e
                if e.kind is not ErrorKind.RETRYABLE:
                    raise
                delay = self.backoff(e, attempt)
                if delay + MIN_CALL_S > deadline.remaining():
                    raise  # waiting would pass the deadline: report the last real error
                self._clock.sleep(delay)
                attempt += 1

    def backoff(self, e: ApiError, attempt: int) -> float:
        return retry_delay(attempt, e.retry_after_ms, self._rng)

    def _record(self, action: str, code: str, duration_s: float, request_id: str | None,
                trace: CallTrace | None) -> None:
        if trace is not None:
            trace.add(ApiCall(action=action, code=code, duration_s=duration_s, request_id=request_id))
        record_api_call(action, code, duration_s, throttled=errors.flow_controlled(code))
        log.debug(
            "cloud api %s %s", action, code,
            extra={"action": action, "code": code, "request_id": request_id,
                   "duration_s": round(duration_s, 4)},
        )
