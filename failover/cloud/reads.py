"""The read side of the cloud port: ENIs, instances, vSwitches, EIPs, Cloud Assistant.

Reads are idempotent, so every one retries retryable errors until its
deadline. Routine reads (health checks, status) spend only the non-reserved
part of the API budget; failover steps pass `Priority.FAILOVER`.

A routine read of many pages (2,000 members' addresses are 20 DescribeInstances) waits its
turn in the budget for each page, and each page then gets a whole attempt deadline: a
read's bound grows with its pages at this replica's routine share of the action, so it
converges however many replicas share the account. A routine read on a clock (a health
round's statuses) waits at most `ROUND_BUDGET_WAIT_S` for its slot instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from failover.cloud import convert
from failover.cloud.budget import ApiBudget
from failover.cloud.calls import Caller
from failover.cloud.looks import ACTION, BATCH, ask
from failover.cloud.scheduler import Scheduler
from failover.cloud.transitions import EniRead, Look, Target, not_found
from failover.cloud.waiting import Deadline, PollPlans
from failover.model import CallTrace, CloudError, EipInfo, EniState, InstanceInfo, Priority, VSwitchInfo
from failover.ports import Clock

T = TypeVar("T")

DESCRIBE_INSTANCES_MAX = 100  # InstanceIds JSON array
EIP_PAGE_MAX = 100


def chunks(seq: Sequence[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(seq), size):
        yield list(seq[i : i + size])


FAILOVER_READ_S = 30.0
ROUND_BUDGET_WAIT_S = 1.0  # a read on a round's clock: the next round asks again
# A routine read may wait for twice its pages' time at the replica's routine share: other
# routine readers of the same action (readiness, addresses) share it.
PAGE_WAIT_SLACK = 2.0
# ...and never longer than this in all: a routine answer older than a minute helps nobody, and
# a reader that cannot get a slot before its bound gives up at once rather than at the bound.
ROUTINE_READ_MAX_S = 60.0


class CloudReads:
    def __init__(self, caller: Caller, budget: ApiBudget, clock: Clock, read_deadline_s: float,
                 polls: PollPlans, *, inline: bool = False) -> None:
        self._caller = caller
        self._budget = budget
        self._clock = clock
        self._read_deadline_s = read_deadline_s
        self._polls = polls
        # Shared ENI rounds no closer than the waits' first look: one waiter is never held back.
        gap = min(polls.attach.first_s, polls.detach.first_s)
        self._scheduler = Scheduler(caller, budget, clock, round_gap_s=gap, inline=inline)

    def _deadline(self, priority: Priority = Priority.ROUTINE) -> Deadline:
        """Routine reads give up quickly; a failover step's read outlasts a crowded budget
        (a zone outage queues many failovers on one action) and several retries."""
        seconds = self._read_deadline_s
        if priority is Priority.FAILOVER:
            seconds = max(seconds, FAILOVER_READ_S)
        return Deadline.after(self._clock, seconds)

    def _get(self, action: str, params: dict[str, Any], priority: Priority,
             deadline: Deadline, trace: CallTrace | None,
             budget_wait_s: float | None = None) -> dict[str, Any]:
        return self._caller.retrying(
            action, params, priority=priority, deadline=deadline, trace=trace,
            budget_wait_s=budget_wait_s,
        ).body

    def _bound(self, action: str, pages: int, priority: Priority) -> Deadline:
        """How long a read of `pages` pages may take in all (see the module's doc)."""
        if priority is Priority.FAILOVER:
            return self._deadline(priority)
        wait = PAGE_WAIT_SLACK * pages / self._budget.routine_rate(action)
        return Deadline.after(self._clock, min(ROUTINE_READ_MAX_S, self._read_deadline_s + wait))

    def _pages(self, action: str, ids: Sequence[str], size: int,
               params: Callable[[list[str]], dict[str, Any]], priority: Priority,
               trace: CallTrace | None = None) -> Iterator[dict[str, Any]]:
        """The answers to a read of `ids`, `size` a page. A routine page waits its turn for its
        slot (up to the read's bound), then gives its attempt a whole deadline (a deadline
        shared by the wait and the attempt left a slow page 58 ms to answer); a failover page
        shares the read's."""
        parts = list(chunks(list(dict.fromkeys(ids)), size))
        bound = self._bound(action, len(parts), priority)
        for part in parts:
            if priority is Priority.FAILOVER:
                yield self._get(action, params(part), priority, bound, trace)
                continue
            self._budget.acquire(action, priority, max_wait_s=bound.remaining())
            yield self._caller.retrying(
                action, params(part), priority=priority, trace=trace, paid=True,
                deadline=Deadline.after(self._clock, self._read_deadline_s),
            ).body

    # ------------------------------------------------------------------ ENIs

    def describe_eni(self, eni_id: str, *, priority: Priority = Priority.ROUTINE,
                     trace: CallTrace | None = None) -> EniState:
        """The ENI, from the next shared round (`scheduler`)."""
        return self.describe_many([eni_id], priority, self._deadline(priority), trace)[eni_id]

    def describe_enis(self, eni_ids: Sequence[str], *,
                      priority: Priority = Priority.ROUTINE) -> dict[str, EniState]:
        """The ENIs the cloud knows of (a missing one is absent), read in shared rounds of up
        to 100, after the moves' own looks; any other failure raises."""
        ids = list(dict.fromkeys(eni_ids))
        pages = -(-len(ids) // BATCH[Target.ENI])
        bound = self._bound("DescribeNetworkInterfaces", pages, priority)
        return self.describe_many(ids, priority, bound, None, missing_ok=True, sweep=True)

    def describe_many(self, ids: list[str], priority: Priority, bound: Deadline,
                      trace: CallTrace | None, *, missing_ok: bool = False,
                      sweep: bool = False) -> dict[str, EniState]:
        now = self._clock.monotonic()
        reads = [(EniRead(bound.remaining(), now, self._polls.attach, self._polls, eni_id=i,
                          priority=priority, sweep=sweep), Look(now, Target.ENI)) for i in ids]
        found: dict[str, EniState] = {}
        for eni_id, got in zip(ids, self._scheduler.run_all(reads, trace), strict=True):
            if isinstance(got, EniState):
                found[eni_id] = got
            elif not (missing_ok and isinstance(got, CloudError) and got.not_found):
                raise got
        return found

    # ------------------------------------------------------------- instances

    def describe_instances(self, instance_ids: Sequence[str], *,
                           priority: Priority = Priority.ROUTINE,
                           trace: CallTrace | None = None) -> dict[str, InstanceInfo]:
        out: dict[str, InstanceInfo] = {}
        for body in self._pages(
            "DescribeInstances", instance_ids, DESCRIBE_INSTANCES_MAX,
            lambda part: {"InstanceIds": json.dumps(part), "MaxResults": DESCRIBE_INSTANCES_MAX},
            priority, trace,
        ):
            for item in convert.items(body, "Instances", "Instance"):
                info = convert.instance_info(item)
                out[info.instance_id] = info
        return out

    def instance_statuses(self, instance_ids: Sequence[str], *,
                          priority: Priority = Priority.ROUTINE) -> dict[str, str]:
        out: dict[str, str] = {}
        deadline = self._deadline(priority)
        for part in chunks(list(dict.fromkeys(instance_ids)), BATCH[Target.STATUS]):
            body = self._get(ACTION[Target.STATUS], ask(Target.STATUS, part), priority, deadline, None,
                             None if priority is Priority.FAILOVER else ROUND_BUDGET_WAIT_S)
            out.update(convert.statuses(body))
        return out

    def cloud_assistant_online(self, instance_ids: Sequence[str], *,
                               priority: Priority = Priority.ROUTINE) -> dict[str, bool]:
        out = dict.fromkeys(instance_ids, False)
        for body in self._pages(ACTION[Target.AGENT], instance_ids, BATCH[Target.AGENT],
                                lambda part: ask(Target.AGENT, part), priority):
            out.update({k: v for k, v in convert.assistant_online(body).items() if k in out})
        return out

    # ------------------------------------------------------------ VPC side

    def describe_vswitch(self, vswitch_id: str, *,
                         priority: Priority = Priority.ROUTINE) -> VSwitchInfo:
        action = "DescribeVSwitches"
        body = self._get(action, {"VSwitchId": vswitch_id, "PageSize": 10}, priority,
                         self._deadline(priority), None)
        for item in convert.items(body, "VSwitches", "VSwitch"):
            if item.get("VSwitchId") == vswitch_id:
                return convert.vswitch_info(item)
        raise not_found(action, f"vSwitch {vswitch_id}")

    def eips_of_eni(self, eni_id: str, *, priority: Priority = Priority.ROUTINE,
                    trace: CallTrace | None = None) -> list[EipInfo]:
        params = {"AssociatedInstanceType": "NetworkInterface", "AssociatedInstanceId": eni_id}
        return [
            e for e in self._eips(params, priority, self._deadline(priority), trace)
            if e.instance_id == eni_id
        ]

    def describe_eips(self, *, allocation_ids: Sequence[str] = (), ips: Sequence[str] = (),
                      priority: Priority = Priority.ROUTINE,
                      trace: CallTrace | None = None) -> list[EipInfo]:
        """EIPs by allocation id and/or address (at most 50 of each per call)."""
        params: dict[str, Any] = {}
        if allocation_ids:
            params["AllocationId"] = ",".join(allocation_ids)
        if ips:
            params["EipAddress"] = ",".join(ips)
        return self._eips(params, priority, self._deadline(priority), trace)

    def _eips(self, params: dict[str, Any], priority: Priority, deadline: Deadline,
              trace: CallTrace | None) -> list[EipInfo]:
        return [convert.eip_info(e) for e in self._eip_items(params, priority, deadline, trace)]

    def _eip_items(self, params: dict[str, Any], priority: Priority, deadline: Deadline,
                   trace: CallTrace | None) -> list[Any]:
        """Every page of a DescribeEipAddresses, its items as answered."""
        out: list[Any] = []
        page = 1
        while True:
            body = self._get(
                "DescribeEipAddresses", {**params, "PageSize": EIP_PAGE_MAX, "PageNumber": page},
                priority, deadline, trace,
            )
            found = convert.items(body, "EipAddresses", "EipAddress")
            out += found
            if not found or len(out) >= int(body.get("TotalCount") or 0):
                return out
            page += 1
