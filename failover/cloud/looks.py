"""What a look reads, and how: one call answers every look of a round (`scheduler`).

ENIs (DescribeNetworkInterfaces, up to 100 ids, pages followed), instance statuses
(DescribeInstanceStatus, 50) and Cloud Assistant (50) are batched; an invocation is read one
at a time, by whichever of the two describes that carry its result the budget frees first.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from failover.cloud import convert
from failover.cloud.calls import Caller
from failover.cloud.transitions import Agent, Command, Invocation, Read, Status, Target
from failover.cloud.waiting import Deadline
from failover.model import ENIS_PER_CALL, CallTrace, Priority

PAGES_MAX = 5
BATCH = {Target.ENI: ENIS_PER_CALL, Target.STATUS: 50, Target.AGENT: 50, Target.INVOCATION: 1}
ACTION = {Target.ENI: "DescribeNetworkInterfaces", Target.STATUS: "DescribeInstanceStatus",
          Target.AGENT: "DescribeCloudAssistantStatus"}
# Both carry a run's status, exit code and output; the gateway throttles each on its own, so
# in a mass failover the looks of a hundred commands get twice the slots.
INVOCATION_READS = ("DescribeInvocationResults", "DescribeInvocations")
INVOCATION_PARAMS: dict[str, dict[str, Any]] = {
    "DescribeInvocationResults": {"ContentEncoding": "PlainText"},
    "DescribeInvocations": {"ContentEncoding": "PlainText", "IncludeOutput": True},
}


def ask(target: Target, ids: list[str]) -> dict[str, Any]:
    """The parameters of a describe of `ids` (a page: at most `BATCH[target]`)."""
    if target is Target.ENI:
        return {"NetworkInterfaceId": ids, "MaxResults": max(10, len(ids))}
    return {"InstanceId": ids, "PageSize": BATCH[target], "PageNumber": 1}


def read(caller: Caller, target: Target, action: str, ids: list[str], move: Any,
         priority: Priority, bound: Deadline, calls: CallTrace) -> dict[str, Read]:
    """One round: each id's read (an unknown ENI is absent). Its slot is already paid."""
    if target is Target.INVOCATION:
        assert isinstance(move, Command)
        query = {"InvokeId": move.invoke_id, "InstanceId": move.instance_id,
                 **INVOCATION_PARAMS[action]}
        reply = caller.once(action, query, priority=priority, deadline=bound, trace=calls, paid=True)
        sent = reply.sent_at if reply.sent_at is not None else bound.clock.monotonic()
        result = convert.invocation_result(reply.body, move.invoke_id, move.instance_id)
        return {move.instance_id: Invocation(result, sent)}
    if target is not Target.ENI:
        body = caller.once(action, ask(target, ids), priority=priority, deadline=bound, trace=calls,
                           paid=True).body
        if target is Target.STATUS:
            return {i: Status(convert.statuses(body).get(i)) for i in ids}
        return {i: Agent(convert.assistant_online(body).get(i, False)) for i in ids}
    params = ask(target, ids)
    found: dict[str, Read] = {}
    for n in range(PAGES_MAX):
        body = caller.once(action, params, priority=priority, deadline=bound, trace=calls,
                           paid=n == 0).body
        for item in convert.items(body, "NetworkInterfaceSets", "NetworkInterfaceSet"):
            if item.get("NetworkInterfaceId") in ids:
                state = convert.eni_state(item)
                found[state.eni_id] = state
        token = str(body.get("NextToken") or "")
        if not token or set(ids) <= found.keys():
            break
        params = {**params, "NextToken": token}
    return found


class RunTimes:
    """How long recent guest commands took, from the accepted RunCommand to the look that saw
    them end: where a command's first look goes when dense looks would not fit in the budget
    (each costs a slot a later command's look needed). The first quartile, not the shortest (a
    run's start is known only to within its RunCommand's round trip); forgotten after `keep_s`,
    as aimed looks cannot learn that the cloud got faster."""

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
