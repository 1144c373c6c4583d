"""What the emulator's event log says happened: moves, mutations and holderless gaps (pure).

The reliability trials judge the controller by the cloud's record, not by its
own journal: an ENI that went `Attaching` twice was attached twice, whatever
the controller believes. Events are the dicts of `/_sim/events`
(`{seq, t, kind, id, from, to, ...}`, `t` on the wall clock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]

# Transitions a caller starts (as opposed to ones the clock completes later).
_STARTED = {("enis", "Attaching"), ("enis", "Detaching"), ("enis", "IpsAssigned"),
            ("enis", "IpsUnassigned"), ("instances", "Stopping"), ("instances", "Starting"),
            ("eips", "Associating"), ("eips", "Unassociating")}


def is_mutation(e: Event) -> bool:
    """An event some API caller caused: a started transition or a new Cloud Assistant invocation."""
    return (e.get("kind"), e.get("to")) in _STARTED or (
        e.get("kind") == "invocations" and e.get("to") == "Created")


def mutations_after(events: Iterable[Event], t: float) -> list[Event]:
    return [e for e in events if is_mutation(e) and float(e["t"]) > t]


@dataclass(frozen=True)
class EniMoves:
    """One ENI's transitions in a window of the log."""

    detaching: int
    attaching: int
    in_use: int
    attached_to: tuple[str, ...]  # the instance of each Attaching, in order
    # attaches the cloud itself failed (back to Available with an error; the realistic
    # profile's attach_failure_share): re-sending those is the remedy, not a second move
    failed: int = 0
    failed_from_in_use: int = 0

    @property
    def moved_once(self) -> bool:
        return (self.detaching == 1 and self.attaching - self.failed == 1
                and self.in_use - self.failed_from_in_use == 1)


def eni_moves(events: Iterable[Event], eni: str) -> EniMoves:
    mine = [e for e in events if e.get("kind") == "enis" and e.get("id") == eni]
    attaching = [e for e in mine if e.get("to") == "Attaching"]
    return EniMoves(
        detaching=sum(1 for e in mine if e.get("to") == "Detaching"),
        attaching=len(attaching),
        in_use=sum(1 for e in mine if e.get("to") == "InUse"),
        attached_to=tuple(str(e.get("instance")) for e in attaching),
        failed=sum(1 for e in mine if e.get("to") == "Available" and e.get("error")),
        failed_from_in_use=sum(1 for e in mine if e.get("to") == "Available" and e.get("error")
                               and e.get("from") == "InUse"),
    )


def holderless_gaps(events: Sequence[Event], eni: str) -> list[float]:
    """Seconds from each moment the ENI left InUse to the moment it was InUse again."""
    gaps: list[float] = []
    left: float | None = None
    for e in events:
        if e.get("kind") != "enis" or e.get("id") != eni:
            continue
        if e.get("from") == "InUse" and e.get("to") != "InUse" and left is None:
            left = float(e["t"])
        elif e.get("to") == "InUse" and left is not None:
            gaps.append(float(e["t"]) - left)
            left = None
    return gaps


# An invocation record's statuses once it ran its course (the emulator's `records` events).
RECORD_DONE = frozenset({"Success", "Failed", "Timeout", "Aborted", "Error"})


def script_kind(e: Event) -> str:
    """`configure`, `release` or `other`, from the generated header the guest scripts carry
    (older scripts: the helper files' marker lines, stripped since)."""
    script = str(e.get("script") or "")
    for kind in ("configure", "release"):
        if f"# failover guest {kind}:" in script or f"# --- {kind}:" in script:
            return kind
    return "other"


def invocations_by_instance(events: Iterable[Event], kind: str | None = None) -> Counter[str]:
    """Cloud Assistant invocations created per target instance (a ClientToken replay creates none),
    only those of one script kind when `kind` is given."""
    out: Counter[str] = Counter()
    for e in events:
        if e.get("kind") == "invocations" and e.get("to") == "Created" and (
                kind is None or script_kind(e) == kind):
            for i in e.get("instances") or ():
                out[str(i)] += 1
    return out


def instance_stops(events: Iterable[Event], instance: str) -> int:
    return sum(1 for e in events
               if e.get("kind") == "instances" and e.get("id") == instance and e.get("to") == "Stopping")


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def stall_allowance(events: Sequence[Event], eni: str, detach_timeout_s: float) -> float:
    """Seconds the policy itself must spend on the ENI's stalled detaches: each detach still
    Detaching after `detach_timeout_s` (only a stop ends it; the realistic profile's crash
    stalls) costs that timeout plus its holder's emulated stop. 0 on the fixed timing."""
    stops: dict[str, list[tuple[float, float]]] = {}
    stopping: dict[str, float] = {}
    detaches: list[tuple[float, float, str]] = []
    began: tuple[float, str] | None = None
    for e in events:
        t = float(e["t"])
        if e.get("kind") == "instances":
            if e.get("to") == "Stopping":
                stopping[str(e.get("id"))] = t
            elif e.get("to") == "Stopped" and str(e.get("id")) in stopping:
                stops.setdefault(str(e.get("id")), []).append((stopping.pop(str(e.get("id"))), t))
        elif e.get("kind") == "enis" and e.get("id") == eni:
            if began is not None:
                detaches.append((began[0], t, began[1]))
                began = None
            if e.get("to") == "Detaching":
                began = (t, str(e.get("instance")))
    total = 0.0
    for start, end, instance in detaches:
        if end - start > detach_timeout_s:
            stop = next((b - a for a, b in stops.get(instance, []) if start <= a <= end), 0.0)
            total += detach_timeout_s + stop
    return total
