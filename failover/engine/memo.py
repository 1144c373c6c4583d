"""The leader's tick, remembered: a group's view is rebuilt, and decided again, only when one of
its inputs changed or a time its answer depends on has come.

The leader ticks 20 times a second. Rebuilding and deciding all 1,000 groups' views each tick
was half of a 1,000-group replica's interpreter time (notes/issue-23c.md), while between two
ticks almost nothing changes. `decide` stays a pure function of its snapshot; this module only
skips calls whose answer is known:

- A view is reused while its `ViewInputs` (every argument `build_view` gets, the clock aside)
  are equal and `view.changes_at` (the serving votes' window) has not come.
- A group decided None on a view is not decided again on that same view (identity) until
  `decide.revisit_at` (cooldown, flap window, back-offs, failure memory, the serving round);
  a group with an action, or with a drill request, is decided every tick, as before: its
  action is dispatched every tick, with the reason of that instant.
- When no source changed (`Sources`: each the same object, or equal) and no such time has
  come, the whole tick's views are the last ones, with no per-group work at all. The ports'
  answers are taken as values: a source that changes returns a new object (the observation
  snapshot, the ENI looks, readiness do), never the same one changed in place.

Level-triggered behaviour is kept: a change in the cloud is a new ENI read (a new input), and
a failed guess here costs a rebuild, never a missed decision. A wall clock that steps back
forgets everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from failover.config import GroupConfig
from failover.engine.actions import Action
from failover.engine.decide import Snapshot, decide_group, decide_with, revisit_at
from failover.engine.ledger import Recalled
from failover.engine.view import EniSeen, GroupView, build_view, changes_at
from failover.records import DrillRequest, Observation

INF = float("inf")


@dataclass(frozen=True)
class ViewInputs:
    """One group's inputs to its view (what `build_view` gets besides the clock)."""

    config: GroupConfig
    held: Recalled
    observations: Mapping[str, Mapping[str, Observation]]
    live: int
    # The ENI as the view shows it, compared without its read's time: the leader reads every
    # ENI each second, and a read that saw the same is no new input (freshness against our
    # last move is settled before: `Sources.inputs`; a reused view keeps the earlier read).
    eni: EniSeen | None = field(compare=False)
    look: tuple[object, ...] | None
    ready: Mapping[str, bool]
    paused: float | None  # since when (the gauge shows it); None: not paused
    ready_stale: bool

    def build(self, now: float) -> GroupView:
        held = self.held
        return build_view(self.config, held.state, self.observations, self.live, eni=self.eni,
                          ready=self.ready, unfinished=held.unfinished, running=held.running,
                          releasing=held.releasing, paused=self.paused is not None, now=now,
                          ready_stale=self.ready_stale)


@dataclass(frozen=True, eq=False)
class Sources:
    """What a tick's views are built from, read at its start (the ledger's version before any
    of its groups: a change meanwhile only makes the next tick look again)."""

    groups: Sequence[GroupConfig]
    left_out: tuple[str, ...]  # groups whose state cannot be known: no view
    ledger_version: int
    office_at: float  # monotonic: a readiness answer read before is stale
    observations: Mapping[str, Mapping[str, Mapping[str, Observation]]]
    live: int
    readiness: Mapping[str, Mapping[str, bool]]
    read_at: Mapping[str, float] | None  # group -> when its readiness was read (None: fresh)
    seen: Mapping[str, EniSeen]  # ENI id -> the last look
    paused: Mapping[str, float]  # group -> since when

    def same(self, other: Sources | None) -> bool:
        """Each source the same object, or equal."""
        if other is None:
            return False
        # vars(): the fields in order (this dataclass has no slots), without `fields()`' cost.
        return all(x is y or x == y for x, y in
                   zip(vars(self).values(), vars(other).values(), strict=True))

    def inputs(self, recall: Callable[[str], Recalled]) -> Iterator[ViewInputs]:
        for group in self.groups:
            if group.name in self.left_out:
                continue
            held = recall(group.name)
            eni = self.seen.get(group.network_interface)
            if eni is not None and held.fresh_after is not None and eni.at < held.fresh_after:
                eni = None  # read before our last move or our taking office: wait for a newer one
            stale = self.read_at is not None and self.read_at.get(group.name, 0.0) < self.office_at
            look = None if eni is None else (eni.status, eni.instance, eni.error, eni.ips)
            yield ViewInputs(group, held, self.observations.get(group.name, {}), self.live, eni, look,
                             self.readiness.get(group.name, {}), self.paused.get(group.name), stale)


@dataclass(frozen=True)
class _Built:
    inputs: ViewInputs
    view: GroupView
    until: float  # wall clock: rebuilt from then on even with the same inputs


class TickMemo:
    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Build and decide everything afresh at the next tick (a new term of office)."""
        self._built: dict[str, _Built] = {}
        self._sources: Sources | None = None
        self._views: tuple[GroupView, ...] = ()
        self._views_until = INF
        self._at = -INF  # wall clock of the last tick: a step back forgets everything
        # Decisions: group -> (the view decided None on, until when that answer holds).
        self._none: dict[str, tuple[GroupView, float]] = {}
        self._decided: tuple[GroupView, ...] | None = None
        self._none_until = INF
        self._acting: list[GroupView] = []  # groups with an action last time: decided every tick

    def views(self, sources: Sources, now: float,
              recall: Callable[[str], Recalled]) -> tuple[tuple[GroupView, ...], list[GroupView]]:
        """Every group's view, and those (re)built this tick. The groups are gone through only
        when a source changed or a view's time came."""
        if now < self._at:
            self.forget()
        self._at = now
        if now < self._views_until and sources.same(self._sources):
            return self._views, []
        built: dict[str, _Built] = {}
        views: list[GroupView] = []
        fresh: list[GroupView] = []
        until = INF
        for given in sources.inputs(recall):
            name = given.config.name
            old = self._built.get(name)
            if old is None or now >= old.until or old.inputs != given:
                view = given.build(now)
                old = _Built(given, view, changes_at(view, now))
                fresh.append(view)
            built[name] = old
            views.append(old.view)
            until = min(until, old.until)
        self._built, self._sources, self._views_until = built, sources, until
        self._views = tuple(views)
        return self._views, fresh

    def decide(self, snapshot: Snapshot) -> list[Action]:
        """`decide(snapshot)`, skipping groups whose last answer on the same view still holds."""
        now = snapshot.now
        if snapshot.groups is self._decided and not snapshot.requests and now < self._none_until:
            return [a for v in self._acting if (a := decide_group(v, now, [])) is not None]
        self._acting, self._none_until = [], INF
        actions = decide_with(snapshot, self._one)
        self._decided = snapshot.groups
        return actions

    def _one(self, view: GroupView, now: float, requests: list[DrillRequest]) -> Action | None:
        if not requests:
            last = self._none.get(view.name)
            if last is not None and last[0] is view and now < last[1]:
                self._none_until = min(self._none_until, last[1])
                return None
        action = decide_group(view, now, requests)
        if action is None and not requests:
            until = revisit_at(view, now)
            self._none[view.name] = (view, until)
            self._none_until = min(self._none_until, until)
        else:
            self._none.pop(view.name, None)
            self._acting.append(view)
        return action
