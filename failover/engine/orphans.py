"""Drill requests left claimed and unanswered: the leader answers them (owns that rule).

A leader claims a request, begins its failover in the journal, then writes "started". A
leader that loses office (or whose write fails) between the claim and that answer leaves the
request claimed with no result; `pending()` skips claimed requests, so without this nobody
would answer it and `failover drill` would wait its whole timeout for "no leader answered".
The journal says which it was: a failover begun for the request is "started" (its run, resumed
by whichever leader, writes the final result); no failover means the drill never ran, and the
operator is told to run it again. The answer is final: a claimer of an earlier epoch can no
longer begin anything (fenced), and this leader's own claims are never half done while its
tick runs this (claim, begin and answer happen in one dispatch on the same thread).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from failover.engine.errors import describe_error
from failover.model import NotLeader
from failover.ports import Journal, Requests
from failover.records import DrillRequest, FailoverRecord

log = logging.getLogger("failover.engine")

# How often the leader looks for them, besides on taking office (when they arise). A look is
# one ZooKeeper list and, only when some request is claimed and unanswered, a read of each.
SWEEP_S = 5.0
# `failover drill` prints it after "drill not started: ".
NOT_STARTED = ("the leader that claimed it lost office or failed before starting the failover; "
               "run the drill again")


def answer(request: DrillRequest, records: Sequence[FailoverRecord]) -> tuple[str | None, str]:
    """The failover begun for `request` among its group's `records`, and what to tell the CLI."""
    for record in records:
        if record.request_id == request.id:
            return record.id, (record.result.value if record.finished else "started")
    return None, NOT_STARTED


class OrphanSweep:
    """When the leader looks next; the ports come with each look (a reload replaces them)."""

    def __init__(self) -> None:
        self._next = 0.0  # monotonic

    def took_office(self) -> None:
        self._next = 0.0

    def run_if_due(self, now: float, requests: Requests, journal: Journal) -> None:
        """A failure is logged and retried at the next look: it must never stop the tick."""
        if now < self._next:
            return
        self._next = now + SWEEP_S
        try:
            for request in requests.unanswered():
                failover_id, message = answer(request, journal.history(request.group))
                if requests.settle(request.id, failover_id, message):
                    log.warning("answered a drill request its claimer left unanswered",
                                extra={"group": request.group, "request": request.id,
                                       "failover": failover_id, "answer": message})
        except NotLeader:
            raise
        except Exception as e:
            log.warning("could not answer unanswered drill requests", extra={"error": describe_error(e)})
